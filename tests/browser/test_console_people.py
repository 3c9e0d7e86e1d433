"""Who asked, in the agent console (headless Chromium, the real app): the requester card on a ticket (name,
department, organisation, VIP, channels, earlier tickets from other channels), names instead of ids in the queue,
people search and a person's page with every ticket."""

from __future__ import annotations

import re

import httpx
import pytest

from people.directory import import_csv
from tests.support.browser import browser, expect, new_page, sign_in  # noqa: F401  (fixtures; skips without Chromium)
from tests.support.live import ChatUser, make_agent, running_app
from tickets import conversations, service

DIRECTORY = """email,name,department,organisation,phone,telegram_id,slack_id,language,vip
marta@acme.example,Marta Kowalska,Finance,Acme,+48 600 100 200,9001,,en,yes
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("people-console")
    with running_app(f"sqlite:///{folder / 'firstline.db'}", folder) as (base, rt):
        with rt.sessions.begin() as s:
            assert not import_csv(s, DIRECTORY).failed
            # Marta wrote from Telegram last week (an SMS-era ticket would look the same).
            conv = conversations.get_or_start_conversation(s, "telegram", "9001", user_name="Marta")
            earlier = service.open_ticket(s, conv, reason="user_request", question="Excel crashes", bot_tried=[])
            earlier_number = earlier.id
        token = make_agent(rt, "rita", "l1")["Authorization"].split(" ", 1)[1]
        yield base, rt, token, earlier_number


def test_the_requester_card_names_them_and_shows_their_other_channels(app, new_page):
    base, _, token, earlier = app
    with httpx.Client(base_url=base, timeout=30) as http:
        # Now she phones the desk: the agent registers the call with her callback number, which finds her.
        r = http.post(
            "/api/v1/calls",
            json={"caller": "Marta", "callback_number": "+48 600 100 200", "summary": "Printer jam on floor 2"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        number = r.json()["ticket"]["number"]
        ChatUser(http, "web-someone").send("talk to a human", action="human")
    page = new_page()
    sign_in(page, base, "rita", token)
    item = page.locator(f".q-item[data-number='{number}']")
    expect(item).to_contain_text("Marta Kowalska")  # the queue names people
    item.get_by_role("link").click()
    card = page.locator("#t-requester")
    expect(card).to_contain_text("Marta Kowalska")
    expect(card).to_contain_text("VIP")
    expect(card).to_contain_text("Finance")
    expect(card).to_contain_text("Acme")
    expect(card).to_contain_text("Telegram: 9001")
    expect(card.locator("#t-earlier")).to_contain_text(f"#{earlier} Excel crashes")
    card.get_by_role("link", name="Tickets from every channel").click()
    expect(page.get_by_role("heading", name="Marta Kowalska")).to_be_visible()
    expect(page.locator("#t-requester")).to_contain_text(f"#{number}")
    expect(page.locator("#t-requester")).to_contain_text(f"#{earlier}")

    page.get_by_role("navigation").get_by_role("link", name="People").click()
    expect(page.locator("#people-list li")).to_have_count(2)  # everyone: Marta and the anonymous web user
    page.get_by_label(re.compile("Find a person")).fill("600 100")  # her number, typed as people type it
    expect(page.locator("#people-list li")).to_have_count(1)
    expect(page.locator("#people-list")).to_contain_text("Marta Kowalska")
    page.get_by_label(re.compile("Find a person")).fill("nobody-like-this")
    expect(page.locator("#people-list li")).to_have_count(0)
