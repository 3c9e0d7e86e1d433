"""Work time on tickets: manual entries and start/stop timers, with totals for reports.

Each entry keeps the ticket's line and category at the time of the work, so totals by line or category do
not shift when the ticket is escalated or re-categorised later.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import utcnow
from tickets import service, sla
from tickets.errors import Conflict, Forbidden, Invalid
from tickets.models import Agent, Ticket
from tickets.ops_models import TimeEntry

MAX_MINUTES = 1440  # one manual entry covers at most a day
GROUPINGS = ("agent", "line", "category", "ticket")


def _require_involved(session: Session, ticket: Ticket, agent: Agent) -> None:
    # Time may be logged after resolution too (people log at the end of the day), but only by those who worked on it.
    if not service.is_handler(session, ticket, agent):
        raise Forbidden(f"only the agent holding ticket #{ticket.id}, its participants or a manager can log time on it")


def add_manual(
    session: Session, number: int, agent: Agent, minutes: int, note: str = "", now: datetime | None = None
) -> TimeEntry:
    if not isinstance(minutes, int) or not 1 <= minutes <= MAX_MINUTES:
        raise Invalid(f"minutes must be a whole number from 1 to {MAX_MINUTES}, not {minutes!r}")
    ticket = service.get_ticket(session, number)
    _require_involved(session, ticket, agent)
    now = now or utcnow()
    entry = TimeEntry(
        ticket_id=ticket.id,
        agent_id=agent.id,
        source="manual",
        minutes=minutes,
        note=note.strip(),
        line=ticket.line,
        category=ticket.category,
        started_at=now - timedelta(minutes=minutes),
        ended_at=now,
        created_at=now,
    )
    session.add(entry)
    session.flush()
    service.record(session, ticket, f"agent:{agent.id}", "time_logged", minutes=minutes, source="manual")
    return entry


def running_timer(session: Session, number: int, agent_id: int) -> TimeEntry | None:
    return session.scalar(
        select(TimeEntry).where(
            TimeEntry.ticket_id == number,
            TimeEntry.agent_id == agent_id,
            TimeEntry.source == "timer",
            TimeEntry.ended_at.is_(None),
        )
    )


def start_timer(session: Session, number: int, agent: Agent, note: str = "", now: datetime | None = None) -> TimeEntry:
    # Lock the ticket row: two "start" clicks at once on PostgreSQL must not both find no running timer
    # (SQLite writers are serialised already).
    ticket = session.scalar(select(Ticket).where(Ticket.id == number).with_for_update())
    if ticket is None:
        ticket = service.get_ticket(session, number)  # raises NotFound
    service.require_open(ticket)
    _require_involved(session, ticket, agent)
    if running_timer(session, number, agent.id) is not None:
        raise Conflict(f"your timer on ticket #{number} is already running; stop it first")
    now = now or utcnow()
    entry = TimeEntry(
        ticket_id=ticket.id,
        agent_id=agent.id,
        source="timer",
        minutes=0,
        note=note.strip(),
        line=ticket.line,
        category=ticket.category,
        started_at=now,
        created_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


def stop_timer(session: Session, number: int, agent: Agent, now: datetime | None = None) -> TimeEntry:
    ticket = service.get_ticket(session, number)
    entry = running_timer(session, number, agent.id)
    if entry is None:
        raise Conflict(f"you have no running timer on ticket #{number}")
    now = now or utcnow()
    entry.ended_at = now
    entry.minutes = max(1, int((now - entry.started_at).total_seconds() // 60))  # started means worked
    session.flush()
    service.record(session, ticket, f"agent:{agent.id}", "time_logged", minutes=entry.minutes, source="timer")
    return entry


def entries(session: Session, number: int) -> list[TimeEntry]:
    return list(
        session.scalars(
            select(TimeEntry).where(TimeEntry.ticket_id == number).order_by(TimeEntry.started_at, TimeEntry.id)
        )
    )


def ticket_total(session: Session, number: int) -> int:
    """Minutes of finished entries (a running timer counts once stopped)."""
    return int(
        session.scalar(
            select(func.coalesce(func.sum(TimeEntry.minutes), 0)).where(
                TimeEntry.ticket_id == number, TimeEntry.ended_at.is_not(None)
            )
        )
        or 0
    )


def _day_start(day: date) -> datetime:
    # Days of the desk's time zone (as the SLA calendar and the reports count them).
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(sla.timezone_name()))


def totals(
    session: Session,
    group_by: str,
    start: date | None = None,
    end: date | None = None,
) -> list[tuple[str | None, int]]:
    """Finished minutes per agent (name), line, category (slug, None = uncategorised) or ticket (number),
    for work started from `start` through `end` (the desk's local days, both inclusive), most minutes first."""
    if group_by not in GROUPINGS:
        raise Invalid(f"unknown grouping {group_by!r}: use {', '.join(GROUPINGS)}")
    if start and end and end < start:
        raise Invalid(f"the range ends ({end}) before it starts ({start})")
    key = {"agent": Agent.name, "line": TimeEntry.line, "category": TimeEntry.category, "ticket": TimeEntry.ticket_id}[
        group_by
    ]
    minutes = func.sum(TimeEntry.minutes)
    q = select(key, minutes).where(TimeEntry.ended_at.is_not(None)).group_by(key)
    if group_by == "agent":
        q = q.join(Agent, Agent.id == TimeEntry.agent_id)
    if start:
        q = q.where(TimeEntry.started_at >= _day_start(start))
    if end:
        q = q.where(TimeEntry.started_at < _day_start(end + timedelta(days=1)))
    rows = [(None if k is None else str(k), int(m)) for k, m in session.execute(q)]
    return sorted(rows, key=lambda r: (-r[1], r[0] or ""))
