"""Channels with no request to answer on (email, SMS): the bot's replies are pushed through the outbox."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import HandleResult
from tickets.models import OutboxItem


def queue_bot_replies(sessions: sessionmaker[Session], channel: str, result: HandleResult) -> None:
    """Queue each reply once: a redelivered inbound message (same platform id) returns the same replies,
    and they must not be sent twice."""
    with sessions.begin() as s:
        for reply in result.replies:
            queued = s.scalar(select(OutboxItem.id).where(OutboxItem.message_id == reply.message_id,
                                                          OutboxItem.audience == "user"))
            if queued is None:
                s.add(OutboxItem(audience="user", channel=channel, event="message", message_id=reply.message_id))
