"""The employee's web chat page in headless Chromium: "did you mean" choices are buttons with the articles' titles,
and picking one shows that article with the usual feedback buttons."""

from __future__ import annotations

import re

import pytest

from tests.support.browser import browser, expect, new_page  # noqa: F401  (fixtures; skips without Chromium)
from tests.support.live import running_app


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chat-page")
    with running_app(f"sqlite:///{folder / 'firstline.db'}", folder) as (base, runtime):
        yield base, runtime


def test_competing_articles_are_buttons_and_the_pick_is_answered(app, new_page):
    base, _ = app
    page = new_page()
    page.goto(f"{base}/")
    page.locator("#text").fill("how to connect to vpn from home")
    page.locator("#text").press("Enter")
    choice = page.get_by_role("button", name=re.compile(r"How do I connect to the VPN \(GlobalProtect\)"))
    expect(choice).to_be_visible()
    expect(page.get_by_role("button", name="Talk to a human")).to_be_visible()
    choice.click()
    expect(page.locator(".msg.bot").last).to_contain_text("GlobalProtect")
    expect(page.locator(".msg.bot").last.get_by_role("button", name="Helped")).to_be_visible()
    expect(choice).to_be_disabled()  # a used set of choices can't be pressed again


def test_an_anonymous_user_says_who_they_are_and_the_agent_sees_it(app, new_page):
    import httpx

    from tests.support.live import make_agent

    base, runtime = app
    page = new_page()
    page.goto(f"{base}/")
    expect(page.get_by_text("who are you?")).to_be_visible()
    page.get_by_label("Name").fill("Pyotr Sidorov")
    page.get_by_label("Work e-mail").fill("pyotr@acme.example")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#intro")).to_be_hidden()
    page.locator("#text").fill("I need a person please")
    page.locator("#text").press("Enter")
    expect(page.locator("#state")).to_contain_text("Ticket #")
    number = int(re.search(r"#(\d+)", page.locator("#state").inner_text()).group(1))
    with httpx.Client(base_url=base, timeout=30) as http:
        who = http.get(f"/api/v1/tickets/{number}", headers=make_agent(runtime, "intro-agent")).json()["requester"]
    assert who["name"] == "Pyotr Sidorov" and who["claimed_email"] == "pyotr@acme.example"
    assert who["email"] is None and who["provisional"]  # typed, not verified
    page.reload()
    expect(page.locator("#intro")).to_be_hidden()  # asked once per browser
