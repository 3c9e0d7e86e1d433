"""People across channels, end to end: a directory import, then the real Telegram channel (aiogram against a fake
Bot API on 127.0.0.1), real e-mail (smtplib → our SMTP listener → a capturing relay) and the web chat, on SQLite and
PostgreSQL. What is asserted is what an agent sees: who asked, from which organisation, and one history per person."""

from __future__ import annotations

import re
import smtplib
import time
from email.message import EmailMessage
from types import SimpleNamespace

import httpx
import pytest
from aiosmtpd.controller import Controller

from people.directory import import_csv
from people.models import Person
from tests.support.fakes.telegram_api import FakeTelegram, TgUser
from tests.support.live import ChatUser, free_port, make_agent, running_app
from tests.support.mail import Capture
from tickets.agents import create_agent

TOKEN = "515151:TEST-people-token"
AGENTS = -1005151515151  # the agents' forum group
SUPPORT, HELPDESK = "support@corp.test", "helpdesk@corp.test"
DIRECTORY = """email,name,department,organisation,phone,telegram_id,slack_id,language,vip
alice@acme.example,Alice Ivanova,Sales,Acme,+7 (495) 123-45-67,7001,,ru,no
carol@globex.example,Carol Smith,Finance,Globex,,,,en,yes
"""


@pytest.fixture(scope="module")
def desk(module_db_url, tmp_path_factory, embedder):
    fake = FakeTelegram(TOKEN)
    fake.add_group(AGENTS, forum=True)
    capture = Capture()
    relay = Controller(capture, hostname="127.0.0.1", port=free_port())
    relay.start()
    listen = free_port()
    try:
        with (
            fake.running(),
            running_app(
                module_db_url,
                tmp_path_factory.mktemp("data"),
                telegram_bot_token=TOKEN,
                telegram_api_base=fake.base_url,
                telegram_agents_chat_id=AGENTS,
                smtp_listen=f"127.0.0.1:{listen}",
                smtp_relay=f"127.0.0.1:{relay.port}",
                email_addresses=f"{SUPPORT}=bot,{HELPDESK}=ticket",
            ) as (base, rt),
        ):
            with rt.sessions.begin() as s:
                report = import_csv(s, DIRECTORY)
            assert report.added == 2 and not report.failed
            fake.wait(lambda: any(c["method"] == "getUpdates" for c in fake.calls), what="long polling")
            with httpx.Client(base_url=base, timeout=30) as http:
                agent = make_agent(rt, "people-agent")
                yield SimpleNamespace(fake=fake, rt=rt, http=http, agent=agent, capture=capture, smtp=listen)
    finally:
        relay.stop()


def mail(port: int, sender: str, to: str, subject: str, body: str) -> None:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, to, subject
    m["Message-ID"] = f"<{time.time_ns()}@{sender.split('@')[1]}>"
    m.set_content(body)
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.send_message(m)


def wait_for(fn, what: str, timeout: float = 30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = fn()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def people(d, q: str) -> list[dict]:
    r = d.http.get("/api/v1/people", params={"q": q}, headers=d.agent)
    r.raise_for_status()
    return r.json()


def test_a_directory_telegram_user_then_email_is_one_person_the_agent_can_name(desk):
    d = desk
    alice = TgUser(d.fake, 7001, "Alisa")
    mark = d.fake.mark()
    alice.say("/human")
    [handoff] = d.fake.wait_sent(alice.id, mark)
    first = int(re.search(r"#(\d+)", handoff["text"]).group(1))

    ticket = d.http.get(f"/api/v1/tickets/{first}", headers=d.agent).json()
    who = ticket["requester"]
    assert (who["name"], who["email"], who["organisation"]) == ("Alice Ivanova", "alice@acme.example", "Acme")
    assert who["department"] == "Sales" and who["ref"] == "7001" and not who["provisional"]
    assert {(i["kind"], i["ref"]) for i in who["identities"]} >= {("telegram", "7001"), ("email", "alice@acme.example")}
    # The agents' Telegram group names her as the directory does, with her organisation.
    [notice] = d.fake.wait_sent(AGENTS, 0, match=lambda r: f"Ticket #{first}" in r["text"])
    assert "Alice Ivanova (Acme)" in notice["text"]

    # The same person writes to the helpdesk address (opens a ticket at once), with her address in another case.
    mail(d.smtp, "Alice Ivanova <Alice@ACME.example>", HELPDESK, "Printer on 3rd floor jams", "It jams again.")
    found = wait_for(lambda: [p for p in people(d, "alice@acme") if len(p["tickets"]) == 2], "the e-mailed ticket")
    [person] = found
    numbers = [t["number"] for t in person["tickets"]]
    assert first in numbers and {t["channel"] for t in person["tickets"]} == {"telegram", "email"}
    second = max(numbers)
    detail = d.http.get(f"/api/v1/tickets/{second}", headers=d.agent).json()
    assert detail["requester"]["person_id"] == person["id"] and detail["requester"]["name"] == "Alice Ivanova"
    assert [t["number"] for t in detail["requester"]["tickets"]] == [first]  # her earlier ticket, other channel
    # The queue shows names too.
    queue = d.http.get("/api/v1/tickets", headers=d.agent).json()
    assert {t["number"]: t["requester"]["name"] for t in queue}[first] == "Alice Ivanova"


def test_an_unknown_sender_is_kept_as_a_provisional_person_and_links_with_a_code(desk):
    d = desk
    stranger = TgUser(d.fake, 7999, "Karl")
    mark = d.fake.mark()
    stranger.say("/human")
    [handoff] = d.fake.wait_sent(stranger.id, mark)
    number = int(re.search(r"#(\d+)", handoff["text"]).group(1))
    ticket = d.http.get(f"/api/v1/tickets/{number}", headers=d.agent).json()
    assert ticket["requester"]["provisional"] and ticket["requester"]["name"] == "Karl"
    assert ticket["requester"]["email"] is None  # nobody vouched for an address

    # /link in Telegram gives a code; Karl (Carol's colleague? no: Carol herself) sends it from her work address.
    mark = d.fake.mark()
    stranger.say("/link")
    [reply] = d.fake.wait_sent(stranger.id, mark)
    code = re.search(r"\b([A-Z0-9]{4}-[A-Z0-9]{4})\b", reply["text"]).group(1)
    since = len(d.capture.mails)
    mail(d.smtp, "carol@globex.example", SUPPORT, "link", f"/link {code}\n\n--\nCarol")
    answer = d.capture.first_to("carol@globex.example", since)
    assert "linked" in answer.get_body(("plain",)).get_content()

    [carol] = people(d, "carol@globex")
    assert ("telegram", "7999") in {(i["kind"], i["ref"]) for i in carol["identities"]}
    assert number in [t["number"] for t in carol["tickets"]]  # the Telegram ticket is in her history now
    assert carol["organisation"] == "Globex" and carol["vip"] and not carol["provisional"]
    with d.rt.read_sessions() as s:  # the provisional Karl was merged away, not left behind
        assert s.query(Person).filter(Person.name == "Karl").count() == 0

    # The code worked once.
    mark = d.fake.mark()
    stranger.say(f"/link {code}")
    [again] = d.fake.wait_sent(stranger.id, mark)
    assert "wrong, already used or expired" in again["text"]


def test_a_code_mailed_to_the_directory_address_links_a_telegram_account(desk):
    d = desk
    newcomer = TgUser(d.fake, 7555, "Al")
    mark = d.fake.mark()
    newcomer.say("/human")
    [handoff] = d.fake.wait_sent(newcomer.id, mark)
    number = int(re.search(r"#(\d+)", handoff["text"]).group(1))
    since = len(d.capture.mails)
    mark = d.fake.mark()
    newcomer.say("/link alice@acme.example")
    [reply] = d.fake.wait_sent(newcomer.id, mark)
    assert "a code is on its way" in reply["text"]
    code_mail = d.capture.first_to("alice@acme.example", since)
    code = re.search(r"\b([A-Z0-9]{4}-[A-Z0-9]{4})\b", code_mail.get_body(("plain",)).get_content()).group(1)
    # An address nobody in the directory has gets the same answer and no mail.
    mark = d.fake.mark()
    newcomer.say("/link stranger@nowhere.example")
    [same] = d.fake.wait_sent(newcomer.id, mark)
    assert same["text"] == reply["text"]
    mark = d.fake.mark()
    newcomer.say(f"/link {code}")
    [done] = d.fake.wait_sent(newcomer.id, mark)
    assert "linked" in done["text"]
    [alice] = people(d, "alice@acme")
    assert ("telegram", "7555") in {(i["kind"], i["ref"]) for i in alice["identities"]}
    assert number in [t["number"] for t in alice["tickets"]]
    assert not [m for m in d.capture.mails[since:] if m["To"] == "stranger@nowhere.example"]


def test_a_typed_address_never_opens_someone_elses_history(desk):
    d = desk
    chat = ChatUser(d.http, "web-impostor")
    r = chat.send("talk to a human", action="human", name="Mallory", email="alice@acme.example")
    assert r.status_code == 200, r.text
    ticket = d.http.get(f"/api/v1/tickets/{r.json()['ticket']}", headers=d.agent).json()
    who = ticket["requester"]
    assert who["name"] == "Mallory" and who["email"] is None and who["claimed_email"] == "alice@acme.example"
    assert who["provisional"] and who["person_id"] != people(d, "alice@acme")[0]["id"]
    mine = d.http.get("/api/v1/chat/tickets", params={"user": "web-impostor"}, headers=chat.headers).json()
    assert [t["number"] for t in mine] == [r.json()["ticket"]]  # only the impostor's own ticket
    bad = chat.send("hello", email="not an address")
    assert bad.status_code == 422 and "e-mail" in bad.json()["message"]


def test_an_agent_links_and_merges_people_by_hand(desk):
    d = desk
    a = ChatUser(d.http, "web-merge-a")
    a.send("talk to a human", action="human", name="Dmitry")
    b = ChatUser(d.http, "web-merge-b")
    b.send("talk to a human", action="human", name="Dima")
    [pa] = [p for p in people(d, "web-merge-a")]
    [pb] = [p for p in people(d, "web-merge-b")]
    merged = d.http.post(f"/api/v1/people/{pa['id']}/merge", json={"other_id": pb["id"]}, headers=d.agent)
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert {i["ref"] for i in body["identities"] if i["kind"] == "web"} == {"web-merge-a", "web-merge-b"}
    assert len(body["tickets"]) == 2
    assert d.http.get(f"/api/v1/people/{pb['id']}", headers=d.agent).status_code == 404
    # Both chats now list both tickets (one person, seen from either identity).
    assert len(d.http.get("/api/v1/chat/tickets", params={"user": "web-merge-b"}, headers=b.headers).json()) == 2

    # Linking an identity a directory person holds is refused: that is a merge an agent decides.
    clash = d.http.post(
        f"/api/v1/people/{pa['id']}/identities", json={"kind": "telegram", "ref": "7001"}, headers=d.agent
    )
    assert clash.status_code == 409 and "merge" in clash.json()["message"]
    phone = d.http.post(
        f"/api/v1/people/{pa['id']}/identities", json={"kind": "phone", "ref": "+7 (916) 000-11-22"}, headers=d.agent
    )
    assert phone.status_code == 200 and ("phone", "+79160001122") in {
        (i["kind"], i["ref"]) for i in phone.json()["identities"]
    }
    # An SMS-style search by the number finds them.
    assert [p["id"] for p in people(d, "+7916000")] == [pa["id"]]


def test_a_client_manager_sees_only_their_organisation(desk):
    d = desk
    manager = make_agent(d.rt, "people-boss", "manager")
    orgs = {o["name"]: o for o in d.http.get("/api/v1/organisations", headers=manager).json()}
    with d.rt.sessions.begin() as s:
        token = create_agent(s, "acme-cm", "client_manager", organisation_id=orgs["Acme"]["id"])
    cm = {"Authorization": f"Bearer {token}"}
    queue = d.http.get("/api/v1/tickets", headers=cm).json()
    assert queue and {t["requester"]["organisation"] for t in queue} == {"Acme"}
    everyone = d.http.get("/api/v1/tickets", headers=d.agent).json()
    other = next(t for t in everyone if t["requester"]["organisation"] != "Acme")
    assert d.http.get(f"/api/v1/tickets/{other['number']}", headers=cm).status_code == 404
    assert d.http.get(f"/api/v1/tickets/{queue[0]['number']}", headers=cm).status_code == 200
    # Reports: their organisation's numbers, whatever they ask for; another organisation is refused.
    mine = d.http.get("/api/v1/reports/summary", params={"period": "year"}, headers=cm).json()
    assert mine["organisation_id"] == orgs["Acme"]["id"] and mine["tickets"]["opened"] == len(queue)
    refused = d.http.get("/api/v1/reports/summary", params={"organisation": "Globex"}, headers=cm)
    assert refused.status_code == 403
    # A manager filters by name or id; the whole desk has more.
    by_name = d.http.get("/api/v1/reports/summary", params={"period": "year", "organisation": "acme"}, headers=manager)
    assert by_name.json()["tickets"]["opened"] == len(queue)
    whole = d.http.get("/api/v1/reports/summary", params={"period": "year"}, headers=manager).json()
    assert whole["tickets"]["opened"] > len(queue)
    # Working tickets is staff's: a client manager cannot claim, reply or search people outside their org.
    assert d.http.post(f"/api/v1/tickets/{queue[0]['number']}/claim", headers=cm).status_code == 403
    assert [p["organisation"] for p in d.http.get("/api/v1/people", headers=cm).json()] == ["Acme"]
