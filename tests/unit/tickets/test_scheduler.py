"""The SLA scheduler on SQLite and PostgreSQL, driven with explicit times: each warning and breach is
announced once (also across restarts and concurrent processes), a paused clock is silent, a missed
resolution target can move the ticket up a line, and the managers' digest goes out once a day."""

from __future__ import annotations

import asyncio
import itertools
import threading
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from core.db import make_engine, make_session_factory, transaction
from tickets import sla
from tickets.agents import create_agent, link_accounts
from tickets.models import Conversation, OutboxItem, Ticket, TicketEvent
from tickets.ops_models import Escalation
from tickets.scheduler import Notice, Scheduler, check_sla, daily_digest

UTC = timezone.utc
MON_0900 = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
_users = itertools.count()


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(autouse=True)
def office_calendar():
    sla.configure("UTC", "Mon-Fri 09:00-18:00", [])
    yield
    sla.configure("UTC", "Mon-Fri 09:00-18:00", [])


@pytest.fixture
def desk(sessions):
    """Default policies and a manager whose Telegram account is linked (so staff notices are queued)."""
    with transaction(sessions) as s:
        sla.ensure_default_policies(s)
        create_agent(s, "boss", "manager")
        link_accounts(s, "boss", telegram_user_id="900001")
        create_agent(s, "lina", "l2")
        link_accounts(s, "lina", telegram_user_id="900002")
    return sessions


def open_ticket(sessions, created: datetime, priority: str) -> int:
    with transaction(sessions) as s:
        conv = Conversation(channel="web", user_ref=f"s{next(_users)}", thread_ref="", offered=[])
        s.add(conv)
        s.flush()
        t = Ticket(
            conversation_id=conv.id,
            requester=conv.user_ref,
            channel="web",
            subject="mail is down",
            question="mail is down",
            handoff_reason="user_request",
            bot_tried=[],
            priority=priority,
            created_at=created,
        )
        s.add(t)
        s.flush()
        sla.ticket_opened(s, t, now=created)
        return t.id


def audit(sessions, number: int) -> list[tuple[str, str]]:
    with sessions() as s:
        return [
            (e.action, e.detail.get("kind"))
            for e in s.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == number, TicketEvent.action.like("sla_%"))
                .order_by(TicketEvent.id)
            )
        ]


def staff_notices(sessions, number: int) -> list[str]:
    with sessions() as s:
        return list(
            s.scalars(
                select(OutboxItem.event)
                .where(OutboxItem.ticket_id == number, OutboxItem.audience == "staff")
                .order_by(OutboxItem.id)
            )
        )


def test_a_warning_then_a_breach_each_once(desk):
    number = open_ticket(desk, MON_0900, "high")  # first response due 10:00, warned from 09:48
    assert check_sla(desk, utc(2027, 1, 11, 9, 30)) == []
    assert check_sla(desk, utc(2027, 1, 11, 9, 50)) == [Notice(number, "first_response_risk")]
    assert check_sla(desk, utc(2027, 1, 11, 9, 50)) == []  # the same moment again: no second notice
    assert check_sla(desk, utc(2027, 1, 11, 9, 55)) == []
    with desk() as s:
        t = s.get(Ticket, number)
        assert t.first_response_warned_at == utc(2027, 1, 11, 9, 50) and t.first_response_breached_at is None
        assert sla.sla_state(t, utc(2027, 1, 11, 9, 55)) == "at_risk"
    assert check_sla(desk, utc(2027, 1, 11, 10, 1)) == [Notice(number, "first_response_breach")]
    assert check_sla(desk, utc(2027, 1, 11, 10, 1)) == []
    assert check_sla(desk, utc(2027, 1, 11, 11, 0)) == []
    with desk() as s:
        t = s.get(Ticket, number)
        assert t.first_response_breached_at == utc(2027, 1, 11, 10, 1)
        assert sla.sla_state(t, utc(2027, 1, 11, 11, 0)) == "breached"
    assert audit(desk, number) == [("sla_warning", "first_response_risk"), ("sla_breach", "first_response_breach")]
    # The manager and the line's agents (nobody holds it) hear of each once, on their linked Telegram.
    notices = staff_notices(desk, number)
    assert notices.count("sla_first_response_risk") == 1 and notices.count("sla_first_response_breach") == 1
    # Resolution: high = 8 business hours → Monday 17:00; warned from 15:24, breached after 17:00.
    assert check_sla(desk, utc(2027, 1, 11, 15, 30)) == [Notice(number, "resolution_risk")]
    assert check_sla(desk, utc(2027, 1, 12, 9, 0)) == [Notice(number, "resolution_breach")]
    assert check_sla(desk, utc(2027, 1, 12, 9, 0)) == []
    with desk() as s:
        assert s.get(Ticket, number).line == "L1"  # High does not escalate by itself


def test_a_missed_deadline_found_late_is_announced_as_a_breach_only(desk):
    number = open_ticket(desk, MON_0900, "normal")
    assert check_sla(desk, utc(2027, 1, 20, 12, 0)) == [
        Notice(number, "first_response_breach"),
        Notice(number, "resolution_breach"),
    ]
    assert audit(desk, number) == [("sla_breach", "first_response_breach"), ("sla_breach", "resolution_breach")]


def test_restart_safety_a_fresh_process_sees_what_was_announced(desk, db_url):
    number = open_ticket(desk, MON_0900, "high")
    assert check_sla(desk, utc(2027, 1, 11, 9, 50)) == [Notice(number, "first_response_risk")]
    engine = make_engine(db_url)  # a restarted server: new engine, new sessions, nothing in memory
    try:
        fresh = make_session_factory(engine)
        assert check_sla(fresh, utc(2027, 1, 11, 9, 50)) == []
        assert check_sla(fresh, utc(2027, 1, 11, 10, 5)) == [Notice(number, "first_response_breach")]
    finally:
        engine.dispose()
    assert check_sla(desk, utc(2027, 1, 11, 10, 5)) == []
    assert audit(desk, number) == [("sla_warning", "first_response_risk"), ("sla_breach", "first_response_breach")]


def test_concurrent_processes_announce_each_notice_once(desk, db_url):
    numbers = [open_ticket(desk, MON_0900, "high") for _ in range(5)]
    engines = [make_engine(db_url) for _ in range(3)]
    results: list[list[Notice]] = []
    barrier = threading.Barrier(len(engines))

    def run(engine) -> None:
        factory = make_session_factory(engine)
        barrier.wait()
        results.append(check_sla(factory, utc(2027, 1, 11, 10, 5)))

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    sent = sorted((n.ticket, n.kind) for r in results for n in r)
    assert sent == sorted((n, "first_response_breach") for n in numbers)
    with desk() as s:
        assert s.scalar(select(func.count()).select_from(TicketEvent).where(TicketEvent.action == "sla_breach")) == 5


def test_a_paused_resolution_clock_is_silent(desk):
    number = open_ticket(desk, MON_0900, "high")
    with transaction(desk) as s:
        t = s.get(Ticket, number)
        t.first_response_at, t.status = utc(2027, 1, 11, 9, 20), "pending_user"
        sla.status_changed(s, t, "open", "pending_user", now=utc(2027, 1, 11, 9, 30))
    assert check_sla(desk, utc(2027, 1, 13, 12, 0)) == []  # days later, still waiting for the user
    with transaction(desk) as s:
        t = s.get(Ticket, number)
        t.status = "open"
        sla.status_changed(s, t, "pending_user", "open", now=utc(2027, 1, 13, 12, 0))
        # 7.5 business hours were left at the pause: 6 h on Wednesday + 1.5 h → due Thursday 10:30.
        assert t.resolution_due_at == utc(2027, 1, 14, 10, 30)
    # Warned once 96 business minutes (20 % of 8 h) are left: from Wednesday 17:54.
    assert check_sla(desk, utc(2027, 1, 13, 17, 50)) == []
    assert check_sla(desk, utc(2027, 1, 13, 17, 55)) == [Notice(number, "resolution_risk")]


def test_a_missed_resolution_target_escalates_to_the_next_line_once(desk):
    pytest.importorskip("tickets.escalation")
    number = open_ticket(desk, MON_0900, "critical")  # 24x7: first response 09:30, resolution 13:00
    with transaction(desk) as s:
        t = s.get(Ticket, number)
        t.first_response_at = utc(2027, 1, 11, 9, 10)
    assert check_sla(desk, utc(2027, 1, 11, 12, 30)) == [Notice(number, "resolution_risk")]
    with desk() as s:
        assert s.get(Ticket, number).line == "L1"
    assert check_sla(desk, utc(2027, 1, 11, 13, 1)) == [Notice(number, "resolution_breach")]
    assert check_sla(desk, utc(2027, 1, 11, 13, 2)) == []
    with desk() as s:
        t = s.get(Ticket, number)
        assert t.line == "L2"
        escalations = list(s.scalars(select(Escalation).where(Escalation.ticket_id == number)))
        assert [(e.kind, e.from_line, e.to_line, e.by) for e in escalations] == [
            ("automatic", "L1", "L2", "system:sla")
        ]
        assert "resolution" in escalations[0].note
    assert "escalated" in staff_notices(desk, number)  # L2 and the manager hear of the escalation


def test_the_daily_digest_goes_out_once_a_day_after_its_hour(desk, db_url):
    # Its first day the desk has no day before to report on (the managers are told nothing).
    assert daily_digest(desk, datetime.now(UTC), digest_hour=0, timezone="UTC") is None
    with desk() as s:
        assert s.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.event == "daily_digest")) == 0
    kw = dict(digest_hour=9, timezone="Europe/Berlin")
    assert daily_digest(desk, utc(2027, 1, 12, 7, 59), **kw) is None  # 08:59 in Berlin: too early
    assert daily_digest(desk, utc(2027, 1, 12, 8, 0), **kw) == date(2027, 1, 11)  # the day before is reported
    assert daily_digest(desk, utc(2027, 1, 12, 8, 0), **kw) is None
    engine = make_engine(db_url)
    try:
        assert daily_digest(make_session_factory(engine), utc(2027, 1, 12, 20, 0), **kw) is None  # after a restart
    finally:
        engine.dispose()
    assert daily_digest(desk, utc(2027, 1, 13, 9, 0), **kw) == date(2027, 1, 12)
    with desk() as s:
        digests = list(s.scalars(select(OutboxItem).where(OutboxItem.event == "daily_digest")))
    assert sorted(d.payload["day"] for d in digests) == ["2027-01-11", "2027-01-12"]  # to the manager only


async def test_the_scheduler_loop_runs_in_the_background_and_stops_cleanly(desk):
    number = open_ticket(desk, utc(2020, 3, 2, 9, 0), "high")  # long overdue by the real clock
    scheduler = Scheduler(desk, sla_check_seconds=0.05, digest_hour=0, timezone="UTC")
    task = asyncio.create_task(scheduler.run_forever())
    try:
        for _ in range(200):
            with desk() as s:
                t = s.get(Ticket, number)
                if t.first_response_breached_at is not None and t.resolution_breached_at is not None:
                    break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the scheduler did not mark the breaches")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert audit(desk, number) == [("sla_breach", "first_response_breach"), ("sla_breach", "resolution_breach")]
    assert Scheduler(desk, sla_check_seconds=0).interval == 0
    await asyncio.wait_for(Scheduler(desk, sla_check_seconds=0).run_forever(), 1)  # 0 = off: returns at once
