"""Web-chat tokens: who may read and write a web-chat identity.

A token is `<issued ms>.<HMAC(secret, web:<user>:<issued ms>)>`. It is valid for `chat_token_days` after it was
issued and only if it was issued after the identity's `tokens_valid_after` (a manager's revoke). Each message the
user sends returns a fresh token, so an active user never sees one expire; a stolen token ages out.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

from fastapi import HTTPException

from tickets.models import ChatIdentity

CHANNEL = "web"


def issue(secret: str, user: str, now: float | None = None) -> str:
    issued = int((now if now is not None else time.time()) * 1000)
    return f"{issued}.{_sig(secret, user, issued)}"


def _sig(secret: str, user: str, issued: int) -> str:
    return hmac.new(secret.encode(), f"{CHANNEL}:{user}:{issued}".encode(), hashlib.sha256).hexdigest()


def valid(
    secret: str, user: str, token: str | None, identity: ChatIdentity, lifetime: timedelta, now: float | None = None
) -> bool:
    issued_s, _, sig = (token or "").partition(".")
    if not issued_s.isdigit() or len(issued_s) > 15 or not sig:
        return False
    issued = int(issued_s)
    if not hmac.compare_digest(sig, _sig(secret, user, issued)):
        return False
    now_ms = int((now if now is not None else time.time()) * 1000)
    revoked_ms = int(identity.tokens_valid_after.timestamp() * 1000)
    return revoked_ms < issued <= now_ms + 60_000 and now_ms - issued <= lifetime.total_seconds() * 1000


def require(secret: str, user: str, identity: ChatIdentity | None, lifetime: timedelta, *tokens: str | None) -> None:
    """401 unless one of the presented tokens (header or cookie) opens this identity."""
    if identity is not None and any(valid(secret, user, tok, identity, lifetime) for tok in tokens):
        return
    raise HTTPException(
        401,
        "this chat belongs to someone else, or your chat token is missing, expired or revoked "
        "(send it as 'X-Chat-Token'; start a new chat if it expired)",
    )
