"""The ticket lifecycle: open, claim, reply, escalate, resolve, hand back, list. Each takes the caller's session;
the caller commits. Conversations and their messages are `tickets.conversations`.

Every ticket change writes an audit event. State changes that can race (two agents claiming one
ticket) are single conditional UPDATEs, so exactly one transaction wins on any database.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.db import rowcount, utcnow
from people.identify import identity_kind, person_of
from people.models import Organisation
from tickets import notifications, requesters, routing, sla, sla_clock
from tickets.conversations import add_message, close_conversation, message_by_platform_id
from tickets.errors import Conflict, Forbidden, Invalid, NotFound, TicketError
from tickets.models import (
    OPEN_STATUSES,
    Agent,
    Conversation,
    ConversationState,
    Message,
    OutboxItem,
    Outcome,
    Role,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from tickets.ops_models import PRIORITIES, TicketParticipant

__all__ = ["Conflict", "Forbidden", "Invalid", "NotFound", "TicketError"]  # re-exported: callers catch these here


def notify_agents(
    session: Session, channels: list[str] | tuple[str, ...], ticket: Ticket, event: str, message_id: int | None = None
) -> None:
    """Queue a ticket event for each configured agents' channel (Telegram group, Slack channel)."""
    for channel in channels:
        session.add(
            OutboxItem(audience="agents", channel=channel, event=event, ticket_id=ticket.id, message_id=message_id)
        )


# -- tickets ----------------------------------------------------------------------------------
def record(session: Session, ticket: Ticket, actor: str, action: str, **detail: Any) -> None:
    session.add(TicketEvent(ticket_id=ticket.id, actor=actor, action=action, detail=detail))


def set_status(session: Session, ticket: Ticket, new: str, actor: str) -> str:
    """The one way a ticket's status changes: SLA clocks follow (pause/resume) and everyone who should
    hear about it is notified (tickets.notifications). Returns the old status."""
    old = ticket.status
    if old != new:
        ticket.status = new
        status_changed(session, ticket, old, new, actor)
    return old


def status_changed(session: Session, ticket: Ticket, old: str, new: str, actor: str) -> None:
    """For a status already written (e.g. by a conditional UPDATE): run the same follow-ups as set_status."""
    sla.status_changed(session, ticket, old, new)
    notifications.status_changed(session, ticket, old, new, actor)
    record(session, ticket, actor, "status", old=old, new=new)


def open_ticket(
    session: Session,
    conv: Conversation,
    *,
    reason: str,
    question: str,
    bot_tried: list[dict[str, Any]],
    article_tags: Iterable[str] | None = None,
    priority: str = "normal",
) -> Ticket:
    """A new ticket on L1, routed by category when the tags of the articles the bot tried (`article_tags`,
    looked up by the caller: tickets does not read the knowledge base) match exactly one category. `priority`:
    where it starts (a safety hazard starts critical); a VIP requester raises a lower one."""
    subject = " ".join(question.split())[:120] or NO_DESCRIPTION
    ticket = Ticket(
        conversation_id=conv.id,
        requester=conv.user_ref,
        channel=conv.channel,
        subject=subject,
        question=question,
        status=TicketStatus.new.value,
        handoff_reason=reason,
        bot_tried=bot_tried,
        line="L1",
        priority=priority,
    )
    session.add(ticket)
    session.flush()
    record(session, ticket, "bot", "opened", reason=reason, bot_tried=bot_tried)
    cat = routing.route_new_ticket(session, ticket, article_tags)
    if cat is not None:  # before the SLA clock starts: a policy may be per category
        record(session, ticket, "bot", "routed", category=cat.slug, line=ticket.line, group_id=ticket.group_id)
    # The requester's organisation picks the SLA contract and calendar; a VIP starts higher.
    for note in requesters.apply_to_new_ticket(session, ticket, conv):
        record(session, ticket, "bot", note, priority=ticket.priority, group_id=ticket.group_id)
    sla.ticket_opened(session, ticket)
    conv.state = ConversationState.waiting_for_agent.value
    conv.outcome = Outcome.handed_off.value
    conv.handoff_reason = reason
    return ticket


# The subject of a ticket opened before the user said what is wrong ("/human", "talk to a person"); their next
# message replaces it.
NO_DESCRIPTION = "(no description yet)"


def get_ticket(session: Session, number: int) -> Ticket:
    ticket = session.get(Ticket, number)
    if ticket is None:
        raise NotFound(f"ticket #{number} does not exist")
    return ticket


def ticket_for_conversation(session: Session, conversation_id: int) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.conversation_id == conversation_id).order_by(Ticket.id.desc()))


# -- who works on a ticket ------------------------------------------------------------------
def is_participant(session: Session, ticket: Ticket, agent: Agent) -> bool:
    return (
        session.scalar(
            select(TicketParticipant.id).where(
                TicketParticipant.ticket_id == ticket.id, TicketParticipant.agent_id == agent.id
            )
        )
        is not None
    )


def is_handler(session: Session, ticket: Ticket, agent: Agent) -> bool:
    """The assignee, a participant (a team on one ticket) or a manager."""
    return agent.role == Role.manager.value or ticket.assignee_id == agent.id or is_participant(session, ticket, agent)


def require_open(ticket: Ticket) -> None:
    if ticket.status in (TicketStatus.resolved.value, TicketStatus.closed.value):
        raise Conflict(f"ticket #{ticket.id} is already {ticket.status}")


def lock_ticket(session: Session, number: int) -> None:
    """Row locks in the order a user's chat message takes them (its conversation, then its ticket), so an
    agent's action and a user's message on the same ticket queue instead of deadlocking (PostgreSQL; SQLite
    runs one writer at a time and renders no FOR UPDATE)."""
    conv_id = session.scalar(select(Ticket.conversation_id).where(Ticket.id == number))
    if conv_id is None:
        return
    session.execute(select(Conversation.id).where(Conversation.id == conv_id).with_for_update())
    session.execute(select(Ticket.id).where(Ticket.id == number).with_for_update())


def _require_handler(session: Session, ticket: Ticket, agent: Agent) -> None:
    require_open(ticket)
    if not is_handler(session, ticket, agent):
        raise Forbidden(f"ticket #{ticket.id} is assigned to another agent; claim it first")


def participants(session: Session, number: int) -> list[Agent]:
    return list(
        session.scalars(
            select(Agent)
            .join(TicketParticipant, TicketParticipant.agent_id == Agent.id)
            .where(TicketParticipant.ticket_id == number)
            .order_by(TicketParticipant.id)
        )
    )


def add_participant(session: Session, ticket: Ticket, agent_id: int, by: str) -> bool:
    """Add an agent to the ticket's team; False when they already were on it."""
    member = session.get(Agent, agent_id)
    if member is None or not member.active:
        raise NotFound(f"agent {agent_id} does not exist or is deactivated")
    if is_participant(session, ticket, member):
        return False
    session.add(TicketParticipant(ticket_id=ticket.id, agent_id=agent_id, added_by=by))
    session.flush()
    record(session, ticket, by, "participant_added", agent=member.name, agent_id=agent_id)
    return True


def remove_participant(session: Session, ticket: Ticket, agent_id: int, by: str) -> bool:
    row = session.scalar(
        select(TicketParticipant).where(
            TicketParticipant.ticket_id == ticket.id, TicketParticipant.agent_id == agent_id
        )
    )
    if row is None:
        return False
    session.delete(row)
    session.flush()
    record(session, ticket, by, "participant_removed", agent_id=agent_id)
    return True


def add_team_member(session: Session, number: int, actor: Agent, agent_id: int) -> Ticket:
    """The ticket's holder (or a participant, or a manager) brings another agent onto the ticket."""
    ticket = get_ticket(session, number)
    _require_handler(session, ticket, actor)
    if agent_id == ticket.assignee_id:
        raise Conflict(f"agent {agent_id} already holds ticket #{number}")
    add_participant(session, ticket, agent_id, f"agent:{actor.id}")
    return ticket


def remove_team_member(session: Session, number: int, actor: Agent, agent_id: int) -> Ticket:
    """Holders and managers remove anyone; a participant may leave by removing themselves."""
    ticket = get_ticket(session, number)
    if actor.id != agent_id and actor.role != Role.manager.value and ticket.assignee_id != actor.id:
        raise Forbidden(f"only the agent holding ticket #{number} or a manager can remove others from it")
    if not remove_participant(session, ticket, agent_id, f"agent:{actor.id}"):
        raise NotFound(f"agent {agent_id} is not a participant of ticket #{number}")
    return ticket


def claim_ticket(session: Session, number: int, agent: Agent) -> Ticket:
    """Assign an unassigned ticket to `agent` if its line and group allow. Exactly one of several concurrent
    claims wins: the eligibility is part of the one conditional UPDATE, so an escalation in between counts."""
    lock_ticket(session, number)
    now = utcnow()
    old_status = session.scalar(select(Ticket.status).where(Ticket.id == number))
    if old_status is None:
        raise NotFound(f"ticket #{number} does not exist")
    eligible = []
    if agent.role != Role.manager.value:
        eligible = [
            Ticket.line.in_(routing.lines_for(agent)),
            or_(Ticket.group_id.is_(None), Ticket.group_id.in_(routing.agent_group_ids(session, agent.id))),
        ]
    won = rowcount(
        session.execute(
            update(Ticket)
            .where(Ticket.id == number, Ticket.assignee_id.is_(None), Ticket.status.in_(OPEN_STATUSES), *eligible)
            .values(assignee_id=agent.id, status=TicketStatus.open.value, claimed_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    ticket = get_ticket(session, number)
    session.refresh(ticket)
    if not won:
        if ticket.assignee_id == agent.id:
            return ticket  # claiming your own ticket again is harmless
        if ticket.assignee_id is not None:
            raise Conflict(f"ticket #{number} was already claimed by another agent")
        if ticket.status not in OPEN_STATUSES:
            raise Conflict(f"ticket #{number} is {ticket.status} and cannot be claimed")
        refusal = routing.claim_refusal(session, ticket, agent)
        raise Forbidden(refusal) if refusal else Conflict(f"ticket #{number} changed meanwhile; try again")
    conv = session.get_one(Conversation, ticket.conversation_id)
    conv.state = ConversationState.with_agent.value
    record(session, ticket, f"agent:{agent.id}", "claimed", agent=agent.name)
    if old_status != ticket.status:
        status_changed(session, ticket, old_status, ticket.status, f"agent:{agent.id}")
    return ticket


def agent_message(
    session: Session, number: int, agent: Agent, text: str, *, source: str = "api", platform_msg_id: str | None = None
) -> tuple[Ticket, Message]:
    """An agent's reply to the user. `source` says where the agent wrote it (api, telegram, slack), so
    that channel is not sent its own message back; `platform_msg_id` makes a redelivery a no-op."""
    lock_ticket(session, number)
    ticket = get_ticket(session, number)
    if platform_msg_id:
        seen = message_by_platform_id(session, platform_msg_id, f"agent:{agent.id}")
        if seen is not None:
            return ticket, seen
    _require_handler(session, ticket, agent)
    conv = session.get_one(Conversation, ticket.conversation_id)
    msg = add_message(
        session,
        conv,
        "agent",
        text,
        agent_id=agent.id,
        platform_msg_id=platform_msg_id,
        payload={"agent": agent.name, "source": source},
    )
    if ticket.first_response_at is None:
        ticket.first_response_at = utcnow()
    record(session, ticket, f"agent:{agent.id}", "replied", message_id=msg.id)
    set_status(session, ticket, TicketStatus.pending_user.value, f"agent:{agent.id}")
    return ticket, msg


def user_message_on_ticket(session: Session, conv: Conversation, msg: Message) -> Ticket | None:
    ticket = ticket_for_conversation(session, conv.id)
    if ticket is None:
        return None
    actor = f"user:{conv.channel}:{conv.user_ref}"
    record(session, ticket, actor, "user_message", message_id=msg.id)
    said = " ".join((msg.text or "").split())
    if ticket.subject == NO_DESCRIPTION and said and not said.startswith("[") and not (msg.payload or {}).get("action"):
        # Asked for a person before saying what is wrong: their first words are what the ticket is about.
        ticket.subject, ticket.question = said[:120], msg.text
        record(session, ticket, actor, "described")
    if ticket.status == TicketStatus.pending_user.value:
        set_status(session, ticket, TicketStatus.open.value, actor)
    ticket.updated_at = utcnow()
    return ticket


def resolve_ticket(
    session: Session, number: int, agent: Agent, resolution: str, articles: list[str] | None = None
) -> tuple[Ticket, Conversation]:
    lock_ticket(session, number)
    ticket = get_ticket(session, number)
    _require_handler(session, ticket, agent)
    now = utcnow()
    ticket.resolution, ticket.resolved_at = resolution, now
    ticket.linked_articles = list(articles or [])
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    conv = session.get_one(Conversation, ticket.conversation_id)
    close_conversation(session, conv, Outcome.resolved_by_agent, ConversationState.resolved.value)
    record(session, ticket, f"agent:{agent.id}", "resolved", resolution=resolution, articles=ticket.linked_articles)
    set_status(session, ticket, TicketStatus.resolved.value, f"agent:{agent.id}")
    return ticket, conv


def hand_back(session: Session, number: int, agent: Agent, note: str = "") -> tuple[Ticket, Conversation]:
    """The agent returns the user to the bot; the ticket closes, the next message starts afresh with the bot."""
    lock_ticket(session, number)
    ticket = get_ticket(session, number)
    _require_handler(session, ticket, agent)
    ticket.closed_at = utcnow()
    ticket.resolution = ticket.resolution or (note or "handed back to the bot")
    conv = session.get_one(Conversation, ticket.conversation_id)
    close_conversation(session, conv, Outcome.handed_back, ConversationState.bot.value)
    record(session, ticket, f"agent:{agent.id}", "handed_back", note=note)
    set_status(session, ticket, TicketStatus.closed.value, f"agent:{agent.id}")
    return ticket, conv


class _Unset(enum.Enum):
    token = 0


UNSET = _Unset.token  # "not in the request" (None means "clear it")


def update_ticket(
    session: Session,
    number: int,
    agent: Agent,
    *,
    priority: str | _Unset = UNSET,
    category: str | None | _Unset = UNSET,
    group: str | None | _Unset = UNSET,
) -> Ticket:
    """Change priority, category or group. A new category re-routes the ticket (line and group) while it
    still waits on L1 for someone to take it; later it is only recorded (the ticket stays where it is)."""
    ticket = get_ticket(session, number)
    actor = f"agent:{agent.id}"
    # Triage: anyone who could take the waiting ticket may set these; else its holders and managers.
    if not is_handler(session, ticket, agent) and not (
        ticket.assignee_id is None and routing.claim_refusal(session, ticket, agent) is None
    ):
        raise Forbidden(f"ticket #{number} is held by another agent; only they or a manager can change it")
    if priority is not UNSET or group is not UNSET:
        require_open(ticket)
    if priority is not UNSET and priority != ticket.priority:
        if priority not in PRIORITIES:
            raise Invalid(f"unknown priority {priority!r}: use {', '.join(PRIORITIES)}")
        old = ticket.priority
        ticket.priority = priority
        record(session, ticket, actor, "priority", old=old, new=priority)
        sla.priority_changed(session, ticket, old)
        notifications.priority_changed(session, ticket, old, actor)
    if category is not UNSET and category != ticket.category:
        old_cat = ticket.category
        if category is None:
            ticket.category = None
            record(session, ticket, actor, "category", old=old_cat, new=None, rerouted=False)
        else:
            cat = routing.category_by_slug(session, category)
            reroute = ticket.line == "L1" and ticket.assignee_id is None and ticket.status in OPEN_STATUSES
            if reroute:
                routing.route_to_category(ticket, cat)
            else:
                ticket.category = cat.slug
            record(
                session,
                ticket,
                actor,
                "category",
                old=old_cat,
                new=cat.slug,
                rerouted=reroute,
                line=ticket.line,
                group_id=ticket.group_id,
            )
        if ticket.status in OPEN_STATUSES:
            sla.priority_changed(session, ticket, ticket.priority)  # a category may have its own SLA policy
    if group is not UNSET:
        group_id = routing.group_by_slug(session, group).id if group else None
        if group_id != ticket.group_id:
            old_group = ticket.group_id
            ticket.group_id = group_id
            record(session, ticket, actor, "group", old_group_id=old_group, new=group)
    ticket.updated_at = utcnow()
    session.flush()
    return ticket


SLA_FILTERS = ("at_risk", "breached")
SORTS = ("newest", "sla")


def list_tickets(
    session: Session,
    *,
    status: list[str] | None = None,
    line: str | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    requester: tuple[str, str] | None = None,
    person_id: int | None = None,
    organisation_id: int | None = None,
    text: str | None = None,
    limit: int = 100,
    channel: str | None = None,
    group: str | None = None,
    priority: str | None = None,
    category: str | None = None,
    sla_state: str | None = None,
    sort: str = "newest",
    now: datetime | None = None,
) -> list[Ticket]:
    """The queue. `group`/`category` are slugs; `sla_state` keeps tickets whose SLA state
    (tickets.sla.sla_state) is at_risk or breached; sort "sla" puts the soonest resolution due first."""
    q = select(Ticket)
    if channel:
        q = q.where(Ticket.channel == channel)
    if group:
        q = q.where(Ticket.group_id == routing.group_by_slug(session, group).id)
    if priority:
        q = q.where(Ticket.priority == priority)
    if category:
        q = q.where(Ticket.category == category)
    if status:
        q = q.where(Ticket.status.in_(status))
    if line:
        q = q.where(Ticket.line == line)
    if assignee_id is not None:
        q = q.where(Ticket.assignee_id == assignee_id)
    if unassigned:
        q = q.where(Ticket.assignee_id.is_(None))
    if requester is not None:
        q = q.where(Ticket.channel == requester[0], Ticket.requester == requester[1])
    if person_id is not None:
        q = q.where(Ticket.person_id == person_id)
    if organisation_id is not None:
        q = q.where(Ticket.organisation_id == organisation_id)
    if text:
        like = f"%{text}%"
        q = q.where(or_(Ticket.subject.ilike(like), Ticket.question.ilike(like)))
    if sort == "sla":  # tickets without a due time last, on every backend
        q = q.order_by(Ticket.resolution_due_at.is_(None), Ticket.resolution_due_at, Ticket.id)
    else:
        q = q.order_by(Ticket.created_at.desc(), Ticket.id.desc())
    if sla_state is None:
        return list(session.scalars(q.limit(limit)))
    # The SLA state is computed (business calendar, pauses): narrow in SQL to tickets with a clock, decide here.
    q = q.where(or_(Ticket.resolution_due_at.is_not(None), Ticket.first_response_due_at.is_not(None)))
    now = now or utcnow()
    out: list[Ticket] = []
    for ticket in session.scalars(q):
        if sla.sla_state(ticket, now) == sla_state:
            out.append(ticket)
            if len(out) >= limit:
                break
    return out


def open_tickets_of(session: Session, channel: str, user_ref: str, limit: int = 100) -> list[Ticket]:
    """A requester's tickets still being worked on, newest first ("my tickets" in every chat): the person's, from
    whichever channel they were opened in."""
    person = person_of(session, identity_kind(channel), user_ref)
    if person is None:
        return list_tickets(session, status=list(OPEN_STATUSES), requester=(channel, user_ref), limit=limit)
    return list_tickets(session, status=list(OPEN_STATUSES), person_id=person.id, limit=limit)


def first_response_due_local(session: Session, ticket: Ticket) -> str | None:
    """ "2026-12-08 18:00 (Europe/Moscow)": the first-response due time in the ticket's organisation's time zone
    (else the desk's), for telling the user when to expect a person."""
    if ticket.first_response_due_at is None:
        return None
    org = session.get(Organisation, ticket.organisation_id) if ticket.organisation_id is not None else None
    name = (org.timezone if org is not None and org.timezone else None) or sla.timezone_name()
    local = sla_clock.as_utc(ticket.first_response_due_at).astimezone(sla_clock.zone(name))
    return f"{local:%Y-%m-%d %H:%M} ({name})"


def tickets_of_sender(session: Session, channel: str, user_ref: str, limit: int = 100) -> list[Ticket]:
    """Every ticket of the person behind this sender (all channels, all statuses), newest first."""
    person = person_of(session, identity_kind(channel), user_ref)
    if person is None:
        return list_tickets(session, requester=(channel, user_ref), limit=limit)
    return list_tickets(session, person_id=person.id, limit=limit)


def events(session: Session, number: int) -> list[TicketEvent]:
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == number).order_by(TicketEvent.id)))


def since(minutes: int) -> datetime:
    return utcnow() - timedelta(minutes=minutes)
