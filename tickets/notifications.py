"""Who hears about a ticket change: the user in their channel, staff per their preferences.

- The user: a system message in the ticket's conversation, in the conversation's language. The web chat
  reads it from the transcript; push channels (Telegram, Slack, later email) get it through the outbox,
  which `conversations.add_message` queues. Changes that already speak to the user are not doubled: the agent's
  reply (→ pending_user), and the desk's own notices for claim / resolve / hand back, which the desk
  declares with `user_told(...)`.
- Staff: `OutboxItem(audience="staff")`, one per linked account (Agent.telegram_user_id / slack_user_id)
  allowed by the agent's `NotificationPreference.channels`, with the text in `payload`; plus a
  TicketEvent so the console's history shows who was told. Someone with no linked account gets nothing
  queued: their console shows the ticket.

Everything is queued in the caller's transaction and delivered later with retries, so a failing platform
never blocks the ticket change. A new staff channel (email) plugs in by adding its address column to
`STAFF_ACCOUNTS` and a sender for that channel name.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from tickets import conversations
from tickets.errors import Invalid
from tickets.models import Agent, Conversation, Message, OutboxItem, Role, Ticket, TicketEvent, TicketStatus
from tickets.notification_texts import staff_text, user_text
from tickets.ops_models import AgentGroup, Escalation, NotificationPreference, SkillGroup, TicketParticipant

# Staff channel → the Agent attribute holding that account's address. Email plugs in here.
STAFF_ACCOUNTS: dict[str, str] = {"telegram": "telegram_user_id", "slack": "slack_user_id"}
STAFF_LANG = "en"  # agents have no language setting yet; agents' group posts are English too
OPEN = (TicketStatus.new.value, TicketStatus.open.value, TicketStatus.pending_user.value, TicketStatus.escalated.value)
DONE = (TicketStatus.resolved.value, TicketStatus.closed.value)
SLA_KINDS = ("first_response_risk", "first_response_breach", "resolution_risk", "resolution_breach")
DEFLECTED = ("helped", "answered")

_TOLD = "fl_user_told"  # session.info: {(ticket id, status)} whose user notice the caller posts itself
_TX = "fl_notices"  # session.info: user notices posted in the current transaction {(ticket id, kind): Message}


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_transaction(session: Session) -> None:
    session.info.pop(_TX, None)


# -- preferences ------------------------------------------------------------------------------------
def preferences(session: Session, agent_id: int) -> NotificationPreference:
    """The agent's preferences; the defaults (not stored) when they never saved any."""
    pref = session.get(NotificationPreference, agent_id)
    if pref is None:
        pref = NotificationPreference(
            agent_id=agent_id, escalations=True, breaches=True, status_changes=False, daily_digest=True, channels=[]
        )
    return pref


def save_preferences(session: Session, agent_id: int, **changes: Any) -> NotificationPreference:
    """Store the given fields (escalations, breaches, status_changes, daily_digest, channels)."""
    unknown = [c for c in changes.get("channels") or [] if c not in STAFF_ACCOUNTS]
    if unknown:
        raise Invalid(f"unknown channel {', '.join(map(str, unknown))}: use {', '.join(STAFF_ACCOUNTS)}")
    pref = session.get(NotificationPreference, agent_id)
    if pref is None:
        pref = preferences(session, agent_id)
        session.add(pref)
    for key, value in changes.items():
        if value is not None:
            setattr(pref, key, list(dict.fromkeys(value)) if key == "channels" else value)
    session.flush()
    return pref


def linked_channels(agent: Agent) -> dict[str, str]:
    """The staff channels this agent can be reached on, with their address there."""
    return {ch: str(getattr(agent, attr)) for ch, attr in STAFF_ACCOUNTS.items() if getattr(agent, attr, None)}


# -- the user's side --------------------------------------------------------------------------------
@contextmanager
def user_told(session: Session, number: int, *statuses: str) -> Iterator[None]:
    """Within this block, a change of ticket `number` to one of `statuses` is announced to the user by the
    caller itself (e.g. the desk's "agent joined"), so status_changed posts no second notice."""
    marks: set[tuple[int, str]] = session.info.setdefault(_TOLD, set())
    added = {(number, s) for s in statuses} - marks
    marks |= added
    try:
        yield
    finally:
        marks -= added


def _conversation(session: Session, ticket: Ticket) -> Conversation | None:
    return session.get(Conversation, ticket.conversation_id)


def _last_message(session: Session, conv: Conversation) -> Message | None:
    return session.scalar(
        select(Message).where(Message.conversation_id == conv.id).order_by(Message.id.desc()).limit(1)
    )


def _post_user(
    session: Session, ticket: Ticket, kind: str, text_for: Callable[[str], str], **payload: object
) -> Message | None:
    conv = _conversation(session, ticket)
    if conv is None:
        return None
    msg = conversations.add_message(session, conv, "system", text_for(conv.lang), payload={"kind": kind, **payload})
    session.info.setdefault(_TX, {})[(ticket.id, kind)] = msg
    return msg


def _posted(session: Session, ticket: Ticket, kind: str) -> Message | None:
    """The user notice of this kind posted for the ticket in the current transaction, if any (and still
    there: a rolled-back savepoint takes it away)."""
    msg = session.info.get(_TX, {}).get((ticket.id, kind))
    return msg if msg is not None and msg in session else None


def _user_notice_kind(session: Session, ticket: Ticket, old: str, new: str, actor: str) -> str | None:
    """Which notice a status change deserves, or None when the change already speaks to the user."""
    if (ticket.id, new) in session.info.get(_TOLD, ()):
        return None
    if new == TicketStatus.escalated.value:
        return "escalated"
    if old in DONE and new in OPEN:
        return "reopened"
    if new == TicketStatus.pending_user.value:
        conv = _conversation(session, ticket)
        last = _last_message(session, conv) if conv is not None else None
        # An agent's reply is what moved the ticket to pending_user: it speaks for itself.
        return None if last is not None and last.author == "agent" else "waiting"
    if new == TicketStatus.resolved.value:
        return "resolved"
    if new == TicketStatus.closed.value:
        return "closed_after_resolved" if old == TicketStatus.resolved.value else "closed"
    if new == TicketStatus.open.value:
        if actor.startswith("user:"):
            return None  # the user's own message reopened the conversation
        claimed = ticket.assignee_id is not None and actor == f"agent:{ticket.assignee_id}"
        if old == TicketStatus.escalated.value and not claimed:
            return "returned"
        return "in_progress"
    if new == TicketStatus.new.value:
        return "returned" if old == TicketStatus.escalated.value else "requeued"
    return None


def _escalation_target(session: Session, lang: str, line: str, group_id: int | None) -> str:
    group = session.get(SkillGroup, group_id) if group_id else None
    if group is not None:
        return user_text(lang, "to_group", group=group.name)
    return user_text(lang, f"to_{line}" if line in ("L1", "L2", "L3") else "to_L1")


def _tell_user_escalated(
    session: Session, ticket: Ticket, line: str, group_id: int | None, escalation_id: int | None = None
) -> None:
    """One escalation notice per escalation: when status_changed already posted one in this transaction,
    escalated() only completes it with the escalation's details (it is not delivered before commit)."""

    def text_for(lang: str) -> str:
        return user_text(lang, "escalated", number=ticket.id, target=_escalation_target(session, lang, line, group_id))

    payload = {"line": line, "group_id": group_id, "escalation_id": escalation_id}
    posted = _posted(session, ticket, "escalated")
    if posted is not None:
        conv = session.get(Conversation, posted.conversation_id)
        posted.text = text_for(conv.lang if conv else "en")
        posted.payload = {**(posted.payload or {}), **payload}
        return
    _post_user(session, ticket, "escalated", text_for, **payload)


def _tell_user(session: Session, ticket: Ticket, kind: str) -> None:
    if kind == "escalated":
        _tell_user_escalated(session, ticket, ticket.line, ticket.group_id)
        return
    if kind == "resolved":

        def text_for(lang: str) -> str:
            head = (
                user_text(lang, "resolved", number=ticket.id, resolution=ticket.resolution)
                if ticket.resolution
                else user_text(lang, "resolved_plain", number=ticket.id)
            )
            return f"{head}\n{user_text(lang, 'resolved_footer')}"
    else:

        def text_for(lang: str) -> str:
            return user_text(lang, kind, number=ticket.id)

    _post_user(session, ticket, kind, text_for)


# -- staff ------------------------------------------------------------------------------------------
def _agent_id(actor: str | None) -> int | None:
    if actor and actor.startswith("agent:"):
        try:
            return int(actor.split(":", 1)[1])
        except ValueError:
            return None
    return None


def _actor_label(session: Session, actor: str | None, lang: str) -> str:
    agent_id = _agent_id(actor)
    if agent_id is not None:
        agent = session.get(Agent, agent_id)
        return agent.name if agent else str(actor)
    if actor and actor.startswith("user:"):
        return staff_text(lang, "actor_user")
    return staff_text(lang, "actor_system")


def _managers(session: Session) -> list[Agent]:
    return list(
        session.scalars(
            select(Agent).where(Agent.role == Role.manager.value, Agent.active.is_(True)).order_by(Agent.id)
        )
    )


def _line_agents(session: Session, line: str, group_id: int | None = None) -> list[Agent]:
    """The agents who work a line, or a skill group's members when the ticket is in a group."""
    if group_id:
        q = select(Agent).join(AgentGroup, AgentGroup.agent_id == Agent.id).where(AgentGroup.group_id == group_id)
    else:
        q = select(Agent).where(Agent.role == line.lower())
    return list(session.scalars(q.where(Agent.active.is_(True)).order_by(Agent.id)))


def _ticket_staff(session: Session, ticket: Ticket) -> list[Agent]:
    """The assignee and the ticket's participants."""
    ids = [ticket.assignee_id] if ticket.assignee_id else []
    ids += list(session.scalars(select(TicketParticipant.agent_id).where(TicketParticipant.ticket_id == ticket.id)))
    return [a for a in (session.get(Agent, i) for i in dict.fromkeys(ids)) if a is not None and a.active]


def _queue_staff(
    session: Session,
    recipients: Iterable[Agent],
    wants: str | None,
    event: str,
    ticket: Ticket | None,
    text_for: Callable[[str], str],
    *,
    skip_actor: str | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    """Queue one notice per linked account of each recipient whose preference `wants` is on (None: no
    preference gates it). Returns how many were queued; the ticket's history records who was told."""
    skip = _agent_id(skip_actor)
    told: list[str] = []
    queued = 0
    for agent in dict.fromkeys(recipients):  # an agent who is both manager and assignee is told once
        if agent.id == skip:
            continue  # nobody is told about their own change
        pref = preferences(session, agent.id)
        if wants is not None and not getattr(pref, wants):
            continue
        accounts = linked_channels(agent)
        channels = [c for c in accounts if not pref.channels or c in pref.channels]
        if not channels:
            continue
        text = text_for(STAFF_LANG)
        for channel in channels:
            session.add(
                OutboxItem(
                    audience="staff",
                    channel=channel,
                    event=event,
                    agent_id=agent.id,
                    ticket_id=ticket.id if ticket is not None else None,
                    payload={"text": text, "lang": STAFF_LANG, **(extra or {})},
                )
            )
            queued += 1
        told.append(agent.name)
    if told and ticket is not None:
        session.add(
            TicketEvent(ticket_id=ticket.id, actor="system", action="notified", detail={"event": event, "to": told})
        )
    return queued


def _status_label(lang: str, status: str) -> str:
    return staff_text(lang, f"st_{status}") if f"st_{status}" in _STATUS_KEYS else status


def _priority_label(lang: str, priority: str) -> str:
    return staff_text(lang, f"p_{priority}") if f"p_{priority}" in _PRIORITY_KEYS else priority


_STATUS_KEYS = {f"st_{s.value}" for s in TicketStatus}
_PRIORITY_KEYS = {"p_low", "p_normal", "p_high", "p_critical"}


def _subject(ticket: Ticket) -> str:
    s = " ".join((ticket.subject or "").split())
    return s if len(s) <= 80 else s[:79] + "…"


# -- the hooks tickets.service and the other modules call -------------------------------------------
def status_changed(session: Session, ticket: Ticket, old: str, new: str, actor: str) -> None:
    """Every status change: tell the user (unless the change already speaks to them) and the staff who
    asked for status changes (managers, or the ticket's own agents). Escalations are told by escalated()."""
    if old == new:
        return
    kind = _user_notice_kind(session, ticket, old, new, actor)
    if kind in ("escalated", "returned") and _posted(session, ticket, kind) is not None:
        kind = None  # escalated() / returned() ran first and already told the user
    if kind is not None:
        _tell_user(session, ticket, kind)
    if new == TicketStatus.escalated.value:
        return  # staff hear of escalations through their `escalations` preference
    told_back = None
    if old == TicketStatus.escalated.value:
        esc = _last_return(session, ticket)
        if esc is not None and esc.returned_by == actor:
            told_back = _tell_returned_staff(session, ticket, esc)
    recipients = [a for a in [*_managers(session), *_ticket_staff(session, ticket)] if a.id != told_back]
    _queue_staff(
        session,
        recipients,
        "status_changes",
        "status_changed",
        ticket,
        lambda lang: staff_text(
            lang,
            "status_changed",
            number=ticket.id,
            subject=_subject(ticket),
            old=_status_label(lang, old),
            new=_status_label(lang, new),
            by=_actor_label(session, actor, lang),
        ),
        skip_actor=actor,
        extra={"old": old, "new": new},
    )


def _last_return(session: Session, ticket: Ticket) -> Escalation | None:
    return session.scalar(
        select(Escalation)
        .where(Escalation.ticket_id == ticket.id, Escalation.returned_at.is_not(None))
        .order_by(Escalation.returned_at.desc(), Escalation.id.desc())
        .limit(1)
    )


def _tell_returned_staff(session: Session, ticket: Ticket, esc: Escalation) -> int | None:
    """The agent the ticket went back to hears the answer (their `escalations` preference), once per
    transaction. Returns that agent's id when they were told."""
    notes: dict[tuple[int, str], Any] = session.info.setdefault(_TX, {})
    key = (ticket.id, "returned_staff")
    if key in notes:
        told: int | None = notes[key]
        return told
    holder = session.get(Agent, ticket.assignee_id) if ticket.assignee_id else None
    notes[key] = None
    if holder is None:
        return None

    def text_for(lang: str) -> str:
        return staff_text(
            lang,
            "returned",
            number=ticket.id,
            subject=_subject(ticket),
            line=esc.to_line,
            by=_actor_label(session, esc.returned_by, lang),
            answer=(esc.answer or "").strip(),
        )

    queued = _queue_staff(
        session,
        [holder],
        "escalations",
        "escalation_returned",
        ticket,
        text_for,
        skip_actor=esc.returned_by,
        extra={"escalation_id": esc.id},
    )
    notes[key] = holder.id if queued else None
    return holder.id if queued else None


def returned(session: Session, ticket: Ticket, escalation: Escalation) -> None:
    """The escalated line answered (tickets.escalation.return_to_sender): the user hears that the service
    desk continues, the agent it went back to gets the answer. A return often changes no status (the
    next line had already taken it: open → open), so status_changed alone cannot tell; called together
    with it, each is told once."""
    if _posted(session, ticket, "returned") is None:
        _tell_user(session, ticket, "returned")
    _tell_returned_staff(session, ticket, escalation)


def escalated(session: Session, ticket: Ticket, escalation: Escalation) -> None:
    """A ticket moved to another line or group: the user learns they keep their place; managers who want
    escalations and the agents of the target line/group get a notice."""
    _tell_user_escalated(session, ticket, escalation.to_line, escalation.to_group_id, escalation.id)
    group = session.get(SkillGroup, escalation.to_group_id) if escalation.to_group_id else None

    def text_for(lang: str) -> str:
        route = (
            staff_text(
                lang, "route_group", from_line=escalation.from_line, to_line=escalation.to_line, group=group.name
            )
            if group is not None
            else staff_text(lang, "route_line", from_line=escalation.from_line, to_line=escalation.to_line)
        )
        by = (
            _actor_label(session, escalation.by, lang)
            if _agent_id(escalation.by) is not None
            else staff_text(lang, "by_system")
        )
        note = staff_text(lang, "escalated_note", note=escalation.note.strip()) if escalation.note.strip() else ""
        return staff_text(
            lang,
            "escalated",
            number=ticket.id,
            subject=_subject(ticket),
            route=route,
            by=by,
            priority=_priority_label(lang, ticket.priority),
            note=note,
        )

    recipients = [*_managers(session), *_line_agents(session, escalation.to_line, escalation.to_group_id)]
    _queue_staff(
        session,
        recipients,
        "escalations",
        "escalated",
        ticket,
        text_for,
        skip_actor=escalation.by,
        extra={"escalation_id": escalation.id},
    )


def sla_event(session: Session, ticket: Ticket, kind: str) -> int:
    """An SLA warning or breach: the assignee (or, when nobody has it, the agents of its line/group) and
    the managers who want breaches. Returns the notices queued."""
    if kind not in SLA_KINDS:
        raise Invalid(f"unknown SLA event {kind!r}: use {', '.join(SLA_KINDS)}")
    due = ticket.first_response_due_at if kind.startswith("first_response") else ticket.resolution_due_at
    assignee = session.get(Agent, ticket.assignee_id) if ticket.assignee_id else None
    handlers = [assignee] if assignee is not None else _line_agents(session, ticket.line, ticket.group_id)

    def text_for(lang: str) -> str:
        who = (
            staff_text(lang, "assigned", agent=assignee.name)
            if assignee is not None
            else staff_text(lang, "unassigned")
        )
        when = due.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if due else "?"
        return staff_text(
            lang,
            kind,
            number=ticket.id,
            subject=_subject(ticket),
            due=when,
            priority=_priority_label(lang, ticket.priority),
            line=ticket.line,
            who=who,
        )

    return _queue_staff(
        session, [*handlers, *_managers(session)], "breaches", f"sla_{kind}", ticket, text_for, extra={"kind": kind}
    )


def priority_changed(session: Session, ticket: Ticket, old: str, actor: str) -> None:
    """A new priority: staff who follow status changes hear of it; a raise to critical reaches the managers
    who want escalations too (it is one, in urgency)."""
    if old == ticket.priority:
        return

    def text_for(lang: str) -> str:
        return staff_text(
            lang,
            "priority_changed",
            number=ticket.id,
            subject=_subject(ticket),
            old=_priority_label(lang, old),
            new=_priority_label(lang, ticket.priority),
            by=_actor_label(session, actor, lang),
        )

    followers = [
        a
        for a in [*_managers(session), *_ticket_staff(session, ticket)]
        if preferences(session, a.id).status_changes
        or (ticket.priority == "critical" and a.role == Role.manager.value and preferences(session, a.id).escalations)
    ]
    _queue_staff(
        session,
        followers,
        None,
        "priority_changed",
        ticket,
        text_for,
        skip_actor=actor,
        extra={"old": old, "new": ticket.priority},
    )


# -- the daily digest -------------------------------------------------------------------------------
def _day_window(day: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def digest_numbers(session: Session, day: date, tz: str = "UTC") -> dict[str, Any]:
    """The day's numbers: tickets opened and resolved, SLA breaches, bot deflection, open backlog by line."""
    start, end = _day_window(day, tz)
    opened = (
        session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.created_at >= start, Ticket.created_at < end)
        )
        or 0
    )
    resolved = (
        session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.resolved_at >= start, Ticket.resolved_at < end)
        )
        or 0
    )
    breaches = sum(
        session.scalar(select(func.count()).select_from(Ticket).where(col >= start, col < end)) or 0
        for col in (Ticket.first_response_breached_at, Ticket.resolution_breached_at)
    )
    outcomes = Counter(
        session.scalars(
            select(Conversation.outcome).where(
                Conversation.created_at >= start, Conversation.created_at < end, Conversation.outcome.is_not(None)
            )
        )
    )
    finished = sum(outcomes.values())
    backlog = {"L1": 0, "L2": 0, "L3": 0} | dict(
        session.execute(select(Ticket.line, func.count()).where(Ticket.status.in_(OPEN)).group_by(Ticket.line)).all()
    )
    return {
        "day": day.isoformat(),
        "opened": opened,
        "resolved": resolved,
        "breaches": breaches,
        "conversations": finished,
        "deflection": round(sum(outcomes[o] for o in DEFLECTED) / finished, 4) if finished else None,
        "backlog": backlog,
    }


def daily_digest(session: Session, day: date, tz: str = "UTC") -> int:
    """One digest of `day` (the day reported on: the scheduler passes yesterday) per manager who wants it.
    Calling it again for the same day queues nothing new. Returns the notices queued."""
    numbers = digest_numbers(session, day, tz)
    # Digest notices are few (one per manager a day): a second run for the same day is recognised by them.
    sent_for_day = {
        i.agent_id
        for i in session.scalars(
            select(OutboxItem).where(OutboxItem.audience == "staff", OutboxItem.event == "daily_digest")
        )
        if (i.payload or {}).get("day") == numbers["day"]
    }

    def text_for(lang: str) -> str:
        rate = numbers["deflection"]
        backlog = " · ".join(f"{line} {n}" for line, n in sorted(numbers["backlog"].items()))
        return staff_text(
            lang,
            "digest",
            day=numbers["day"],
            opened=numbers["opened"],
            resolved=numbers["resolved"],
            breaches=numbers["breaches"],
            deflection=f"{rate:.0%}" if rate is not None else staff_text(lang, "digest_none"),
            conversations=numbers["conversations"],
            backlog=backlog,
        )

    managers = [m for m in _managers(session) if m.id not in sent_for_day]
    return _queue_staff(
        session,
        managers,
        "daily_digest",
        "daily_digest",
        None,
        text_for,
        extra={"day": numbers["day"], "numbers": numbers},
    )


__all__ = [
    "status_changed",
    "escalated",
    "returned",
    "sla_event",
    "priority_changed",
    "daily_digest",
    "digest_numbers",
    "preferences",
    "save_preferences",
    "linked_channels",
    "user_told",
]
