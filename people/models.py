"""A person (an employee of a client organisation) and the channel identities that are theirs.

Identities are unique per (kind, ref): one Telegram user id, e-mail address or phone number belongs to at most one
person, so a message from any of them finds the same person. Refs are stored in the canonical form of
`core.inputs.normalize_ref` (e-mail addresses case-folded; platform ids as the platform issues them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

# What an identity can be; chat channels map onto these (web chat → web, SMS and phone calls → phone).
IDENTITY_KINDS = ("email", "phone", "telegram", "slack", "web")
LANGUAGES = ("en", "ru")


class Organisation(Base):
    """A client company the service desk supports, under its own contract: a ticket of one of its people takes the
    organisation's SLA policies (tickets.ops_models.SLAPolicy.organisation_id) and its business calendar; unset
    calendar fields fall back to the desk's own (settings)."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)  # case-folded name: "ACME" is "Acme"
    active: Mapped[bool] = mapped_column(default=True)
    # An unknown sender from one of these domains ("acme.example") becomes a member on their first message.
    email_domains: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    timezone: Mapped[str | None] = mapped_column(String(64))
    business_hours: Mapped[str | None] = mapped_column(String(200))  # "Mon-Fri 09:00-18:00"
    holidays: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")  # ISO dates
    # Its own first line: its new tickets go to this skill group (unless a category routes them elsewhere).
    l1_group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="SET NULL"))
    vip: Mapped[bool] = mapped_column(
        default=False, server_default=text("false")
    )  # every ticket of theirs gets the uplift
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320), unique=True)  # canonical (case-folded)
    phone: Mapped[str | None] = mapped_column(String(32))
    department: Mapped[str] = mapped_column(String(200), default="")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    language: Mapped[str | None] = mapped_column(String(8))
    vip: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    # Known only from a message (no directory entry yet): kept, never blocked, completed by an import or an agent.
    provisional: Mapped[bool] = mapped_column(default=False)
    # An address the person typed into the anonymous web chat: shown to agents as unverified, never used to link.
    claimed_email: Mapped[str | None] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(32), default="message", server_default="message")  # directory|ldap|…
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PersonIdentity(Base):
    __tablename__ = "person_identities"
    __table_args__ = (UniqueConstraint("kind", "ref", name="uq_person_identities_kind_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(32), default="directory")  # directory | message | agent
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkCode(Base):
    """A one-time code that proves two chat identities are one human (people.link_codes). Only a hash is stored."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # the identity to link: telegram | slack | …
    ref: Mapped[str] = mapped_column(String(320))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
