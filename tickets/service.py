"""Domain functions over conversations and tickets. Each takes the caller's session; the caller commits.

Every ticket change writes an audit event. State changes that can race (two agents claiming one
ticket) are single conditional UPDATEs, so exactly one transaction wins on any database.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tickets.db import utcnow
from tickets.models import (
    Agent,
    Conversation,
    ConversationState,
    Message,
    Outcome,
    OutboxItem,
    Role,
    Ticket,
    TicketEvent,
    TicketStatus,
    TicketThread,
)

# The web chat reads its transcript (poll/SSE); every other channel's messages are pushed by its sender
# through the outbox.
PULL_CHANNELS = {"web"}
OPEN_STATUSES = (TicketStatus.new.value, TicketStatus.open.value, TicketStatus.pending_user.value,
                 TicketStatus.escalated.value)


class TicketError(Exception):
    status_code = 400


class NotFound(TicketError):
    status_code = 404


class Conflict(TicketError):
    status_code = 409


class Forbidden(TicketError):
    status_code = 403


# -- conversations ----------------------------------------------------------------------------
def active_conversation(session: Session, channel: str, user_ref: str, thread_ref: str = "") -> Conversation | None:
    return session.scalar(
        select(Conversation).where(
            Conversation.channel == channel,
            Conversation.user_ref == user_ref,
            Conversation.thread_ref == thread_ref,
            Conversation.closed_at.is_(None),
        )
    )


def close_conversation(session: Session, conv: Conversation, outcome: Outcome | str, state: str | None = None) -> None:
    conv.outcome = Outcome(outcome).value
    conv.closed_at = utcnow()
    if state:
        conv.state = state


def get_or_start_conversation(
    session: Session, channel: str, user_ref: str, thread_ref: str = "", *, lang: str = "en",
    user_name: str | None = None, idle_after: timedelta | None = None,
) -> Conversation:
    """The user's active conversation in this thread, or a new one.

    A bot-state conversation idle for longer than `idle_after` is closed (answered/abandoned) first,
    so each question episode gets its own outcome for deflection reporting.
    """
    conv = active_conversation(session, channel, user_ref, thread_ref)
    if conv is not None and idle_after is not None and conv.state == ConversationState.bot.value:
        if utcnow() - conv.updated_at > idle_after:
            close_conversation(session, conv, Outcome.answered if conv.offered else Outcome.abandoned)
            session.flush()
            conv = None
    if conv is not None:
        return conv
    conv = Conversation(channel=channel, user_ref=user_ref, thread_ref=thread_ref, lang=lang, user_name=user_name,
                        state=ConversationState.bot.value, offered=[])
    try:
        with session.begin_nested():  # two first messages at once: the loser re-reads the winner's row
            session.add(conv)
            session.flush()
    except IntegrityError:
        conv = active_conversation(session, channel, user_ref, thread_ref)
        if conv is None:
            raise
    return conv


def find_platform_message(session: Session, channel: str, platform_msg_id: str) -> Message | None:
    return session.scalar(select(Message).where(Message.channel == channel, Message.platform_msg_id == platform_msg_id))


def message_by_platform_id(session: Session, platform_msg_id: str) -> Message | None:
    """A message already stored under this platform id, whichever conversation it went to."""
    return session.scalar(select(Message).where(Message.platform_msg_id == platform_msg_id))


def add_message(
    session: Session, conv: Conversation, author: str, text: str, *, payload: dict | None = None,
    platform_msg_id: str | None = None, reply_to_id: int | None = None, agent_id: int | None = None,
) -> Message:
    msg = Message(conversation_id=conv.id, channel=conv.channel, author=author, text=text, payload=payload or {},
                  platform_msg_id=platform_msg_id, reply_to_id=reply_to_id, agent_id=agent_id)
    session.add(msg)
    conv.updated_at = utcnow()
    session.flush()
    if conv.channel not in PULL_CHANNELS and author in {"agent", "system"}:
        # Bot replies go back on the platform request; agent/system messages arrive later and are pushed.
        session.add(OutboxItem(audience="user", channel=conv.channel, event="message", message_id=msg.id))
    return msg


def notify_agents(session: Session, channels: list[str] | tuple[str, ...], ticket: Ticket, event: str,
                  message_id: int | None = None) -> None:
    """Queue a ticket event for each configured agents' channel (Telegram group, Slack channel)."""
    for channel in channels:
        session.add(OutboxItem(audience="agents", channel=channel, event=event, ticket_id=ticket.id,
                               message_id=message_id))


def ticket_thread(session: Session, ticket_id: int, channel: str) -> TicketThread | None:
    return session.scalar(select(TicketThread).where(TicketThread.ticket_id == ticket_id,
                                                     TicketThread.channel == channel))


def ticket_by_thread(session: Session, channel: str, chat_ref: str, thread_ref: str = "",
                     root_ref: str = "") -> Ticket | None:
    """The ticket an agents'-side message belongs to: by its topic/thread, or by the notice it replies to."""
    q = select(TicketThread).where(TicketThread.channel == channel, TicketThread.chat_ref == chat_ref)
    if thread_ref:
        row = session.scalar(q.where(TicketThread.thread_ref == thread_ref))
        if row is not None:
            return session.get(Ticket, row.ticket_id)
    if root_ref:
        row = session.scalar(q.where(TicketThread.root_ref == root_ref))
        if row is not None:
            return session.get(Ticket, row.ticket_id)
    return None


def save_ticket_thread(session: Session, ticket_id: int, channel: str, chat_ref: str, thread_ref: str = "",
                       root_ref: str = "") -> TicketThread:
    row = ticket_thread(session, ticket_id, channel)
    if row is None:
        row = TicketThread(ticket_id=ticket_id, channel=channel)
        session.add(row)
    row.chat_ref, row.thread_ref, row.root_ref = chat_ref, thread_ref or row.thread_ref, root_ref or row.root_ref
    session.flush()
    return row


def replies_to(session: Session, message_id: int) -> list[Message]:
    return list(session.scalars(select(Message).where(Message.reply_to_id == message_id).order_by(Message.id)))


def messages_after(session: Session, conversation_ids: list[int], after_id: int = 0, limit: int = 200) -> list[Message]:
    if not conversation_ids:
        return []
    return list(session.scalars(
        select(Message).where(Message.conversation_id.in_(conversation_ids), Message.id > after_id)
        .order_by(Message.id).limit(limit)
    ))


def transcript(session: Session, conversation_id: int) -> list[Message]:
    return list(session.scalars(select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)))


# -- tickets ----------------------------------------------------------------------------------
def record(session: Session, ticket: Ticket, actor: str, action: str, **detail) -> None:
    session.add(TicketEvent(ticket_id=ticket.id, actor=actor, action=action, detail=detail))


def open_ticket(session: Session, conv: Conversation, *, reason: str, question: str, bot_tried: list[dict]) -> Ticket:
    subject = " ".join(question.split())[:120] or "(no text)"
    ticket = Ticket(conversation_id=conv.id, requester=conv.user_ref, channel=conv.channel, subject=subject,
                    question=question, status=TicketStatus.new.value, handoff_reason=reason, bot_tried=bot_tried)
    session.add(ticket)
    session.flush()
    record(session, ticket, "bot", "opened", reason=reason, bot_tried=bot_tried)
    conv.state = ConversationState.waiting_for_agent.value
    conv.outcome = Outcome.handed_off.value
    conv.handoff_reason = reason
    return ticket


def get_ticket(session: Session, number: int) -> Ticket:
    ticket = session.get(Ticket, number)
    if ticket is None:
        raise NotFound(f"ticket #{number} does not exist")
    return ticket


def ticket_for_conversation(session: Session, conversation_id: int) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.conversation_id == conversation_id).order_by(Ticket.id.desc()))


def _require_handler(ticket: Ticket, agent: Agent) -> None:
    if ticket.status in (TicketStatus.resolved.value, TicketStatus.closed.value):
        raise Conflict(f"ticket #{ticket.id} is already {ticket.status}")
    if ticket.assignee_id != agent.id and agent.role != Role.manager.value:
        raise Forbidden(f"ticket #{ticket.id} is assigned to another agent; claim it first")


def claim_ticket(session: Session, number: int, agent: Agent) -> Ticket:
    """Assign an unassigned ticket to `agent`. Exactly one of several concurrent claims wins."""
    now = utcnow()
    won = session.execute(
        update(Ticket)
        .where(Ticket.id == number, Ticket.assignee_id.is_(None), Ticket.status.in_(OPEN_STATUSES))
        .values(assignee_id=agent.id, status=TicketStatus.open.value, claimed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    ticket = get_ticket(session, number)
    session.refresh(ticket)
    if not won:
        if ticket.assignee_id == agent.id:
            return ticket  # claiming your own ticket again is harmless
        if ticket.assignee_id is not None:
            raise Conflict(f"ticket #{number} was already claimed by another agent")
        raise Conflict(f"ticket #{number} is {ticket.status} and cannot be claimed")
    conv = session.get(Conversation, ticket.conversation_id)
    conv.state = ConversationState.with_agent.value
    record(session, ticket, f"agent:{agent.id}", "claimed", agent=agent.name)
    return ticket


def agent_message(session: Session, number: int, agent: Agent, text: str, *, source: str = "api",
                  platform_msg_id: str | None = None) -> tuple[Ticket, Message]:
    """An agent's reply to the user. `source` says where the agent wrote it (api, telegram, slack), so
    that channel is not sent its own message back; `platform_msg_id` makes a redelivery a no-op."""
    ticket = get_ticket(session, number)
    if platform_msg_id:
        seen = message_by_platform_id(session, platform_msg_id)
        if seen is not None:
            return ticket, seen
    _require_handler(ticket, agent)
    conv = session.get(Conversation, ticket.conversation_id)
    msg = add_message(session, conv, "agent", text, agent_id=agent.id, platform_msg_id=platform_msg_id,
                      payload={"agent": agent.name, "source": source})
    if ticket.first_response_at is None:
        ticket.first_response_at = utcnow()
    ticket.status = TicketStatus.pending_user.value
    record(session, ticket, f"agent:{agent.id}", "replied", message_id=msg.id)
    return ticket, msg


def user_message_on_ticket(session: Session, conv: Conversation, msg: Message) -> Ticket | None:
    ticket = ticket_for_conversation(session, conv.id)
    if ticket is None:
        return None
    if ticket.status == TicketStatus.pending_user.value:
        ticket.status = TicketStatus.open.value
    ticket.updated_at = utcnow()
    record(session, ticket, f"user:{conv.channel}:{conv.user_ref}", "user_message", message_id=msg.id)
    return ticket


def resolve_ticket(session: Session, number: int, agent: Agent, resolution: str,
                   articles: list[str] | None = None) -> tuple[Ticket, Conversation]:
    ticket = get_ticket(session, number)
    _require_handler(ticket, agent)
    now = utcnow()
    ticket.status, ticket.resolution, ticket.resolved_at = TicketStatus.resolved.value, resolution, now
    ticket.linked_articles = list(articles or [])
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    conv = session.get(Conversation, ticket.conversation_id)
    close_conversation(session, conv, Outcome.resolved_by_agent, ConversationState.resolved.value)
    record(session, ticket, f"agent:{agent.id}", "resolved", resolution=resolution, articles=ticket.linked_articles)
    return ticket, conv


def hand_back(session: Session, number: int, agent: Agent, note: str = "") -> tuple[Ticket, Conversation]:
    """The agent returns the user to the bot; the ticket closes, the next message starts afresh with the bot."""
    ticket = get_ticket(session, number)
    _require_handler(ticket, agent)
    now = utcnow()
    ticket.status, ticket.closed_at = TicketStatus.closed.value, now
    ticket.resolution = ticket.resolution or (note or "handed back to the bot")
    conv = session.get(Conversation, ticket.conversation_id)
    close_conversation(session, conv, Outcome.handed_back, ConversationState.bot.value)
    record(session, ticket, f"agent:{agent.id}", "handed_back", note=note)
    return ticket, conv


def list_tickets(
    session: Session, *, status: list[str] | None = None, line: str | None = None,
    assignee_id: int | None = None, unassigned: bool = False, requester: tuple[str, str] | None = None,
    text: str | None = None, limit: int = 100,
) -> list[Ticket]:
    q = select(Ticket)
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
    if text:
        like = f"%{text}%"
        q = q.where(or_(Ticket.subject.ilike(like), Ticket.question.ilike(like)))
    return list(session.scalars(q.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)))


def events(session: Session, number: int) -> list[TicketEvent]:
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == number).order_by(TicketEvent.id)))


def since(minutes: int) -> datetime:
    return utcnow() - timedelta(minutes=minutes)
