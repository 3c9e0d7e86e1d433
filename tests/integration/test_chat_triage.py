"""What the bot does with messages that are not questions (SQLite and PostgreSQL, the real app and model): nothing
to read asks for one line first (a user who insists gets a person), "/human <text>" is a ticket about <text>, and a
safety hazard (smoke, fire, a leak, a shock) gets advice first and a person at once, at critical priority."""

from __future__ import annotations

import httpx
import pytest

from tests.support.live import ChatUser, make_agent, running_app


@pytest.fixture(scope="module")
def desk(module_db_url, tmp_path_factory, embedder):
    with running_app(module_db_url, tmp_path_factory.mktemp("triage")) as (base, rt):
        with httpx.Client(base_url=base, timeout=30) as http:
            yield http, make_agent(rt, "triage-agent")


def test_nothing_to_read_asks_for_a_line_and_insisting_gets_a_person(desk):
    http, agent = desk
    user = ChatUser(http, "web-emoji")
    first = user.send("🔥🔥🔥").json()
    assert first["ticket"] is None and first["state"] == "bot"
    assert first["replies"][0]["kind"] == "describe" and "one line" in first["replies"][0]["text"]
    again = user.send("😡").json()
    assert again["ticket"] and again["state"] == "waiting_for_agent"  # asked once; now a person


def test_human_with_a_description_is_a_ticket_about_it(desk):
    http, agent = desk
    user = ChatUser(http, "web-slash-human")
    r = user.send("/human my keyboard types wrong letters").json()
    assert r["ticket"]
    ticket = http.get(f"/api/v1/tickets/{r['ticket']}", headers=agent).json()
    assert ticket["subject"] == "my keyboard types wrong letters" and ticket["handoff_reason"] == "user_request"


@pytest.mark.parametrize(
    ("text", "advice"),
    [("my monitor smells of smoke", "keep away from the device"), ("из системного блока идёт дым", "отойдите")],
)
def test_a_safety_hazard_gets_advice_first_and_a_person_at_critical_priority(desk, text, advice):
    http, agent = desk
    user = ChatUser(http, f"web-safety-{len(text)}")
    r = user.send(text).json()
    kinds = [rep["kind"] for rep in r["replies"]]
    assert kinds == ["safety", "handoff"] and advice in r["replies"][0]["text"]
    ticket = http.get(f"/api/v1/tickets/{r['ticket']}", headers=agent).json()
    assert ticket["priority"] == "critical" and ticket["handoff_reason"] == "safety"
    assert ticket["first_response_due_at"]  # the critical (24x7) policy's clock runs


def test_asking_for_a_person_first_opens_a_ticket_the_next_words_describe(desk):
    http, agent = desk
    user = ChatUser(http, "web-bare-human")
    r = user.send("/human").json()
    assert r["ticket"] and r["state"] == "waiting_for_agent"  # a person at once...
    assert "one line" in r["replies"][-1]["text"]  # ...and a request to say what is wrong
    ticket = http.get(f"/api/v1/tickets/{r['ticket']}", headers=agent).json()
    assert ticket["subject"] == "(no description yet)"
    user.send("Outlook asks for my password every five minutes")
    ticket = http.get(f"/api/v1/tickets/{r['ticket']}", headers=agent).json()
    assert ticket["subject"] == "Outlook asks for my password every five minutes"
    user.send("it started after the update")  # only the first description names the ticket
    assert http.get(f"/api/v1/tickets/{r['ticket']}", headers=agent).json()["subject"].startswith("Outlook")
