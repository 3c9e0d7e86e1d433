"""Service-desk reports: pure queries over a session for a period [start, end) in UTC.

`resolve_period` turns what a manager asks for (a week / month / year containing a day, or any range of
days) into UTC instants using the desk's configured timezone; `summary` computes every metric for that
period; `tables` flattens a summary into named tables for CSV / XLSX export. Nothing here imports `api`.

Metric definitions (docs/operations.md "Reports" repeats them for managers):

- opened: tickets whose created_at falls in the period; by channel, category (None = uncategorised) and
  line (the ticket's current line).
- resolved: tickets whose resolved_at falls in the period (closed without a resolution, e.g. handed back
  to the bot, does not count), by the same dimensions.
- deflection rate: conversations started in the period whose outcome is helped or answered ÷
  conversations started in the period that carried a question (last_question set, or any outcome other
  than abandoned — an attachment hand-off has no text but is a question). Greeting-only chats don't count.
- handoff reasons: tickets opened in the period, by handoff_reason.
- first response time: first_response_at − created_at (wall-clock minutes) of tickets whose first response
  happened in the period; resolution time: resolved_at − created_at of tickets resolved in the period.
  Median and p90 by linear interpolation between order statistics (position q·(n−1), numpy's default).
- SLA compliance (first response; resolution alike with resolved_at / resolution_due_at): among tickets
  with a due time whose target *settled* in the period — met when done at or before the due time (settles
  at the done time), missed when not done by the due time (settles at the due time, once that has passed)
  — the share that were met. A ticket whose resolution clock was paused (pending_user) before its due time
  has no missed resolution target while paused: the due time moves when it resumes (one already overdue
  when paused has missed it).
- first-contact resolution (FCR): resolved tickets (as above) with no Escalation and never reopened (no
  status change from resolved/closed back to an open status) ÷ resolved tickets.
- escalation rate: tickets opened in the period that have at least one Escalation ÷ tickets opened.
- time logged per agent: minutes of time entries that started in the period (manual entries and stopped
  timers; a running timer is not counted until stopped), per agent.
- backlog trend: open tickets (created, and not yet resolved/closed) at the end of each bucket — a day for
  a week or month, a month for a year; for a custom range a day up to 31 days, a Monday-based week up to
  184 days, else a month. A ticket that is resolved or closed now counts as done from its resolved_at
  (or closed_at, the earlier); the current bucket shows the backlog now, future buckets none.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, or_, select, true
from sqlalchemy.orm import Session

from core.inputs import supported_day
from people.models import Person
from tickets.models import OPEN_STATUSES, Agent, Conversation, Outcome, Ticket, TicketEvent, TicketStatus
from tickets.ops_models import LINES, Escalation, TimeEntry

PERIODS = ("week", "month", "year")
MAX_RANGE_DAYS = 3 * 366 + 1  # a custom range is at most about three years (keeps a report one quick read)
DEFLECTED = (Outcome.helped.value, Outcome.answered.value)
DONE_STATUSES = (TicketStatus.resolved.value, TicketStatus.closed.value)


class ReportInputError(ValueError):
    """A period the report cannot be computed for (unknown period, bad date, end before start …)."""


@dataclass(frozen=True)
class Period:
    kind: str  # week | month | year | custom
    first_day: date  # local calendar days, both inclusive
    last_day: date
    timezone: str
    bucket: str  # day | week | month: the backlog trend's step
    start: datetime  # UTC instants: [start, end)
    end: datetime

    def boundaries(self) -> list[datetime]:
        """UTC instants where the trend's buckets begin, plus the period's end (len = buckets + 1)."""
        return [_local_midnight(d, self.timezone) for d in self.bucket_days()] + [self.end]

    def bucket_days(self) -> list[date]:
        days, d = [self.first_day], self.first_day + timedelta(days=1)
        while d <= self.last_day:
            if (
                self.bucket == "day"
                or (self.bucket == "week" and d.weekday() == 0)
                or (self.bucket == "month" and d.day == 1)
            ):
                days.append(d)
            d += timedelta(days=1)
        return days


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ReportInputError(f"unknown timezone {name!r} (settings.timezone)") from exc


def _local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(), tzinfo=_zone(tz)).astimezone(timezone.utc)


def parse_day(value: str | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ReportInputError(f"{name} must be a date like 2026-11-16 (YYYY-MM-DD), not {value!r}") from None
    try:
        return supported_day(day, name)
    except ValueError as exc:
        raise ReportInputError(str(exc)) from None


def local_today(tz: str, now: datetime | None = None) -> date:
    return (now or datetime.now(timezone.utc)).astimezone(_zone(tz)).date()


def resolve_period(
    period: str | None,
    start: str | date | None = None,
    end: str | date | None = None,
    *,
    tz: str = "UTC",
    now: datetime | None = None,
) -> Period:
    """The period a manager asked for, in the desk's timezone.

    period=week|month|year: the calendar week (Monday first), month or year that contains `start`
    (default: today) — a start in mid-week means that whole week. With `end` (a day, inclusive) the range is
    exactly start..end and `period` may be omitted; `start` is then required.
    """
    first = start if isinstance(start, date) else parse_day(start, "start")
    last = end if isinstance(end, date) else parse_day(end, "end")
    _zone(tz)
    if last is not None:
        if first is None:
            raise ReportInputError("a range needs start as well as end")
        if period not in (None, "", "custom", *PERIODS):
            raise ReportInputError(f"period must be one of week, month, year (got {period!r})")
        if last < first:
            raise ReportInputError(f"end ({last}) is before start ({first})")
        days = (last - first).days + 1
        if days > MAX_RANGE_DAYS:
            raise ReportInputError(f"a range is at most {MAX_RANGE_DAYS} days (got {days})")
        bucket = "day" if days <= 31 else "week" if days <= 184 else "month"
        kind = "custom"
    else:
        period = period or "week"
        if period not in PERIODS:
            raise ReportInputError(f"period must be one of week, month, year (got {period!r})")
        anchor = first or local_today(tz, now)
        if period == "week":
            first = anchor - timedelta(days=anchor.weekday())
            last = first + timedelta(days=6)
        elif period == "month":
            first = anchor.replace(day=1)
            last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        else:
            first, last = anchor.replace(month=1, day=1), anchor.replace(month=12, day=31)
        bucket, kind = ("month" if period == "year" else "day"), period
    return Period(
        kind=kind,
        first_day=first,
        last_day=last,
        timezone=tz,
        bucket=bucket,
        start=_local_midnight(first, tz),
        end=_local_midnight(last + timedelta(days=1), tz),
    )


# ---- helpers --------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between order statistics at position q·(n−1) (numpy's default method)."""
    if not values:
        return None
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _minutes(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 60


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _in(ts: datetime | None, p: Period) -> bool:
    return ts is not None and p.start <= ts < p.end


def _done_at(
    status: str, resolved_at: datetime | None, closed_at: datetime | None, updated_at: datetime
) -> datetime | None:
    """When a ticket stopped being open (None while it is open)."""
    if status not in DONE_STATUSES:
        return None
    stamps = [t for t in (resolved_at, closed_at) if t is not None]
    return min(stamps) if stamps else updated_at


def _settled(
    done_at: datetime | None, due_at: datetime | None, p: Period, now: datetime, paused_at: datetime | None = None
) -> bool | None:
    """SLA target outcome if it settled in the period: True met, False missed, None not settled here."""
    if due_at is None:
        return None
    if done_at is not None and done_at <= due_at:
        return True if _in(done_at, p) else None
    if done_at is None and paused_at is not None and paused_at < due_at:
        return None  # the clock stopped in time; the due time moves when it resumes
    return False if _in(due_at, p) and due_at <= now else None


# ---- the report -----------------------------------------------------------------------------------------


def summary(
    session: Session, p: Period, now: datetime | None = None, organisation_id: int | None = None
) -> dict[str, Any]:
    """Every metric of the module docstring for period `p`, as plain JSON-ready data; with `organisation_id`, only
    that client organisation's tickets, conversations, escalations and time."""
    now = now or datetime.now(timezone.utc)
    T = Ticket
    # One organisation: every query below keeps only its tickets (true() keeps everything).
    in_scope = T.organisation_id == organisation_id if organisation_id is not None else true()
    rows = session.execute(
        select(
            T.id,
            T.channel,
            T.category,
            T.line,
            T.handoff_reason,
            T.status,
            T.created_at,
            T.first_response_at,
            T.resolved_at,
            T.closed_at,
            T.updated_at,
            T.first_response_due_at,
            T.resolution_due_at,
            T.sla_paused_at,
        )
        # Opened before the end (responses and resolutions come after opening), and not finished before
        # the start: opened, responded, resolved, SLA-settled in the period, or part of its backlog.
        .where(T.created_at < p.end, in_scope)
        .where(
            or_(
                T.created_at >= p.start,
                T.status.in_(OPEN_STATUSES),
                T.first_response_at >= p.start,
                T.resolved_at >= p.start,
                T.closed_at >= p.start,
                T.first_response_due_at >= p.start,
                T.resolution_due_at >= p.start,
                and_(T.resolved_at.is_(None), T.closed_at.is_(None)),
            )
        )
    ).all()
    opened = [r for r in rows if _in(r.created_at, p)]
    resolved = [r for r in rows if _in(r.resolved_at, p)]

    def by(attr: str, keys: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        o, s = Counter(getattr(r, attr) for r in opened), Counter(getattr(r, attr) for r in resolved)
        found = sorted((set(o) | set(s)) - set(keys), key=lambda k: (k is None, -(o[k] + s[k]), str(k)))
        ordered = list(keys) + [k for k in found if k not in keys]
        return [{"key": k, "opened": o[k], "resolved": s[k]} for k in ordered]

    # Escalations: which of the period's tickets ever had one (FCR, escalation rate), and those made in it.
    # Subqueries rather than id lists: a year can hold more tickets than SQLite takes bound parameters.
    opened_or_resolved = or_(
        and_(T.created_at >= p.start, T.created_at < p.end), and_(T.resolved_at >= p.start, T.resolved_at < p.end)
    )
    escalated_ids = set(
        session.scalars(
            select(Escalation.ticket_id)
            .join(T, T.id == Escalation.ticket_id)
            .where(opened_or_resolved, in_scope)
            .distinct()
        )
    )
    esc_in_period = session.execute(
        select(Escalation.kind, Escalation.to_line)
        .join(T, T.id == Escalation.ticket_id)
        .where(Escalation.created_at >= p.start, Escalation.created_at < p.end, in_scope)
    ).all()
    # Reopens: a status change from resolved/closed back to an open status, on a ticket resolved in the period.
    reopened_ids = {
        tid
        for tid, detail in session.execute(
            select(TicketEvent.ticket_id, TicketEvent.detail)
            .join(T, T.id == TicketEvent.ticket_id)
            .where(TicketEvent.action == "status", T.resolved_at >= p.start, T.resolved_at < p.end, in_scope)
        )
        if (detail or {}).get("old") in DONE_STATUSES and (detail or {}).get("new") in OPEN_STATUSES
    }
    first_contact = [r for r in resolved if r.id not in escalated_ids and r.id not in reopened_ids]
    escalated = sum(1 for r in opened if r.id in escalated_ids)

    # Bot: conversations started in the period.
    conv_query = select(Conversation.outcome, Conversation.last_question).where(
        Conversation.created_at >= p.start, Conversation.created_at < p.end
    )
    if organisation_id is not None:  # the organisation's people's conversations
        members = select(Person.id).where(Person.organisation_id == organisation_id)
        conv_query = conv_query.where(Conversation.person_id.in_(members))
    convs = session.execute(conv_query).all()
    with_question = [
        c
        for c in convs
        if c.last_question is not None or (c.outcome is not None and c.outcome != Outcome.abandoned.value)
    ]
    deflected = sum(1 for c in with_question if c.outcome in DEFLECTED)
    outcomes = Counter(c.outcome for c in convs if c.outcome)

    # Times.
    fr_times = [_minutes(r.created_at, r.first_response_at) for r in rows if _in(r.first_response_at, p)]
    res_times = [_minutes(r.created_at, r.resolved_at) for r in resolved]

    def times(values: list[float]) -> dict[str, Any]:
        return {
            "count": len(values),
            "median_minutes": _round(percentile(values, 0.5)),
            "p90_minutes": _round(percentile(values, 0.9)),
        }

    # SLA.
    fr = [_settled(r.first_response_at, r.first_response_due_at, p, now) for r in rows]
    rs = [_settled(r.resolved_at, r.resolution_due_at, p, now, r.sla_paused_at) for r in rows]

    def sla(results: list[bool | None]) -> dict[str, Any]:
        met, total = sum(1 for x in results if x is True), sum(1 for x in results if x is not None)
        return {"met": met, "missed": total - met, "total": total, "compliance": _rate(met, total)}

    # Time logged.
    logged = session.execute(
        select(Agent.id, Agent.name, TimeEntry.minutes)
        .join(Agent, Agent.id == TimeEntry.agent_id)
        .join(T, T.id == TimeEntry.ticket_id)
        .where(
            in_scope,
            TimeEntry.started_at >= p.start,
            TimeEntry.started_at < p.end,
            or_(TimeEntry.source == "manual", TimeEntry.ended_at.is_not(None)),
        )
    ).all()
    per_agent: dict[tuple[int, str], int] = defaultdict(int)
    for agent_id, name, minutes in logged:
        per_agent[(agent_id, name)] += minutes or 0
    time_by_agent = [
        {"agent_id": a, "agent": n, "minutes": m}
        for (a, n), m in sorted(per_agent.items(), key=lambda kv: (-kv[1], kv[0][1]))
    ]

    return {
        "period": p.kind,
        "start": p.first_day.isoformat(),
        "end": p.last_day.isoformat(),
        "timezone": p.timezone,
        "bucket": p.bucket,
        "range_utc": {"start": p.start.isoformat(), "end": p.end.isoformat()},
        "generated_at": now.isoformat(),
        "organisation_id": organisation_id,
        "tickets": {
            "opened": len(opened),
            "resolved": len(resolved),
            "by_channel": by("channel"),
            "by_category": by("category"),
            "by_line": by("line", LINES),
        },
        "bot": {
            "conversations": len(with_question),
            "deflected": deflected,
            "deflection_rate": _rate(deflected, len(with_question)),
            "outcomes": {o.value: outcomes.get(o.value, 0) for o in Outcome},
            "handoff_reasons": dict(
                sorted(Counter(r.handoff_reason for r in opened).items(), key=lambda kv: (-kv[1], kv[0]))
            ),
        },
        "first_response": times(fr_times),
        "resolution": times(res_times),
        "sla": {"first_response": sla(fr), "resolution": sla(rs)},
        "fcr": {
            "resolved": len(resolved),
            "first_contact": len(first_contact),
            "rate": _rate(len(first_contact), len(resolved)),
        },
        "escalation": {
            "opened": len(opened),
            "escalated": escalated,
            "rate": _rate(escalated, len(opened)),
            "in_period": len(esc_in_period),
            "to_line": dict(sorted(Counter(line for _, line in esc_in_period).items())),
        },
        "time_logged": {"total_minutes": sum(per_agent.values()), "by_agent": time_by_agent},
        "trend": _trend(rows, p, now),
    }


def _trend(rows: Iterable[Any], p: Period, now: datetime) -> list[dict[str, Any]]:
    bounds = p.boundaries()
    days = p.bucket_days()
    opened, resolved = [0] * len(days), [0] * len(days)
    for r in rows:
        if _in(r.created_at, p):
            opened[bisect.bisect_right(bounds, r.created_at) - 1] += 1
        if _in(r.resolved_at, p):
            resolved[bisect.bisect_right(bounds, r.resolved_at) - 1] += 1
    spans = [(r.created_at, _done_at(r.status, r.resolved_at, r.closed_at, r.updated_at)) for r in rows]
    out = []
    for i, day in enumerate(days):
        last = (days[i + 1] if i + 1 < len(days) else p.last_day + timedelta(days=1)) - timedelta(days=1)
        if bounds[i] > now:
            backlog = None  # the future has no backlog yet
        else:
            at = min(bounds[i + 1], now)
            backlog = sum(1 for created, done in spans if created < at and (done is None or done >= at))
        out.append(
            {
                "bucket": day.isoformat(),
                "last_day": last.isoformat(),
                "opened": opened[i],
                "resolved": resolved[i],
                "backlog": backlog,
            }
        )
    return out


# ---- export tables --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    name: str  # machine name: CSV section and XLSX sheet title (≤ 31 characters)
    headers: list[str]
    rows: list[list[Any]]


def _label(key: object) -> str:
    return "(none)" if key is None else str(key)


def tables(report: dict[str, Any]) -> list[Table]:
    """A summary as flat tables (one CSV section / XLSX sheet each), numbers as numbers."""
    t, b, sla, esc = report["tickets"], report["bot"], report["sla"], report["escalation"]
    backlog_now = next((x["backlog"] for x in reversed(report["trend"]) if x["backlog"] is not None), None)
    summary_rows = [
        ["period", report["period"]],
        ["start", report["start"]],
        ["end", report["end"]],
        ["timezone", report["timezone"]],
        ["tickets_opened", t["opened"]],
        ["tickets_resolved", t["resolved"]],
        ["conversations_with_question", b["conversations"]],
        ["deflected", b["deflected"]],
        ["deflection_rate", b["deflection_rate"]],
        ["first_response_median_minutes", report["first_response"]["median_minutes"]],
        ["first_response_p90_minutes", report["first_response"]["p90_minutes"]],
        ["resolution_median_minutes", report["resolution"]["median_minutes"]],
        ["resolution_p90_minutes", report["resolution"]["p90_minutes"]],
        ["sla_first_response_compliance", sla["first_response"]["compliance"]],
        ["sla_resolution_compliance", sla["resolution"]["compliance"]],
        ["fcr_rate", report["fcr"]["rate"]],
        ["escalation_rate", esc["rate"]],
        ["time_logged_minutes", report["time_logged"]["total_minutes"]],
        ["backlog_at_end", backlog_now],
    ]

    def dim(rows: list[dict[str, Any]], name: str) -> Table:
        return Table(
            name,
            [name.removeprefix("by_"), "opened", "resolved"],
            [[_label(r["key"]), r["opened"], r["resolved"]] for r in rows],
        )

    return [
        Table("summary", ["metric", "value"], summary_rows),
        dim(t["by_channel"], "by_channel"),
        dim(t["by_category"], "by_category"),
        dim(t["by_line"], "by_line"),
        Table("handoff_reasons", ["reason", "tickets"], [[k, v] for k, v in b["handoff_reasons"].items()]),
        Table("conversation_outcomes", ["outcome", "conversations"], [[k, v] for k, v in b["outcomes"].items()]),
        Table(
            "response_times",
            ["measure", "count", "median_minutes", "p90_minutes"],
            [
                [m, report[m]["count"], report[m]["median_minutes"], report[m]["p90_minutes"]]
                for m in ("first_response", "resolution")
            ],
        ),
        Table(
            "sla",
            ["target", "met", "missed", "total", "compliance"],
            [[k, v["met"], v["missed"], v["total"], v["compliance"]] for k, v in sla.items()],
        ),
        Table("escalations", ["to_line", "escalations"], [[k, v] for k, v in esc["to_line"].items()]),
        Table(
            "time_by_agent",
            ["agent", "minutes"],
            [[a["agent"], a["minutes"]] for a in report["time_logged"]["by_agent"]],
        ),
        Table(
            "trend",
            ["bucket", "last_day", "opened", "resolved", "backlog"],
            [[x["bucket"], x["last_day"], x["opened"], x["resolved"], x["backlog"]] for x in report["trend"]],
        ),
    ]
