"""Conversations and their messages: the store every channel writes a user's messages to and reads the transcript
from, the platform ids that make redeliveries count once per sender, and the agents'-side threads of a ticket.
A message the bot, an agent or the system adds for a pushed channel is queued in the outbox in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import utcnow
from people.identify import person_for_sender
from tickets.models import Conversation, ConversationState, Message, OutboxItem, Outcome, Ticket, TicketThread

# The web chat reads its transcript (poll/SSE); every other channel's messages are pushed by its sender
# through the outbox.
PULL_CHANNELS = {"web", "phone"}  # phone: the agent calls back; the transcript is the record
PUSHED_AUTHORS = {"bot", "agent", "system"}


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
    session: Session,
    channel: str,
    user_ref: str,
    thread_ref: str = "",
    *,
    lang: str = "en",
    user_name: str | None = None,
    idle_after: timedelta | None = None,
    email: str | None = None,
) -> Conversation:
    """The user's active conversation in this thread, or a new one, with the person behind it (people.identify;
    `email`: an address the platform vouches for).

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
        if conv.person_id is None:
            conv.person_id = person_for_sender(session, channel, user_ref, name=user_name, email=email).id
        return conv
    person = person_for_sender(session, channel, user_ref, name=user_name, email=email)
    conv = Conversation(
        channel=channel,
        user_ref=user_ref,
        thread_ref=thread_ref,
        lang=lang,
        user_name=user_name,
        person_id=person.id,
        state=ConversationState.bot.value,
        offered=[],
    )
    try:
        with session.begin_nested():  # two first messages at once: the loser re-reads the winner's row
            session.add(conv)
            session.flush()
    except IntegrityError:
        conv = active_conversation(session, channel, user_ref, thread_ref)
        if conv is None:
            raise
    return conv


def sender_of(author: str, conv: Conversation, agent_id: int | None = None) -> str:
    """Whose platform ids a message's id is unique among: the user's, or one agent's."""
    if author == "user":
        return conv.user_ref
    return f"agent:{agent_id}" if author == "agent" and agent_id is not None else ""


def find_platform_message(session: Session, channel: str, sender_ref: str, platform_msg_id: str) -> Message | None:
    """This sender's message already stored under this platform id (a redelivery), if any. Scoped to the sender:
    an id someone else used is theirs and says nothing about this message."""
    return session.scalar(
        select(Message).where(
            Message.channel == channel, Message.sender_ref == sender_ref, Message.platform_msg_id == platform_msg_id
        )
    )


def message_by_platform_id(session: Session, platform_msg_id: str, sender_ref: str) -> Message | None:
    """A message this sender already stored under this platform id, whichever conversation it went to."""
    return session.scalar(
        select(Message).where(Message.sender_ref == sender_ref, Message.platform_msg_id == platform_msg_id)
    )


def add_message(
    session: Session,
    conv: Conversation,
    author: str,
    text: str,
    *,
    payload: dict[str, Any] | None = None,
    platform_msg_id: str | None = None,
    reply_to_id: int | None = None,
    agent_id: int | None = None,
) -> Message:
    msg = Message(
        conversation_id=conv.id,
        channel=conv.channel,
        author=author,
        text=text,
        payload=payload or {},
        platform_msg_id=platform_msg_id,
        sender_ref=sender_of(author, conv, agent_id),
        reply_to_id=reply_to_id,
        agent_id=agent_id,
    )
    session.add(msg)
    conv.updated_at = utcnow()
    session.flush()
    if conv.channel not in PULL_CHANNELS and author in PUSHED_AUTHORS:
        # Queued in the same transaction as the message: a reply the bot or an agent decided to send reaches the
        # user through the channel's sender (retried), or is recorded as failed — never lost with a failed call.
        session.add(OutboxItem(audience="user", channel=conv.channel, event="message", message_id=msg.id))
    return msg


def ticket_thread(session: Session, ticket_id: int, channel: str) -> TicketThread | None:
    return session.scalar(
        select(TicketThread).where(TicketThread.ticket_id == ticket_id, TicketThread.channel == channel)
    )


def ticket_by_thread(
    session: Session, channel: str, chat_ref: str, thread_ref: str = "", root_ref: str = ""
) -> Ticket | None:
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


def save_ticket_thread(
    session: Session, ticket_id: int, channel: str, chat_ref: str, thread_ref: str = "", root_ref: str = ""
) -> TicketThread:
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
    return list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id.in_(conversation_ids), Message.id > after_id)
            .order_by(Message.id)
            .limit(limit)
        )
    )


def transcript(session: Session, conversation_id: int) -> list[Message]:
    return list(session.scalars(select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)))


def deliveries(session: Session, message_ids: Iterable[int]) -> dict[int, OutboxItem]:
    """How each pushed message fared on its way to the user (pending | sending | sent | failed), by message id."""
    ids = list(message_ids)
    if not ids:
        return {}
    rows = session.scalars(select(OutboxItem).where(OutboxItem.audience == "user", OutboxItem.message_id.in_(ids)))
    return {item.message_id: item for item in rows if item.message_id is not None}
