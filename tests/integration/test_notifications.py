"""Ticket notifications (issue 8): every status change reaches the user in their channel exactly once and in
their language; staff get escalations, SLA warnings/breaches, status changes and the daily digest per their
preferences on their linked Telegram / Slack accounts; failures are retried and never block the change.

Domain rules run on the real service and escalation code against SQLite and PostgreSQL; delivery runs the
real outbox dispatcher and senders against the fake Telegram / Slack servers and a local webhook receiver.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import threading
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import httpx
import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.desk import Desk
from bot.outbox import OutboxDispatcher
from bot.slack.sender import SlackSender
from bot.webhook_sender import WebhookSender
from tests.support.fakes.slack_api import running_fake_slack
from tests.support.fakes.telegram_api import FakeTelegram, TgUser
from tests.support.live import ChatUser, make_agent, running_app
from tickets import conversations, escalation, notifications, routing, service
from tickets.agents import create_agent, link_accounts
from tickets.errors import Invalid
from tickets.models import Agent, Conversation, Message, OutboxItem, Ticket, TicketEvent
from tickets.notification_texts import STAFF, USER
from tickets.ops_models import NotificationPreference


# -- helpers ------------------------------------------------------------------------------------------
def agent(s, name: str, role: str = "l1", *, telegram: str | None = None, slack: str | None = None, **prefs) -> Agent:
    create_agent(s, name, role)
    a = link_accounts(s, name, telegram_user_id=telegram, slack_user_id=slack)
    if prefs:
        notifications.save_preferences(s, a.id, **prefs)
    return a


def by_name(s, name: str) -> Agent:
    return s.scalar(select(Agent).where(Agent.name == name))


def new_ticket(
    s,
    user: str = "1001",
    channel: str = "telegram",
    lang: str = "en",
    question: str = "The VPN drops every five minutes",
) -> int:
    conv = conversations.get_or_start_conversation(s, channel, user, lang=lang)
    conversations.add_message(s, conv, "user", question)
    return service.open_ticket(s, conv, reason="user_request", question=question, bot_tried=[]).id


def user_notices(s, number: int) -> list[Message]:
    ticket = s.get(Ticket, number)
    return list(
        s.scalars(
            select(Message)
            .where(Message.conversation_id == ticket.conversation_id, Message.author == "system")
            .order_by(Message.id)
        )
    )


def staff_items(s, **match) -> list[OutboxItem]:
    q = select(OutboxItem).where(OutboxItem.audience == "staff")
    for k, v in match.items():
        q = q.where(getattr(OutboxItem, k) == v)
    return list(s.scalars(q.order_by(OutboxItem.id)))


def recipients(s, event: str) -> set[tuple[str, str]]:
    return {(s.get(Agent, i.agent_id).name, i.channel) for i in staff_items(s, event=event)}


# -- the user's side: each change told once, in their language ----------------------------------------
def test_each_status_change_reaches_the_user_once(sessions):
    desk = Desk()
    with sessions.begin() as s:
        agent(s, "lena")
        agent(s, "igor", "l2")
        number = new_ticket(s)
    with sessions.begin() as s:
        desk.claim(s, number, by_name(s, "lena"))
        desk.reply(s, number, by_name(s, "lena"), "Which office are you in?")
    with sessions.begin() as s:  # the user answers: the ticket reopens silently
        conv = s.get(Conversation, s.get(Ticket, number).conversation_id)
        msg = conversations.add_message(s, conv, "user", "Berlin")
        service.user_message_on_ticket(s, conv, msg)
    with sessions.begin() as s:
        escalation.escalate(s, number, by_name(s, "lena"), note="Tunnel drops; logs attached")
    with sessions.begin() as s:  # L2 answers straight from the queue
        escalation.return_to_sender(s, number, by_name(s, "igor"), "MTU fixed on the Berlin gateway")
    with sessions.begin() as s:
        desk.resolve(s, number, by_name(s, "lena"), "The gateway's MTU was fixed")

    with sessions() as s:
        notices = user_notices(s, number)
        assert [m.payload["kind"] for m in notices] == ["agent_joined", "escalated", "returned", "resolved"]
        escalated = notices[1]
        assert escalated.text == (
            f"Ticket #{number} needs our second-line engineers, so I've passed it on. You keep "
            f"your place: they will continue right here, no need to write again."
        )
        assert escalated.payload["line"] == "L2" and escalated.payload["escalation_id"]
        assert notices[2].text.startswith(f"The engineers have finished their part of ticket #{number}")
        # Telegram is a push channel: each notice was queued for delivery once.
        pushed = [i.message_id for i in s.scalars(select(OutboxItem).where(OutboxItem.audience == "user"))]
        assert sorted(set(pushed) & {m.id for m in notices}) == sorted(m.id for m in notices)
        assert len(pushed) == len(set(pushed))


def test_return_after_the_next_line_took_the_ticket_is_told_once(sessions):
    """The next line took the ticket (open) and answers: no status changes (open → open), yet the user hears
    that the service desk continues, and the agent it goes back to gets the answer."""
    desk = Desk()
    with sessions.begin() as s:
        agent(s, "lena", telegram="501")
        agent(s, "igor", "l2", telegram="601")
        number = new_ticket(s)
    with sessions.begin() as s:
        desk.claim(s, number, by_name(s, "lena"))
        escalation.escalate(s, number, by_name(s, "lena"), note="Tunnel drops")
    with sessions.begin() as s:
        desk.claim(s, number, by_name(s, "igor"))
        escalation.return_to_sender(s, number, by_name(s, "igor"), "MTU fixed on the Berlin gateway")
    with sessions() as s:
        assert [m.payload["kind"] for m in user_notices(s, number)] == [
            "agent_joined",
            "escalated",
            "agent_joined",
            "returned",
        ]
        [back] = staff_items(s, event="escalation_returned")
        assert back.agent_id == by_name(s, "lena").id
        assert back.payload["text"] == (
            f"↩️ #{number} “The VPN drops every five minutes” is back with you from L2. "
            f"igor: MTU fixed on the Berlin gateway"
        )


def test_hand_back_and_system_changes_in_russian(sessions):
    desk = Desk()
    with sessions.begin() as s:
        agent(s, "lena")
        routing.create_group(s, "network", "Сетевая группа")
        handed = new_ticket(s, "2001", lang="ru")
        other = new_ticket(s, "2002", channel="web", lang="ru")
    with sessions.begin() as s:
        desk.claim(s, handed, by_name(s, "lena"))
        desk.hand_back(s, handed, by_name(s, "lena"))
        escalation.escalate(s, other, None, group="network", kind="functional")
    with sessions.begin() as s:
        ticket = s.get(Ticket, other)
        ticket.resolution = "Порт коммутатора заменён"
        service.set_status(s, ticket, "resolved", "system")
    with sessions.begin() as s:
        service.set_status(s, s.get(Ticket, other), "open", "agent:1")
    with sessions.begin() as s:
        ticket = s.get(Ticket, other)
        service.set_status(s, ticket, "resolved", "system")
        service.set_status(s, ticket, "closed", "system")
    with sessions() as s:
        assert [m.payload["kind"] for m in user_notices(s, handed)] == ["agent_joined", "handed_back"]
        texts = [m.text for m in user_notices(s, other)]
        assert texts == [
            f"Для заявки №{other} нужны специалисты группы «Сетевая группа», поэтому я передал её дальше. Ваша "
            f"очередь сохраняется: ответ придёт сюда же, писать заново не нужно.",
            f"Заявка №{other} решена: Порт коммутатора заменён\nЕсли понадобится что-то ещё — просто напишите, "
            f"я снова на связи.",
            f"Заявка №{other} снова открыта: служба поддержки ответит вам здесь.",
            f"Заявка №{other} решена: Порт коммутатора заменён\nЕсли понадобится что-то ещё — просто напишите, "
            f"я снова на связи.",
            f"Заявка №{other} закрыта. Если проблема вернётся, просто напишите здесь.",
        ]
        # The web chat reads its transcript: nothing is pushed for it.
        assert not s.scalars(select(OutboxItem).where(OutboxItem.audience == "user", OutboxItem.channel == "web")).all()


def test_every_template_exists_in_both_languages():
    assert set(USER["en"]) == set(USER["ru"]) and set(STAFF["en"]) == set(STAFF["ru"])
    for table in (USER, STAFF):
        for key, en in table["en"].items():
            fields = lambda text: sorted(part.split("}")[0] for part in text.split("{")[1:])
            assert fields(en) == fields(table["ru"][key]), key


# -- staff: who is told, on which account ---------------------------------------------------------------
def test_escalation_reaches_managers_and_the_target_line_per_preferences(sessions):
    with sessions.begin() as s:
        agent(s, "lena", telegram="501")
        agent(s, "boss", "manager", telegram="900")
        agent(s, "chief", "manager", telegram="901", slack="UCHIEF", channels=["slack"])
        agent(s, "quiet", "manager", telegram="902", escalations=False)
        agent(s, "offline", "manager")  # no linked account: their console shows the ticket
        agent(s, "igor", "l2", telegram="601")
        agent(s, "l2_unlinked", "l2")
        agent(s, "nina", "l2", slack="UNINA")
        agent(s, "net", "l2", telegram="701")
        routing.create_group(s, "network", "Network")
        routing.add_member(s, "network", by_name(s, "net").id)
        first = new_ticket(s)
        second = new_ticket(s, "1002")
    with sessions.begin() as s:
        Desk().claim(s, first, by_name(s, "lena"))
        escalation.escalate(s, first, by_name(s, "lena"), note="Checked the client config")
    with sessions() as s:
        assert recipients(s, "escalated") == {
            ("boss", "telegram"),
            ("chief", "slack"),
            ("igor", "telegram"),
            ("nina", "slack"),
            ("net", "telegram"),
        }
        item = staff_items(s, event="escalated", agent_id=by_name(s, "boss").id)[0]
        assert item.ticket_id == first and item.payload["lang"] == "en"
        assert item.payload["text"] == (
            f"⬆️ #{first} “The VPN drops every five minutes” escalated L1 → L2 by lena. "
            f"Priority: normal.\nNote: Checked the client config"
        )
        [event] = s.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == first, TicketEvent.action == "notified")
        ).all()
        assert event.detail == {"event": "escalated", "to": ["boss", "chief", "igor", "nina", "net"]}

    with sessions.begin() as s:  # to a group: its members, not the whole line
        escalation.escalate(s, second, None, to_line="L2", group="network", kind="functional")
    with sessions() as s:
        got = {(s.get(Agent, i.agent_id).name, i.channel) for i in staff_items(s, event="escalated", ticket_id=second)}
        assert got == {("boss", "telegram"), ("chief", "slack"), ("net", "telegram")}
        text = staff_items(s, event="escalated", ticket_id=second)[0].payload["text"]
        assert "L1 → L2, group Network by the system (SLA)" in text


def test_sla_events_go_to_the_assignee_or_the_line_and_to_managers(sessions):
    with sessions.begin() as s:
        agent(s, "lena", telegram="501")
        agent(s, "oleg", telegram="502")
        agent(s, "mute", telegram="503", breaches=False)
        agent(s, "boss", "manager", slack="UBOSS")
        agent(s, "calm", "manager", telegram="902", breaches=False)
        held, waiting = new_ticket(s), new_ticket(s, "1002")
        Desk().claim(s, held, by_name(s, "lena"))
        s.get(Ticket, held).resolution_due_at = datetime(2027, 3, 1, 14, 30, tzinfo=timezone.utc)
    with sessions.begin() as s:
        assert notifications.sla_event(s, s.get(Ticket, held), "resolution_breach") == 2
        assert notifications.sla_event(s, s.get(Ticket, waiting), "first_response_risk") == 3
        with pytest.raises(Invalid, match="unknown SLA event"):
            notifications.sla_event(s, s.get(Ticket, held), "resolution_late")
    with sessions() as s:
        assert recipients(s, "sla_resolution_breach") == {("lena", "telegram"), ("boss", "slack")}
        assert recipients(s, "sla_first_response_risk") == {
            ("lena", "telegram"),
            ("oleg", "telegram"),
            ("boss", "slack"),
        }
        [breach] = staff_items(s, event="sla_resolution_breach", channel="slack")
        assert breach.payload["text"] == (
            f"🚨 #{held} “The VPN drops every five minutes”: resolution is overdue "
            f"since 2027-03-01 14:30 UTC (normal, L1, assignee lena)."
        )


def test_status_changes_and_priority_go_to_those_who_asked(sessions):
    desk = Desk()
    with sessions.begin() as s:
        agent(s, "lena", telegram="501", status_changes=True)
        agent(s, "boss", "manager", telegram="900", status_changes=True)
        agent(s, "calm", "manager", telegram="901")  # defaults: no status changes
        number = new_ticket(s)
    with sessions.begin() as s:
        desk.claim(s, number, by_name(s, "lena"))  # lena's own change: only the manager hears
        service.update_ticket(s, number, by_name(s, "boss"), priority="critical")
    with sessions() as s:
        assert recipients(s, "status_changed") == {("boss", "telegram")}
        assert staff_items(s, event="status_changed")[0].payload["text"] == (
            f"🔄 #{number} “The VPN drops every five minutes”: new → open (lena)."
        )
        # A raise to critical also reaches managers who want escalations; the one who changed it is not told.
        assert recipients(s, "priority_changed") == {("lena", "telegram"), ("calm", "telegram")}


def test_preferences_off_queue_nothing(sessions):
    with sessions.begin() as s:
        agent(s, "lena")
        agent(
            s,
            "boss",
            "manager",
            telegram="900",
            slack="UBOSS",
            escalations=False,
            breaches=False,
            status_changes=False,
            daily_digest=False,
        )
        agent(s, "igor", "l2", telegram="601", escalations=False, breaches=False)
        number = new_ticket(s)
    with sessions.begin() as s:
        escalation.escalate(s, number, by_name(s, "lena"))
        notifications.sla_event(s, s.get(Ticket, number), "resolution_breach")
        service.set_status(s, s.get(Ticket, number), "closed", "system")
        assert notifications.daily_digest(s, date.today()) == 0
    with sessions() as s:
        assert staff_items(s) == []
        assert not s.scalars(select(TicketEvent).where(TicketEvent.action == "notified")).all()
        pref = s.get(NotificationPreference, by_name(s, "boss").id)
        assert (pref.escalations, pref.breaches, pref.daily_digest) == (False, False, False)


def test_daily_digest_counts_the_day_once_per_manager(sessions):
    day = datetime.now(timezone.utc).date() - timedelta(days=1)
    at = datetime.combine(day, datetime.min.time(), timezone.utc) + timedelta(hours=10)
    with sessions.begin() as s:
        agent(s, "boss", "manager", telegram="900")
        agent(s, "chief", "manager", slack="UCHIEF", telegram="901", channels=["slack"])
        agent(s, "skip", "manager", telegram="902", daily_digest=False)
        numbers = [new_ticket(s, str(3000 + i)) for i in range(3)]
        for n in numbers:
            s.get(Ticket, n).created_at = at
        s.get(Ticket, numbers[0]).resolved_at = at + timedelta(hours=2)
        s.get(Ticket, numbers[0]).status = "resolved"
        s.get(Ticket, numbers[1]).resolution_breached_at = at + timedelta(hours=5)
        s.get(Ticket, numbers[2]).line = "L2"
        for i, outcome in enumerate(["helped", "helped", "answered", "abandoned"]):
            s.add(
                Conversation(
                    channel="web",
                    user_ref=f"w{i}",
                    lang="en",
                    state="bot",
                    offered=[],
                    outcome=outcome,
                    created_at=at,
                    closed_at=at,
                )
            )
        for conv in s.scalars(select(Conversation).where(Conversation.channel == "telegram")):
            conv.created_at = at  # the three handed-off conversations
    with sessions.begin() as s:
        assert notifications.daily_digest(s, day) == 2
    with sessions.begin() as s:
        assert notifications.daily_digest(s, day) == 0  # a second run the same day adds nothing
    with sessions() as s:
        assert recipients(s, "daily_digest") == {("boss", "telegram"), ("chief", "slack")}
        text = staff_items(s, event="daily_digest")[0].payload["text"]
        assert text == (
            f"📊 Service desk, {day.isoformat()}\nOpened: 3 · resolved: 1 · SLA breaches: 1\n"
            f"Bot deflection: 43% (7 conversations)\nOpen backlog: L1 1 · L2 1 · L3 0"
        )


# -- delivery: retried, never blocking the change -----------------------------------------------------------
class Clock:
    """The dispatcher's clock: real time plus however far a test moved it on."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.ahead


async def test_failing_platform_is_retried_and_the_change_stays(sessions):
    clock = Clock()
    with running_fake_slack() as fake:
        sender = SlackSender(AsyncWebClient(token="xoxb-test", base_url=f"{fake.url}/api/"))
        dispatcher = OutboxDispatcher(sessions, {"slack": sender}, clock=clock)
        with sessions.begin() as s:
            agent(s, "lena")
            agent(s, "boss", "manager", slack="UBOSS")
            number = new_ticket(s, "UUSER", channel="slack")
        fake.fail_next("chat.postMessage", "internal_error", status=500)
        with sessions.begin() as s:
            escalation.escalate(s, number, by_name(s, "lena"), note="needs L2")
        await dispatcher.run_once()
        with sessions() as s:
            assert s.get(Ticket, number).status == "escalated"  # committed whatever Slack said
            items = {i.audience: i for i in s.scalars(select(OutboxItem))}
            # The first post (the user's notice) met the 500 and waits for its retry; the manager's DM,
            # another recipient, was not held up by it.
            assert (items["user"].status, items["user"].attempts) == ("pending", 1)
            assert "internal_error" in items["user"].last_error
            assert (items["staff"].status, items["staff"].attempts) == ("sent", 0)
        clock.ahead += timedelta(seconds=3)  # past the retry's backoff
        await dispatcher.run_once()
        with sessions() as s:
            assert {(i.status, i.attempts) for i in s.scalars(select(OutboxItem))} == {("sent", 1), ("sent", 0)}
        [dm] = fake.of("chat.postMessage", channel="UBOSS")
        assert dm.text().startswith(f"⬆️ #{number} ") and dm.token == "xoxb-test"
        user_dm = fake.of("chat.postMessage", channel="DUUSER")
        assert [c.args["text"] for c in user_dm] == [
            f"Ticket #{number} needs our second-line engineers, so I've passed it on. You keep your place: they "
            f"will continue right here, no need to write again."
        ]


class Receiver:
    """A developer's webhook endpoint on 127.0.0.1: records each request, answers with queued statuses."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        self.statuses: list[int] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200, text="ok")


@contextmanager
def running_receiver():
    receiver = Receiver()
    ready, stop = threading.Event(), {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/hooks/firstline", receiver.handle)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks/firstline"
        stop["loop"], stop["event"] = loop, asyncio.Event()
        ready.set()
        loop.run_until_complete(stop["event"].wait())
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield receiver
    finally:
        stop["loop"].call_soon_threadsafe(stop["event"].set)
        thread.join(10)


async def test_webhook_is_signed_retried_on_500_and_refused_for_good_on_4xx(sessions):
    clock = Clock()
    with running_receiver() as receiver:
        sender = WebhookSender(receiver.url, "s3cret")
        dispatcher = OutboxDispatcher(sessions, {"webhook": sender}, clock=clock)
        with sessions.begin() as s:
            number = new_ticket(s)
            s.add(
                OutboxItem(
                    audience="webhook",
                    channel="webhook",
                    event="dev_request",
                    ticket_id=number,
                    payload={"ticket": number, "system": "1C ERP", "ref": "ERP-42", "note": "Печать"},
                )
            )
        receiver.statuses = [500]
        await dispatcher.run_once()
        with sessions() as s:
            [item] = s.scalars(select(OutboxItem)).all()
            assert (item.status, item.attempts, item.last_error) == ("pending", 1, "WebhookFailed: webhook: HTTP 500")
        clock.ahead += timedelta(seconds=3)
        await dispatcher.run_once()
        with sessions() as s:
            assert s.scalars(select(OutboxItem)).one().status == "sent"
        assert len(receiver.requests) == 2
        headers, body = receiver.requests[-1]
        assert headers["X-Firstline-Signature"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert headers["X-Firstline-Event"] == "dev_request" and headers["X-Firstline-Delivery"] == str(item.id)
        assert json.loads(body) == {
            "event": "dev_request",
            "ticket": number,
            "system": "1C ERP",
            "ref": "ERP-42",
            "note": "Печать",
        }
        assert receiver.requests[0][1] == body  # a retry sends the same bytes

        with sessions.begin() as s:
            s.add(
                OutboxItem(
                    audience="webhook",
                    channel="webhook",
                    event="dev_request",
                    ticket_id=number,
                    payload={"ticket": number, "ref": "ERP-43"},
                )
            )
        receiver.statuses = [422]
        await dispatcher.run_once()
        with sessions() as s:
            refused = s.scalars(select(OutboxItem).where(OutboxItem.status == "failed")).one()
            assert refused.attempts == 1 and "HTTP 422" in refused.last_error
        await sender.aclose()


# -- end to end: the running app, its dispatcher, the fake Telegram and Slack servers ----------------------
TOKEN = "424242:TEST-notify-token"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOSS_TG, SAM_SLACK = 9001, "USAM"


@pytest.fixture(scope="module")
def live(module_db_url, tmp_path_factory):
    fake_tg = FakeTelegram(TOKEN)
    with fake_tg.running(), running_fake_slack() as fake_slack, running_receiver() as receiver:
        with running_app(
            module_db_url,
            tmp_path_factory.mktemp("data"),
            telegram_bot_token=TOKEN,
            telegram_api_base=fake_tg.base_url,
            slack_bot_token="xoxb-notify",
            slack_signing_secret=SLACK_SECRET,
            slack_api_base=f"{fake_slack.url}/api/",
            dev_webhook_url=receiver.url,
            dev_webhook_secret="hook-secret",
            sla_check_seconds=0,
        ) as (base, runtime):
            fake_tg.wait(lambda: any(c["method"] == "getUpdates" for c in fake_tg.calls), what="long polling")
            heads = {
                name: make_agent(runtime, name, role)
                for name, role in [("lena", "l1"), ("igor", "l2"), ("boss", "manager"), ("sam", "manager")]
            }
            with runtime.sessions.begin() as s:
                link_accounts(s, "boss", telegram_user_id=str(BOSS_TG))
                link_accounts(s, "sam", slack_user_id=SAM_SLACK)
            with httpx.Client(base_url=base, timeout=30) as http:
                yield SimpleNamespace(
                    tg=fake_tg, slack=fake_slack, hook=receiver, runtime=runtime, http=http, heads=heads
                )


def _number(text: str) -> int:
    return int(re.search(r"[#№](\d+)", text).group(1))


def _telegram_ticket(live, user) -> int:
    m = live.tg.mark()
    user.say("/human")
    return _number(live.tg.wait_sent(user.id, m, match=lambda r: "ticket #" in r["text"])[0]["text"])


def _escalate(live, number: int, **body) -> dict:
    http, lena = live.http, live.heads["lena"]
    http.post(f"/api/v1/tickets/{number}/claim", headers=lena).raise_for_status()
    r = http.post(f"/api/v1/tickets/{number}/escalate", json={"to_line": "L2", **body}, headers=lena)
    assert r.status_code == 200, r.text
    return r.json()


def test_managers_get_escalations_and_breaches_as_direct_messages(live):
    bob = TgUser(live.tg, 1501, "Bob")
    number = _telegram_ticket(live, bob)
    m = live.tg.mark()
    assert _escalate(live, number, note="VPN client reinstalled, still drops")["status"] == "escalated"

    # The user, in their Telegram chat: the agent joined, then the escalation, in English.
    notices = live.tg.wait_sent(bob.id, m, count=2)
    assert [n["text"] for n in notices] == [
        "lena from the service desk has joined the conversation.",
        f"Ticket #{number} needs our second-line engineers, so I've passed it on. You keep your place: they will "
        f"continue right here, no need to write again.",
    ]
    # The Telegram-linked manager: a direct message from the bot.
    subject = live.http.get(f"/api/v1/tickets/{number}", headers=live.heads["boss"]).json()["subject"]
    [dm] = live.tg.wait_sent(BOSS_TG, m, match=lambda r: f"#{number} " in r["text"])
    assert dm["text"] == (
        f"⬆️ #{number} “{subject}” escalated L1 → L2 by lena. Priority: normal.\n"
        f"Note: VPN client reinstalled, still drops"
    )
    # The Slack-linked manager: chat.postMessage to their user id, which Slack shows as a DM.
    [slack_dm] = live.slack.wait_for("chat.postMessage", lambda c: f"#{number} " in c.args["text"], channel=SAM_SLACK)
    assert slack_dm.args["text"].startswith(f"⬆️ #{number} “{subject}” escalated L1 → L2 by lena.")

    # An SLA breach found by the scheduler reaches the same managers.
    with live.runtime.sessions.begin() as s:
        notifications.sla_event(s, s.get(Ticket, number), "resolution_breach")
    [breach] = live.tg.wait_sent(BOSS_TG, m, match=lambda r: r["text"].startswith("🚨"))
    assert breach["text"].startswith(f"🚨 #{number} “{subject}”: resolution is overdue since ")
    assert breach["text"].endswith("(normal, L2, unassigned).")
    live.slack.wait_for("chat.postMessage", lambda c: c.args["text"].startswith(f"🚨 #{number} "), channel=SAM_SLACK)
    detail = live.http.get(f"/api/v1/tickets/{number}", headers=live.heads["boss"]).json()
    told = [e["detail"] for e in detail["events"] if e["action"] == "notified"]
    assert {"event": "escalated", "to": ["boss", "sam"]} in told


def test_russian_telegram_user_hears_of_the_escalation_in_russian(live):
    olga = TgUser(live.tg, 1601, "Ольга", language_code="ru")
    m = live.tg.mark()
    olga.say("Не подключается сетевой диск, позовите человека")  # she asks for a person in Russian
    number = _number(live.tg.wait_sent(olga.id, m, match=lambda r: "заявку №" in r["text"])[0]["text"])
    m = live.tg.mark()
    _escalate(live, number)
    notices = live.tg.wait_sent(olga.id, m, count=2)
    assert [n["text"] for n in notices] == [
        "К разговору подключился сотрудник поддержки lena.",
        f"Для заявки №{number} нужны инженеры второй линии, поэтому я передал её дальше. Ваша очередь "
        f"сохраняется: ответ придёт сюда же, писать заново не нужно.",
    ]


def test_web_chat_user_sees_each_status_notice_once(live):
    user = ChatUser(live.http, "web-notify-1")
    number = user.send("talk to a human").json()["ticket"]
    _escalate(live, number)
    r = live.http.post(
        f"/api/v1/tickets/{number}/return",
        json={"answer": "Reset the VPN profile on the server"},
        headers=live.heads["igor"],
    )
    assert r.status_code == 200 and r.json()["status"] == "open", r.text
    live.http.post(
        f"/api/v1/tickets/{number}/resolve", json={"resolution": "VPN profile reset"}, headers=live.heads["lena"]
    ).raise_for_status()
    system = [m["text"] for m in user.messages() if m["author"] == "system"]
    assert system == [
        "lena from the service desk has joined the conversation.",
        f"Ticket #{number} needs our second-line engineers, so I've passed it on. You keep your place: they will "
        f"continue right here, no need to write again.",
        f"The engineers have finished their part of ticket #{number}; the service desk continues with it here.",
        f"Ticket #{number} is resolved: VPN profile reset\nIf you need anything else, just write: I'm back to answer.",
    ]


def test_preferences_api_and_nothing_queued_when_off(live):
    http, boss = live.http, live.heads["boss"]
    got = http.get("/api/v1/me/notifications", headers=live.heads["sam"]).json()
    assert got == {
        "escalations": True,
        "breaches": True,
        "status_changes": False,
        "daily_digest": True,
        "channels": [],
        "linked": ["slack"],
    }
    bad = http.put("/api/v1/me/notifications", json={"channels": ["pager"]}, headers=boss)
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_input" and "pager" in bad.json()["message"]
    typo = http.put("/api/v1/me/notifications", json={"escalation": False}, headers=boss)
    assert typo.status_code == 422 and "escalation" in typo.json()["message"]

    for who in ("boss", "sam"):
        r = http.put("/api/v1/me/notifications", json={"escalations": False}, headers=live.heads[who])
        assert r.status_code == 200 and r.json()["escalations"] is False and r.json()["breaches"] is True
    try:
        user = ChatUser(http, "web-notify-2")
        number = user.send("talk to a human").json()["ticket"]
        _escalate(live, number)
        with live.runtime.sessions() as s:
            assert [i for i in staff_items(s) if i.ticket_id == number] == []
    finally:
        for who in ("boss", "sam"):
            http.put("/api/v1/me/notifications", json={"escalations": True}, headers=live.heads[who])


def test_request_to_developers_is_posted_to_their_webhook_signed(live):
    number = ChatUser(live.http, "web-notify-3").send("talk to a human").json()["ticket"]
    live.http.post(f"/api/v1/tickets/{number}/claim", headers=live.heads["lena"]).raise_for_status()
    r = live.http.post(
        f"/api/v1/tickets/{number}/external-refs",
        headers=live.heads["lena"],
        json={"system": "1C ERP", "ref": "ERP-1042", "note": "Invoice print fails"},
    )
    assert r.status_code == 201 and r.json()["webhook"] is True, r.text
    live.tg.wait(lambda: live.hook.requests, what="the webhook request")  # (a bounded poll helper)
    headers, body = live.hook.requests[-1]
    assert headers["X-Firstline-Signature"] == "sha256=" + hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
    sent = json.loads(body)
    assert (sent["event"], sent["ticket"], sent["system"], sent["ref"]) == ("dev_request", number, "1C ERP", "ERP-1042")
