"""Service-desk operations models: skill groups and categories (routing), escalations and team members,
external references (requests to application developers), work time, SLA policies and the holiday
calendar, and staff notification preferences.

Ticket-level SLA state (due times, pause, warnings, breaches) lives on `tickets.models.Ticket` itself so
the queue can sort and filter on it without joins.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

LINES = ("L1", "L2", "L3")
PRIORITIES = ("low", "normal", "high", "critical")


class SkillGroup(Base):
    """A functional team (network, accounts, hardware, 1C/ERP …) that tickets can be routed to."""

    __tablename__ = "skill_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentGroup(Base):
    __tablename__ = "agent_groups"
    __table_args__ = (UniqueConstraint("agent_id", "group_id", name="uq_agent_groups"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("skill_groups.id", ondelete="CASCADE"), index=True)


class Category(Base):
    """What a ticket is about; routes it to a line and group. `tags`: KB article tags that suggest it."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    line: Mapped[str] = mapped_column(String(4), default="L1")
    group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="SET NULL"))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Escalation(Base):
    """One move of a ticket between lines (hierarchical) or to a skill group (functional), and its return."""

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # hierarchical | functional | automatic
    from_line: Mapped[str] = mapped_column(String(4))
    to_line: Mapped[str] = mapped_column(String(4))
    from_group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="SET NULL"))
    to_group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="SET NULL"))
    from_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    by: Mapped[str] = mapped_column(String(200))  # "agent:3" | "system:sla"
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Filled when the escalated line sends the ticket back with its answer.
    returned_at: Mapped[datetime | None] = mapped_column(default=None)
    returned_by: Mapped[str | None] = mapped_column(String(200))
    answer: Mapped[str | None] = mapped_column(Text)


class TicketParticipant(Base):
    """Agents working on a ticket besides its assignee (a team on a complex issue)."""

    __tablename__ = "ticket_participants"
    __table_args__ = (UniqueConstraint("ticket_id", "agent_id", name="uq_ticket_participants"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    added_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExternalRef(Base):
    """A request to the developers of a faulty business application: their tracker's id / URL."""

    __tablename__ = "external_refs"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    system: Mapped[str] = mapped_column(String(100))  # "jira", "1C support", the application's name
    ref: Mapped[str] = mapped_column(String(200))  # issue id in that tracker
    url: Mapped[str | None] = mapped_column(String(1000))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TimeEntry(Base):
    """Work time on a ticket: a manual entry, or a timer (ended_at NULL while it runs)."""

    __tablename__ = "time_entries"
    __table_args__ = (
        Index("ix_time_entries_ticket", "ticket_id"),
        Index("ix_time_entries_agent", "agent_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    source: Mapped[str] = mapped_column(String(8))  # manual | timer
    minutes: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(Text, default="")
    # The ticket's line/category when the work was done, so reports don't shift when the ticket moves.
    line: Mapped[str] = mapped_column(String(4), default="L1")
    category: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SLAPolicy(Base):
    """Targets for one priority (optionally one category): minutes of business time (or wall-clock time
    when `business_hours` is false, e.g. critical incidents handled 24×7)."""

    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("priority", "category", "organisation_id", name="uq_sla_policies"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    priority: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))  # category slug; NULL = any category
    # A client organisation's own contract; NULL = the desk's default, for everyone without one.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    first_response_minutes: Mapped[int]
    resolution_minutes: Mapped[int]
    business_hours: Mapped[bool] = mapped_column(default=True)
    # Warn this share of the target before the due time (0.2 = when 80 % of the time is used).
    warn_ratio: Mapped[float] = mapped_column(default=0.2)
    auto_escalate: Mapped[bool] = mapped_column(default=False)  # breach of resolution → next line
    active: Mapped[bool] = mapped_column(default=True)


class Holiday(Base):
    """A non-working day in the service desk's calendar."""

    __tablename__ = "holidays"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class NotificationPreference(Base):
    """What a staff member (usually the manager) is told, and where (their linked Telegram / Slack)."""

    __tablename__ = "notification_preferences"

    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    escalations: Mapped[bool] = mapped_column(default=True)
    breaches: Mapped[bool] = mapped_column(default=True)  # SLA warnings and breaches
    status_changes: Mapped[bool] = mapped_column(default=False)
    daily_digest: Mapped[bool] = mapped_column(default=True)
    channels: Mapped[list[Any]] = mapped_column(default=list)  # ["telegram", "slack"]; empty = every linked one


class JobRun(Base):
    """When a periodic job last ran (the scheduler survives restarts and runs once across processes)."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_key: Mapped[str | None] = mapped_column(String(64))  # e.g. the digest's date
