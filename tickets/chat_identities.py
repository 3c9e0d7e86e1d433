"""Web-chat identities: a browser-made id is claimed by its first message and bound to signed tokens from then on
(api/chat_auth.py). The row says since when tokens count, so one user's chat access can be revoked without rotating
the secret key for everyone."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import utcnow
from tickets.models import ChatIdentity

NEVER_REVOKED = datetime(1970, 1, 1, tzinfo=timezone.utc)


def get(session: Session, channel: str, user_ref: str) -> ChatIdentity | None:
    return session.scalar(
        select(ChatIdentity).where(ChatIdentity.channel == channel, ChatIdentity.user_ref == user_ref)
    )


def claim(session: Session, channel: str, user_ref: str, created_from: str = "") -> ChatIdentity:
    """The identity, created on first use (two first messages at once: the loser reads the winner's row)."""
    found = get(session, channel, user_ref)
    if found is not None:
        return found
    row = ChatIdentity(
        channel=channel, user_ref=user_ref, created_from=created_from[:64], tokens_valid_after=NEVER_REVOKED
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        winner = get(session, channel, user_ref)  # another request created it first
        if winner is None:
            raise
        return winner
    return row


def revoke(session: Session, channel: str, user_ref: str, now: datetime | None = None) -> ChatIdentity | None:
    """Every token issued to this user so far stops working (their next message needs a new identity)."""
    row = get(session, channel, user_ref)
    if row is not None:
        row.tokens_valid_after = now or utcnow()
    return row
