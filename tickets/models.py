"""Typed SQLAlchemy 2.0 models for conversations, messages, tickets, agents, audit events and the outbox."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow


class ConversationState(str, enum.Enum):
    bot = "bot"
    waiting_for_agent = "waiting_for_agent"
    with_agent = "with_agent"
    resolved = "resolved"


class Outcome(str, enum.Enum):
    helped = "helped"  # bot answered, user confirmed
    answered = "answered"  # bot answered, no feedback before the conversation went idle
    handed_off = "handed_off"  # waiting for / with an agent (reason on the conversation)
    resolved_by_agent = "resolved_by_agent"
    handed_back = "handed_back"
    abandoned = "abandoned"  # user left before anything was resolved


class TicketStatus(str, enum.Enum):
    new = "new"
    open = "open"
    pending_user = "pending_user"
    escalated = "escalated"
    resolved = "resolved"
    closed = "closed"


# A ticket someone still works on (counts towards queues, SLA and "my open tickets").
OPEN_STATUSES: tuple[str, ...] = (
    TicketStatus.new.value,
    TicketStatus.open.value,
    TicketStatus.pending_user.value,
    TicketStatus.escalated.value,
)


class HandoffReason(str, enum.Enum):
    low_confidence = "low_confidence"
    negative_feedback = "negative_feedback"
    user_request = "user_request"
    bot_error = "bot_error"
    safety = "safety"  # smoke, fire, a leak, a shock: a person at once, critical


class Role(str, enum.Enum):
    l1 = "l1"
    l2 = "l2"
    l3 = "l3"
    manager = "manager"
    # A client's own manager: reads their organisation's tickets and reports, changes nothing.
    client_manager = "client_manager"


# Who works tickets (queues, assignment, escalation lines); a client manager only looks.
STAFF_ROLES: tuple[str, ...] = ("l1", "l2", "l3", "manager")


class Conversation(Base):
    """One episode of a user's chat in one channel thread, from first question to its outcome.

    At most one conversation per (channel, user, thread) is active (closed_at IS NULL).
    """

    __tablename__ = "conversations"
    __table_args__ = (
        Index(
            "uq_conversations_active",
            "channel",
            "user_ref",
            "thread_ref",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    user_ref: Mapped[str] = mapped_column(String(200))
    thread_ref: Mapped[str] = mapped_column(String(200), default="")
    user_name: Mapped[str | None] = mapped_column(String(200))
    # Who this is across channels (people.models.Person); a sender nobody knew yet gets a provisional person.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    lang: Mapped[str] = mapped_column(String(8), default="en")
    state: Mapped[str] = mapped_column(String(32), default=ConversationState.bot.value)
    outcome: Mapped[str | None] = mapped_column(String(32))
    handoff_reason: Mapped[str | None] = mapped_column(String(32))
    # What the bot offered for the current question, best first: [{"article_id", "title", "score"}].
    offered: Mapped[list[Any]] = mapped_column(default=list)
    # Articles offered to pick from ("did you mean"), numbered from 1: [{"article_id", "title", "score", "passage"}].
    choices: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    last_question: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)

    messages: Mapped[list["Message"]] = relationship(
        back_populates="conversation", order_by="Message.id", lazy="raise_on_sql"
    )


class Message(Base):
    """Everything said in a conversation, by the user, the bot, an agent or the system."""

    __tablename__ = "messages"
    __table_args__ = (
        # A platform's message/update id is stored once per sender: a redelivery is recognised, not processed again,
        # and an id another sender happens to use (a web chat's client_msg_id, a forged Message-ID) stays theirs.
        UniqueConstraint("channel", "sender_ref", "platform_msg_id", name="uq_messages_sender_platform_id"),
        Index("ix_messages_conversation", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    author: Mapped[str] = mapped_column(String(16))  # user | bot | agent | system
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    text: Mapped[str] = mapped_column(Text)
    # Structured extras: offered article, available actions, attachments, feedback given.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    platform_msg_id: Mapped[str | None] = mapped_column(String(200))
    # Who sent it on the platform: the user's ref for user messages, "agent:<id>" for agents' (redelivery scope).
    sender_ref: Mapped[str] = mapped_column(String(200), default="", server_default="")
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # sha256 of the bearer token; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    # May publish, archive and approve KB articles (what the bot serves to everyone); managers always may.
    kb_editor: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    telegram_user_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    slack_user_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Sign-in besides the token: company SSO (OIDC subject / e-mail) or a local password (argon2 hash).
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # A client manager's organisation: the only tickets and reports they see.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsoleSession(Base):
    """A signed-in agent console: the cookie holds a random secret, only its hash is stored. Signing out, disabling
    the agent or rotating their token revokes it on the server at once."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_agent", "agent_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    client: Mapped[str] = mapped_column(String(64), default="")  # the address it signed in from
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class ChatIdentity(Base):
    """A web-chat identity: when it was first used and from where, and from when its tokens count (revoking a
    user's chat access moves `tokens_valid_after` to now)."""

    __tablename__ = "chat_identities"
    __table_args__ = (UniqueConstraint("channel", "user_ref", name="uq_chat_identities_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    user_ref: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_from: Mapped[str] = mapped_column(String(64), default="")
    tokens_valid_after: Mapped[datetime] = mapped_column(default=utcnow)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status", "status", "created_at"),
        Index("ix_tickets_resolution_due", "status", "resolution_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    requester: Mapped[str] = mapped_column(String(200))
    # The person who asked and their organisation when the ticket opened (its SLA calendar, reports, scoping).
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.new.value)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    line: Mapped[str] = mapped_column(String(4), default="L1")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    handoff_reason: Mapped[str] = mapped_column(String(32))
    bot_tried: Mapped[list[Any]] = mapped_column(default=list)  # [{"article_id", "title", "score"}]
    resolution: Mapped[str | None] = mapped_column(Text)
    linked_articles: Mapped[list[Any]] = mapped_column(default=list)
    # Routing (tickets.routing): what it is about and which skill group holds it.
    category: Mapped[str | None] = mapped_column(String(64), default=None)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="SET NULL"))
    # SLA (tickets.sla): due times follow the policy, business calendar and pauses (pending_user).
    sla_policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policies.id", ondelete="SET NULL"))
    first_response_due_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution_due_at: Mapped[datetime | None] = mapped_column(default=None)
    sla_paused_at: Mapped[datetime | None] = mapped_column(default=None)
    sla_paused_minutes: Mapped[int] = mapped_column(default=0, server_default="0")  # total paused so far
    first_response_warned_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution_warned_at: Mapped[datetime | None] = mapped_column(default=None)
    first_response_breached_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution_breached_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    first_response_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def number(self) -> int:
        return self.id


class TicketEvent(Base):
    """Audit trail: who did what to a ticket, and when."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(200))  # "agent:3", "user:web:alice", "bot", "system"
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxItem(Base):
    """Something to push to a chat platform, written in the same transaction as the change it reports
    (transactional outbox), then delivered by that channel's sender with retries.

    audience "user": a message (agent reply, notification) for the user in their channel.
    audience "staff": a direct notice (text in payload) to one agent's linked Telegram / Slack account.
    audience "webhook": payload POSTed to a configured URL.
    audience "agents": an event for the agents' side of a channel (Telegram agents' group, Slack agents'
    channel): a new handoff, a user message on a ticket, a status change.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "status", "next_attempt_at"),
        UniqueConstraint("audience", "channel", "event", "message_id", "ticket_id", name="uq_outbox_item"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    audience: Mapped[str] = mapped_column(String(8), default="user")  # user | agents | staff | webhook
    channel: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(32), default="message")
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    # audience "staff": a direct notice to one agent/manager (agent_id) on their linked account;
    # audience "webhook": an HTTP POST of `payload` (e.g. a request to an application's developers).
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class TicketThread(Base):
    """Where a ticket lives on an agents' channel: the Telegram topic / Slack thread its messages go to."""

    __tablename__ = "ticket_threads"
    __table_args__ = (
        UniqueConstraint("ticket_id", "channel", name="uq_ticket_threads_ticket"),
        Index("ix_ticket_threads_ref", "channel", "chat_ref", "thread_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    chat_ref: Mapped[str] = mapped_column(String(200))  # Telegram chat id / Slack channel id
    thread_ref: Mapped[str] = mapped_column(String(200), default="")  # forum topic id / thread ts
    root_ref: Mapped[str] = mapped_column(String(200), default="")  # the handoff notice's message id / ts
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


from tickets import email_models as _email_models  # noqa: E402,F401
from tickets import ops_models as _ops_models  # noqa: E402,F401  (SLA/routing tables the Ticket columns refer to)
