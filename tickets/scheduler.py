"""Periodic jobs inside the server process: SLA warnings/breaches and the managers' daily digest.

Restart- and multi-process-safe without a lock service: every notice is claimed by a conditional UPDATE
(`... SET resolution_breached_at = now WHERE id = :id AND resolution_breached_at IS NULL`; the digest's
`job_runs.last_key`) in the same transaction that queues it, so exactly one process sends it, once, and
a crash before the commit leaves it for the next run. The job functions take `now`, so tests drive time.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db import rowcount, transaction, utcnow
from tickets import notifications, sla
from tickets.models import Ticket, TicketEvent
from tickets.ops_models import JobRun
from tickets.sla_clock import as_utc, zone

log = logging.getLogger(__name__)

# kind → (ticket column claimed for it, audit action)
NOTICES = {
    "first_response_risk": ("first_response_warned_at", "sla_warning"),
    "first_response_breach": ("first_response_breached_at", "sla_breach"),
    "resolution_risk": ("resolution_warned_at", "sla_warning"),
    "resolution_breach": ("resolution_breached_at", "sla_breach"),
}
DIGEST_JOB = "daily_digest"


@dataclass(frozen=True)
class Notice:
    ticket: int
    kind: str


# -- SLA ------------------------------------------------------------------------------------------
def check_sla(session_factory: sessionmaker[Session], now: datetime | None = None) -> list[Notice]:
    """Warn about open tickets at risk and mark breaches; each notice once. Returns the notices sent."""
    now = as_utc(now or utcnow())
    with session_factory() as s:
        candidates = list(
            s.scalars(
                select(Ticket.id)
                .where(
                    Ticket.status.in_(sla.OPEN),
                    or_(
                        and_(
                            Ticket.first_response_due_at.is_not(None),
                            Ticket.first_response_at.is_(None),
                            Ticket.first_response_breached_at.is_(None),
                        ),
                        and_(Ticket.resolution_due_at.is_not(None), Ticket.resolution_breached_at.is_(None)),
                    ),
                )
                .order_by(Ticket.id)
            )
        )
    sent: list[Notice] = []
    for ticket_id in candidates:
        try:  # one ticket per transaction: a failing notice is retried next run and blocks no other
            with transaction(session_factory) as s:
                sent += _check_ticket(s, ticket_id, now)
        except Exception:
            log.exception("SLA check of ticket #%s failed; it is retried on the next run", ticket_id)
    return sent


def _check_ticket(s: Session, ticket_id: int, now: datetime) -> list[Notice]:
    ticket = s.get(Ticket, ticket_id)
    if ticket is None:
        return []
    sent = []
    for kind in sla.notices_due(s, ticket, now):
        column, action = NOTICES[kind]
        won = rowcount(
            s.execute(
                update(Ticket)
                .where(Ticket.id == ticket_id, getattr(Ticket, column).is_(None))
                .values({column: now})
                .execution_options(synchronize_session=False)
            )
        )
        if not won:
            continue  # another process (or an earlier run) already announced it
        s.refresh(ticket)
        clock = kind.rsplit("_", 1)[0]
        due = getattr(ticket, f"{clock}_due_at")
        s.add(
            TicketEvent(
                ticket_id=ticket_id,
                actor=sla.ACTOR,
                action=action,
                detail={"clock": clock, "kind": kind, "due": as_utc(due).isoformat()},
            )
        )
        notifications.sla_event(s, ticket, kind)
        if kind == "resolution_breach":
            _auto_escalate(s, ticket, now)
        sent.append(Notice(ticket_id, kind))
    return sent


def _auto_escalate(s: Session, ticket: Ticket, now: datetime) -> None:
    policy = sla.ticket_policy(s, ticket)
    to_line = sla.NEXT_LINE.get(ticket.line)
    if policy is None or not policy.auto_escalate or to_line is None or ticket.resolution_due_at is None:
        return
    from tickets import escalation  # imported here: tickets.escalation imports much of the domain

    due = as_utc(ticket.resolution_due_at).strftime("%Y-%m-%d %H:%M UTC")
    note = (
        f"Automatic escalation: the resolution target ({policy.name}) was missed, due {due}. / "
        f"Автоматическая эскалация: нарушен срок решения ({policy.name}), срок был {due}."
    )
    try:
        with s.begin_nested():
            escalation.escalate(s, ticket.id, None, to_line=to_line, note=note, kind="automatic", now=now)
    except Exception as exc:  # the breach itself is recorded and announced either way
        log.warning("automatic escalation of ticket #%s to %s failed: %s", ticket.id, to_line, exc)
        s.add(
            TicketEvent(
                ticket_id=ticket.id,
                actor=sla.ACTOR,
                action="sla_escalation_failed",
                detail={"to_line": to_line, "error": str(exc)[:500]},
            )
        )


# -- daily digest ---------------------------------------------------------------------------------
def daily_digest(
    session_factory: sessionmaker[Session],
    now: datetime | None = None,
    *,
    digest_hour: int = 9,
    timezone: str | None = None,
) -> date | None:
    """Once per local day, at or after `digest_hour`: the managers' digest of the day before. Returns the
    day reported on, or None (too early, already sent today by this or another process, or the desk was
    set up after that day)."""
    now = as_utc(now or utcnow())
    tz = timezone or sla.timezone_name()
    local = now.astimezone(zone(tz))
    if local.hour < digest_hour:
        return None
    key, day = local.date().isoformat(), local.date() - timedelta(days=1)
    with transaction(session_factory) as s:
        if s.get(JobRun, DIGEST_JOB) is None:
            try:
                with s.begin_nested():
                    s.add(JobRun(name=DIGEST_JOB))
                    s.flush()
            except IntegrityError:
                pass  # another process created the row first
        won = rowcount(
            s.execute(
                update(JobRun)
                .where(JobRun.name == DIGEST_JOB, or_(JobRun.last_key.is_(None), JobRun.last_key < key))
                .values(last_key=key, last_run_at=now)
                .execution_options(synchronize_session=False)
            )
        )
        if not won:
            return None
        setup = s.get(JobRun, sla.SETUP_MARKER)
        if (
            setup is not None
            and setup.last_run_at is not None
            and as_utc(setup.last_run_at).astimezone(zone(tz)).date() > day
        ):
            return None  # the desk did not exist yet on the day to report (its first day): nothing to tell
        queued = notifications.daily_digest(s, day, tz)
        log.info("daily digest of %s: %s notices queued", day, queued)
    return day


# -- the loop -------------------------------------------------------------------------------------
class Scheduler:
    """Runs the jobs every `sla_check_seconds` in a worker thread (DB work never blocks the event loop).
    sla_check_seconds <= 0 turns the scheduler off."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sla_check_seconds: float = 30.0,
        digest_hour: int = 9,
        timezone: str = "UTC",
    ) -> None:
        self.sessions, self.interval = sessions, sla_check_seconds
        self.digest_hour, self.timezone = digest_hour, timezone
        self._zone = zone(timezone)  # a bad time zone fails at start, not on every tick
        self._digest_done: date | None = None  # local day whose digest this process saw claimed

    def run_once(self, now: datetime | None = None) -> list[Notice]:
        now = as_utc(now or utcnow())
        sent = check_sla(self.sessions, now)
        today = now.astimezone(self._zone)
        if today.hour >= self.digest_hour and today.date() != self._digest_done:
            try:
                daily_digest(self.sessions, now, digest_hour=self.digest_hour, timezone=self.timezone)
                self._digest_done = today.date()  # sent now or by another process: no DB work till tomorrow
            except Exception:
                log.exception("daily digest failed; it is retried on the next run")
        return sent

    async def run_forever(self) -> None:
        if self.interval <= 0:
            return
        while True:
            work = asyncio.ensure_future(asyncio.to_thread(self.run_once))
            try:
                await asyncio.shield(work)
            except asyncio.CancelledError:
                # Shutting down: let the running pass finish its transaction before the engine goes away.
                await asyncio.wait([work], timeout=10)
                raise
            except Exception:
                log.exception("scheduler pass failed")
            await asyncio.sleep(self.interval)
