"""Console sessions: a stateless signed cookie (HMAC of agent id, expiry and the agent's token hash) and a
CSRF token derived from it. The raw agent token is never stored in the browser; revoking or rotating the
token ends every console session of that agent (the signature covers the token hash)."""
from __future__ import annotations

import hashlib
import hmac
import time

from sqlalchemy.orm import Session

from tickets.models import Agent

COOKIE = "fl_console"
CSRF_HEADER = "X-CSRF-Token"
LIFETIME = 12 * 3600  # one working day


def _sig(secret: str, agent_id: int, expires: int, token_hash: str) -> str:
    return hmac.new(secret.encode(), f"console:{agent_id}:{expires}:{token_hash}".encode(),
                    hashlib.sha256).hexdigest()


def make_session(secret: str, agent: Agent, now: float | None = None) -> str:
    expires = int((now or time.time()) + LIFETIME)
    return f"{agent.id}.{expires}.{_sig(secret, agent.id, expires, agent.token_hash)}"


def session_agent(session: Session, secret: str, cookie: str | None) -> Agent | None:
    """The active agent a console cookie belongs to, or None (bad signature, expired, revoked)."""
    try:
        agent_id, expires, sig = (cookie or "").split(".")
        agent_id_i, expires_i = int(agent_id), int(expires)
    except ValueError:
        return None
    if expires_i < time.time():
        return None
    agent = session.get(Agent, agent_id_i)
    if agent is None or not agent.active:
        return None
    if not hmac.compare_digest(sig, _sig(secret, agent.id, expires_i, agent.token_hash)):
        return None
    return agent


def csrf_token(secret: str, cookie: str) -> str:
    return hmac.new(secret.encode(), f"csrf:{cookie}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: str, cookie: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(presented, csrf_token(secret, cookie))
