"""The manager dashboard's numbers: today's conversations and tickets, and where the open tickets stand on their
SLA (the console shows them; the API route only serialises)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tickets import sla
from tickets.models import OPEN_STATUSES, Conversation, Outcome, Ticket
from tickets.reports import DEFLECTED

SLA_STATES = ("ok", "at_risk", "breached", "paused", "met", "none")


def _due(tk: Ticket) -> datetime | None:
    """The deadline an agent races: the first response until there is one, then the resolution."""
    return (
        tk.first_response_due_at if tk.first_response_at is None and tk.first_response_due_at else tk.resolution_due_at
    )


def sla_overview(
    session: Session, now: datetime
) -> tuple[dict[str, int], dict[str, dict[str, int]], list[dict[str, Any]]]:
    """Open tickets by SLA state, at-risk/breached per line, and the ten soonest due of those."""
    states: Counter[str] = Counter()
    by_line = {line: {"at_risk": 0, "breached": 0} for line in ("L1", "L2", "L3")}
    risky: list[tuple[Ticket, str]] = []
    for tk in session.scalars(select(Ticket).where(Ticket.status.in_(OPEN_STATUSES))):
        state = sla.sla_state(tk, now)
        states[state] += 1
        if state in ("at_risk", "breached"):
            by_line.setdefault(tk.line, {"at_risk": 0, "breached": 0})[state] += 1
            risky.append((tk, state))
    far = datetime.max.replace(tzinfo=timezone.utc)

    def due_key(item: tuple[Ticket, str]) -> datetime:
        due = _due(item[0])
        return due.replace(tzinfo=due.tzinfo or timezone.utc) if due else far

    risky.sort(key=due_key)
    listed = [
        {
            "number": tk.id,
            "subject": tk.subject,
            "line": tk.line,
            "priority": tk.priority,
            "sla_state": state,
            "due_at": _due(tk),
        }
        for tk, state in risky[:10]
    ]
    return {s: states.get(s, 0) for s in SLA_STATES}, by_line, listed


def today(session: Session, now: datetime) -> dict[str, Any]:
    """Since midnight UTC: conversations by hour, outcomes and deflection, handoff reasons; open tickets by line
    and by SLA state."""
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    convs = session.execute(
        select(Conversation.created_at, Conversation.outcome).where(Conversation.created_at >= start)
    ).all()
    by_hour = [0] * 24
    for created, _ in convs:
        by_hour[created.astimezone(timezone.utc).hour] += 1
    outcomes = Counter(o for _, o in convs if o)
    finished = sum(outcomes.values())
    deflected = sum(outcomes[o] for o in DEFLECTED)
    reasons = Counter(session.scalars(select(Ticket.handoff_reason).where(Ticket.created_at >= start)))
    open_rows = session.execute(
        select(Ticket.line, func.count()).where(Ticket.status.in_(OPEN_STATUSES)).group_by(Ticket.line)
    ).all()
    open_by_line = {"L1": 0, "L2": 0, "L3": 0} | {line: n for line, n in open_rows}
    sla_states, sla_by_line, sla_risk = sla_overview(session, now)
    return dict(
        date=start.date().isoformat(),
        conversations_today=len(convs),
        tickets_today=sum(reasons.values()),
        by_hour=by_hour,
        outcomes={o.value: outcomes.get(o.value, 0) for o in Outcome},
        deflection_rate=round(deflected / finished, 4) if finished else None,
        handoff_reasons=dict(reasons),
        open_by_line=open_by_line,
        sla=sla_states,
        sla_by_line=sla_by_line,
        sla_risk=sla_risk,
    )
