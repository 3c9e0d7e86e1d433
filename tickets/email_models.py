"""Email threading: every mail in or out of the support mailbox, by Message-ID, tied to its conversation,
so a reply (In-Reply-To / References) lands in the same conversation and ticket."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class EmailRecord(Base):
    __tablename__ = "email_records"
    __table_args__ = (
        Index("ix_email_records_conversation", "conversation_id", "id"),
        # A Message-ID is only unique per sender: anyone can write any Message-ID, so another sender's reuse of one
        # is a different mail, never a redelivery of theirs.
        UniqueConstraint("peer", "message_id", name="uq_email_records_peer_message"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(500), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # in | out | ignored (automatic mail, never answered)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    chat_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    mailbox: Mapped[str] = mapped_column(String(320))  # our address the mail was sent to / from
    peer: Mapped[str] = mapped_column(String(320))  # the employee's address
    subject: Mapped[str] = mapped_column(String(998), default="")
    refs: Mapped[str] = mapped_column(Text, default="")  # the References chain, space-separated
    reason: Mapped[str | None] = mapped_column(String(200))  # why an inbound mail was ignored
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
