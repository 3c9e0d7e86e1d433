"""One-time codes that join two channel identities of one human: `/link` in Telegram (or Slack) gives a code in
that chat; sending `/link CODE` from a channel where the person is known — the signed-in web chat, an e-mail from
their work address — proves both are theirs. Only a hash is stored; a code works once, for `LIFETIME`."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db import rowcount, utcnow
from people.models import LinkCode

LIFETIME = timedelta(minutes=15)
# Eight characters from an alphabet without look-alikes (0/O, 1/I/L): easy to type from a phone.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
# "/link", "/link CODE" or "/link someone@corp.example" (then a code goes to that address).
COMMAND = re.compile(r"^\s*/link(?:@\w+)?(?:\s+([A-Za-z0-9-]{4,20}|[^@\s]+@[^@\s]+\.[^@\s]+))?\s*$", re.IGNORECASE)


def command_in(text: str) -> re.Match[str] | None:
    """A `/link [CODE]` line among the first lines of a message (an e-mail has a subject line and a signature)."""
    lines = [line for line in text.strip().splitlines() if line.strip()][:5]
    return next((m for m in map(COMMAND.match, lines) if m is not None), None)


def _hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").upper().encode()).hexdigest()


def issue(session: Session, kind: str, ref: str) -> str:
    """A new code for the identity (kind, ref); earlier unused codes of the same identity stop working."""
    now = utcnow()
    session.execute(
        update(LinkCode)
        .where(LinkCode.kind == kind, LinkCode.ref == ref, LinkCode.used_at.is_(None))
        .values(used_at=now)
    )
    code = "".join(secrets.choice(ALPHABET) for _ in range(8))
    session.add(LinkCode(code_hash=_hash(code), kind=kind, ref=ref, expires_at=now + LIFETIME))
    session.flush()
    return f"{code[:4]}-{code[4:]}"


def redeem(session: Session, code: str) -> tuple[str, str] | None:
    """The identity (kind, ref) the code was issued for, or None (wrong, used or expired). Used up atomically:
    two redemptions at once, one wins."""
    row = session.scalar(select(LinkCode).where(LinkCode.code_hash == _hash(code)))
    now = utcnow()
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    won = rowcount(
        session.execute(update(LinkCode).where(LinkCode.id == row.id, LinkCode.used_at.is_(None)).values(used_at=now))
    )
    return (row.kind, row.ref) if won else None
