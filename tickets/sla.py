"""SLA clocks on tickets: which policy applies, due times, pauses while waiting for the user, breaches.

Two clocks run from the ticket's creation: first response (met by the first agent reply) and resolution
(met by resolving/closing). Targets are business minutes in the desk's calendar (hours, time zone,
holidays: tickets.sla_clock), or wall-clock minutes for 24x7 policies. While a ticket is pending_user the
resolution clock is paused: on resume its due time moves by the paused business time. The scheduler
(tickets.scheduler) warns before and marks breaches; resolving or closing late marks the breach too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from core.db import utcnow
from people.models import Organisation
from tickets.models import Ticket, TicketEvent, TicketStatus
from tickets.ops_models import Holiday, JobRun, SLAPolicy
from tickets.sla_clock import BusinessCalendar, CalendarError, WeekHours, as_utc, parse_hours, zone

log = logging.getLogger(__name__)

PENDING = TicketStatus.pending_user.value
DONE = (TicketStatus.resolved.value, TicketStatus.closed.value)
OPEN = (TicketStatus.new.value, TicketStatus.open.value, TicketStatus.pending_user.value, TicketStatus.escalated.value)
ACTOR = "system:sla"
NEXT_LINE = {"L1": "L2", "L2": "L3"}
SETUP_MARKER = "sla_defaults"  # job_runs row: when this desk first started (its default policies were seeded)

# Seeded once into an empty desk. Business-day targets assume the default 9-hour day (09:00-18:00):
# 3 business days = 27 h, 5 business days = 45 h. Critical runs 24x7 and moves up a line when it breaches.
DEFAULT_POLICIES = (
    dict(
        name="Critical (24x7)",
        priority="critical",
        first_response_minutes=30,
        resolution_minutes=4 * 60,
        business_hours=False,
        auto_escalate=True,
    ),
    dict(name="High", priority="high", first_response_minutes=60, resolution_minutes=8 * 60),
    dict(name="Normal", priority="normal", first_response_minutes=4 * 60, resolution_minutes=27 * 60),
    dict(name="Low", priority="low", first_response_minutes=8 * 60, resolution_minutes=45 * 60),
)


@dataclass(frozen=True)
class _Config:
    timezone: str = "UTC"
    business_hours: str = "Mon-Fri 09:00-18:00"
    hours: WeekHours = parse_hours("Mon-Fri 09:00-18:00")
    holidays: frozenset[date] = frozenset()


_config = _Config()


def configure(timezone: str, business_hours: str, holidays: list[date]) -> None:
    """The desk's calendar (from settings). Raises sla_clock.CalendarError with a clear message."""
    global _config
    zone(timezone)
    _config = _Config(timezone, business_hours, parse_hours(business_hours), frozenset(holidays))


def timezone_name() -> str:
    return _config.timezone


def configured_holidays() -> frozenset[date]:
    """Holidays from settings (FIRSTLINE_HOLIDAYS); the rest are rows of the holidays table."""
    return _config.holidays


def holidays(session: Session, *, cached: bool = False) -> frozenset[date]:
    # `cached`: one query per session for read paths (a queue page computes sla_state for many tickets).
    if cached and "sla_holidays" in session.info:
        days: frozenset[date] = session.info["sla_holidays"]
        return days
    days = frozenset(session.scalars(select(Holiday.day))) | _config.holidays
    session.info["sla_holidays"] = days
    return days


def calendar(
    session: Session, policy: SLAPolicy | None, *, cached: bool = False, organisation_id: int | None = None
) -> BusinessCalendar:
    """The business calendar a ticket's clocks run in: its organisation's hours, time zone and holidays where the
    organisation has its own (checked when saved; a bad value left in the database falls back to the desk's),
    else the desk's."""
    if policy is not None and not policy.business_hours:
        return BusinessCalendar.wall_clock()
    hours, tz, days = _config.hours, _config.timezone, holidays(session, cached=cached)
    org = session.get(Organisation, organisation_id) if organisation_id is not None else None
    if org is not None:
        try:
            hours = parse_hours(org.business_hours) if org.business_hours else hours
            tz = org.timezone or tz
            zone(tz)
        except CalendarError:
            log.warning("organisation %s has an unusable calendar: the desk's is used", org.id)
            hours, tz = _config.hours, _config.timezone
        if org.holidays:
            # The organisation's holidays replace the desk's table (its country's calendar, not the desk's).
            days = frozenset(date.fromisoformat(str(d)) for d in org.holidays) | _config.holidays
    return BusinessCalendar(hours, zone(tz), days)


def ticket_calendar(session: Session, ticket: Ticket, *, cached: bool = False) -> BusinessCalendar:
    return calendar(session, ticket_policy(session, ticket), cached=cached, organisation_id=ticket.organisation_id)


# -- policies -------------------------------------------------------------------------------------
def ensure_default_policies(session: Session) -> bool:
    """Seed the default policies once per database (a JobRun marker, so several processes starting at
    once seed one set, and a manager's later edits are never overwritten). The caller commits."""
    if session.get(JobRun, SETUP_MARKER) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(JobRun(name=SETUP_MARKER, last_run_at=utcnow(), last_key="seeded"))
            session.flush()
    except IntegrityError:
        return False  # another process seeded them
    if session.scalar(select(exists().where(SLAPolicy.id.is_not(None)))):
        return False  # policies were made by hand before the seed ran
    for spec in DEFAULT_POLICIES:
        session.add(
            SLAPolicy(
                category=None, warn_ratio=0.2, active=True, **{"business_hours": True, "auto_escalate": False, **spec}
            )
        )
    session.flush()
    return True


def policy_for(
    session: Session, priority: str, category: str | None, organisation_id: int | None = None
) -> SLAPolicy | None:
    """The most specific active policy for this priority: the organisation's own for the category, the
    organisation's own, the desk's for the category, the desk's default."""
    q = select(SLAPolicy).where(SLAPolicy.active.is_(True), SLAPolicy.priority == priority)
    owners = [organisation_id, None] if organisation_id is not None else [None]
    for owner in owners:
        scoped = q.where(
            SLAPolicy.organisation_id == owner if owner is not None else SLAPolicy.organisation_id.is_(None)
        )
        for cat in ([category] if category else []) + [None]:
            found = session.scalar(
                scoped.where(SLAPolicy.category == cat if cat else SLAPolicy.category.is_(None)).order_by(SLAPolicy.id)
            )
            if found is not None:
                return found
    return None


def ticket_policy(session: Session, ticket: Ticket) -> SLAPolicy | None:
    return session.get(SLAPolicy, ticket.sla_policy_id) if ticket.sla_policy_id is not None else None


# -- hooks called by tickets.service ------------------------------------------------------------
def ticket_opened(session: Session, ticket: Ticket, now: datetime | None = None) -> None:
    """A new ticket: pick its policy and set its due times from its creation."""
    recompute(session, ticket, now)


def priority_changed(session: Session, ticket: Ticket, old: str, now: datetime | None = None) -> None:
    """A new priority means a new policy: due times are recomputed from the ticket's creation plus the
    time it has been paused. (Call it after a category change too: the category can pick the policy.)"""
    recompute(session, ticket, now)


def recompute(session: Session, ticket: Ticket, now: datetime | None = None, *, cached: bool = False) -> None:
    """(Re)choose the policy and set both due times from created_at + target (+ paused time)."""
    start = as_utc(ticket.created_at or now or utcnow())
    policy = policy_for(session, ticket.priority, ticket.category, ticket.organisation_id)
    old_fr, old_res = ticket.first_response_due_at, ticket.resolution_due_at
    if policy is None:
        ticket.sla_policy_id = ticket.first_response_due_at = ticket.resolution_due_at = None
        return
    cal = calendar(session, policy, cached=cached, organisation_id=ticket.organisation_id)
    ticket.sla_policy_id = policy.id
    ticket.first_response_due_at = cal.add_minutes(start, policy.first_response_minutes)
    ticket.resolution_due_at = cal.add_minutes(start, policy.resolution_minutes + (ticket.sla_paused_minutes or 0))
    # A moved target deserves its own warning; a breach already recorded stays recorded.
    if old_fr is not None and as_utc(old_fr) != ticket.first_response_due_at:
        ticket.first_response_warned_at = None
    if old_res is not None and as_utc(old_res) != ticket.resolution_due_at:
        ticket.resolution_warned_at = None


def status_changed(session: Session, ticket: Ticket, old: str, new: str, now: datetime | None = None) -> None:
    """Pause the resolution clock in pending_user, resume it (the due time moves by the paused business
    time), stop both clocks on resolved/closed and record a breach if it came late."""
    if ticket.first_response_due_at is None and ticket.resolution_due_at is None:
        return
    now = as_utc(now or utcnow())
    cal = ticket_calendar(session, ticket)
    if ticket.sla_paused_at is not None and new != PENDING:
        _resume(ticket, cal, now)
    if new == PENDING and ticket.sla_paused_at is None:
        ticket.sla_paused_at = now
    fr_at, fr_due = ticket.first_response_at, ticket.first_response_due_at
    if (
        fr_at is not None
        and fr_due is not None
        and as_utc(fr_at) > as_utc(fr_due)
        and ticket.first_response_breached_at is None
    ):
        ticket.first_response_breached_at = now
        _event(session, ticket, "sla_breach", clock="first_response", due=fr_due, late=True)
    if (
        new in DONE
        and ticket.resolution_due_at is not None
        and now > as_utc(ticket.resolution_due_at)
        and ticket.resolution_breached_at is None
    ):
        ticket.resolution_breached_at = now
        _event(session, ticket, "sla_breach", clock="resolution", due=ticket.resolution_due_at, late=True)


def _resume(ticket: Ticket, cal: BusinessCalendar, now: datetime) -> None:
    if ticket.sla_paused_at is None:
        return  # not paused
    paused_at = as_utc(ticket.sla_paused_at)
    ticket.sla_paused_at = None
    due = ticket.resolution_due_at
    if due is None or as_utc(due) <= paused_at:
        return  # paused after the deadline had passed: waiting for the user does not undo a breach
    ticket.sla_paused_minutes = (ticket.sla_paused_minutes or 0) + round(cal.minutes_between(paused_at, now))
    # due = now + what was left at the pause (also when resolving: then "late" compares with this due).
    ticket.resolution_due_at = cal.add_minutes(now, cal.minutes_between(paused_at, due))


def _event(session: Session, ticket: Ticket, action: str, **detail: Any) -> None:
    detail = {k: (as_utc(v).isoformat() if isinstance(v, datetime) else v) for k, v in detail.items()}
    session.add(TicketEvent(ticket_id=ticket.id, actor=ACTOR, action=action, detail=detail))


# -- state ----------------------------------------------------------------------------------------
def _clocks(ticket: Ticket, now: datetime) -> list[tuple[str, datetime, datetime]]:
    """(name, due, the moment it is measured at) for each clock still running."""
    out: list[tuple[str, datetime, datetime]] = []
    if ticket.first_response_at is None and ticket.first_response_due_at is not None:
        out.append(("first_response", as_utc(ticket.first_response_due_at), now))
    if ticket.resolution_due_at is not None:
        # A paused clock stands still at the pause moment.
        out.append(("resolution", as_utc(ticket.resolution_due_at), as_utc(ticket.sla_paused_at or now)))
    return out


def _target(policy: SLAPolicy, clock: str) -> int:
    return policy.first_response_minutes if clock == "first_response" else policy.resolution_minutes


def notices_due(session: Session, ticket: Ticket, now: datetime) -> list[str]:
    """The SLA notices this open ticket is owed at `now` and has not had yet: for each running clock a
    breach once it is past due, else a risk warning once at most warn_ratio of the target remains.
    A paused resolution clock owes nothing."""
    if ticket.status not in OPEN:
        return []
    now = as_utc(now)
    policy = ticket_policy(session, ticket)
    cal = calendar(session, policy, organisation_id=ticket.organisation_id)
    kinds = []
    for clock, due, ref in _clocks(ticket, now):
        if clock == "resolution" and ticket.sla_paused_at is not None:
            continue
        if getattr(ticket, f"{clock}_breached_at") is not None:
            continue
        if ref >= due:
            kinds.append(f"{clock}_breach")
        elif (
            policy is not None
            and getattr(ticket, f"{clock}_warned_at") is None
            and cal.minutes_between(ref, due) <= policy.warn_ratio * _target(policy, clock)
        ):
            kinds.append(f"{clock}_risk")
    return kinds


def sla_state(ticket: Ticket, now: datetime | None = None) -> str:
    """ok | at_risk | breached | paused | met | none (no policy)."""
    if ticket.first_response_due_at is None and ticket.resolution_due_at is None:
        return "none"
    now = as_utc(now or utcnow())
    if ticket.first_response_breached_at is not None or ticket.resolution_breached_at is not None:
        return "breached"
    if ticket.status in DONE:
        end = as_utc(ticket.resolved_at or ticket.closed_at or now)
        late = ticket.resolution_due_at is not None and end > as_utc(ticket.resolution_due_at)
        fr_late = (
            ticket.first_response_at is not None
            and ticket.first_response_due_at is not None
            and as_utc(ticket.first_response_at) > as_utc(ticket.first_response_due_at)
        )
        return "breached" if late or fr_late else "met"
    clocks = _clocks(ticket, now)
    if any(ref >= due for _, due, ref in clocks):
        return "breached"
    if ticket.sla_paused_at is not None:
        return "paused"
    if (
        ticket.first_response_warned_at is not None and ticket.first_response_at is None
    ) or ticket.resolution_warned_at is not None:
        return "at_risk"
    session = object_session(ticket)
    policy = ticket_policy(session, ticket) if session is not None else None
    if session is not None and policy is not None:
        cal = calendar(session, policy, cached=True, organisation_id=ticket.organisation_id)
        for clock, due, ref in clocks:
            if cal.minutes_between(ref, due) <= policy.warn_ratio * _target(policy, clock):
                return "at_risk"
    return "ok"


def recompute_open(session: Session, now: datetime | None = None) -> int:
    """After a policy or holiday change: open tickets get due times under the new rules. Returns how many
    tickets' due times moved."""
    moved = 0
    session.info.pop("sla_holidays", None)
    for ticket in session.scalars(select(Ticket).where(Ticket.status.in_(OPEN))):
        before = (ticket.sla_policy_id, ticket.first_response_due_at, ticket.resolution_due_at)
        recompute(session, ticket, now, cached=True)
        after = (ticket.sla_policy_id, ticket.first_response_due_at, ticket.resolution_due_at)
        moved += before != after
    return moved
