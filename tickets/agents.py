"""Agent accounts: bearer tokens (only a hash is stored), console sessions (server-side, revocable), and what a
manager does to an account — disable / enable, rotate the token, change the role or the KB-editor permission.

Access ends the moment it should: a disabled agent's token and every console session stop working at once (both
are checked against the database on each request), rotating a token also ends the sessions opened with the old one
(a lost token may be in someone else's hands), and signing out revokes that session on the server.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import rowcount, utcnow
from core.inputs import clean_text
from tickets.models import Agent, ConsoleSession, Role

SESSION_LIFETIME = timedelta(hours=12)  # one working day


class AgentError(ValueError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def clean_name(name: str) -> str:
    """A name as it is stored and shown: NFKC, no invisible characters, single spaces."""
    folded = unicodedata.normalize("NFKC", clean_text(name))
    return " ".join("".join(ch for ch in folded if unicodedata.category(ch) not in ("Cf", "Cc")).split())


def name_key(name: str) -> str:
    """What makes two agent names the same person to a reader: "Alice", "alice " and "alice\u200b" are one name."""
    return clean_name(name).casefold()


def by_name(session: Session, name: str) -> Agent | None:
    key = name_key(name)
    # Compared in Python: a desk has tens to hundreds of agents, and casefold() is not SQL on every backend.
    return next((a for a in session.scalars(select(Agent)) if name_key(a.name) == key), None) if key else None


def _new_token() -> str:
    return "fl_" + secrets.token_urlsafe(32)


def create_agent(session: Session, name: str, role: str, *, kb_editor: bool = False) -> str:
    """Create an agent; returns the bearer token, which is never stored or shown again."""
    name = clean_name(name)
    if not name:
        raise AgentError("agent name must not be empty")
    if role not in {r.value for r in Role}:
        raise AgentError(f"unknown role {role!r}: use l1, l2, l3 or manager")
    existing = by_name(session, name)
    if existing is not None:
        raise AgentError(
            f"an agent named {existing.name!r} already exists (names differing only in case, spaces "
            f"or invisible characters are the same name)"
        )
    token = _new_token()
    session.add(Agent(name=name, role=role, token_hash=hash_token(token), kb_editor=kb_editor))
    try:
        session.flush()
    except IntegrityError as exc:
        raise AgentError(f"an agent named {name!r} already exists") from exc
    return token


def authenticate(session: Session, token: str) -> Agent | None:
    if not token:
        return None
    agent = session.scalar(select(Agent).where(Agent.token_hash == hash_token(token)))
    return agent if agent is not None and agent.active else None


def list_agents(session: Session) -> list[Agent]:
    return list(session.scalars(select(Agent).order_by(Agent.id)))


def get(session: Session, name_or_id: str | int) -> Agent:
    agent = session.get(Agent, name_or_id) if isinstance(name_or_id, int) else by_name(session, name_or_id)
    if agent is None:
        raise AgentError(f"no agent {name_or_id!r}")
    return agent


def link_accounts(
    session: Session, name: str, *, telegram_user_id: str | None = None, slack_user_id: str | None = None
) -> Agent:
    agent = get(session, name)
    if telegram_user_id is not None:
        agent.telegram_user_id = str(telegram_user_id)
    if slack_user_id is not None:
        agent.slack_user_id = slack_user_id
    try:
        session.flush()
    except IntegrityError as exc:
        raise AgentError("that Telegram/Slack account is already linked to another agent") from exc
    return agent


def by_platform_user(session: Session, channel: str, user_id: str) -> Agent | None:
    """The active agent linked to this Telegram/Slack user, if any."""
    column = {"telegram": Agent.telegram_user_id, "slack": Agent.slack_user_id}[channel]
    agent = session.scalar(select(Agent).where(column == str(user_id)))
    return agent if agent is not None and agent.active else None


def can_edit_kb(agent: Agent) -> bool:
    """Publishing changes what the bot tells everyone: KB editors and managers only."""
    return agent.role == Role.manager.value or bool(agent.kb_editor)


# -- what a manager (or the CLI) does to an account ---------------------------------------------------------
def _keep_a_manager(session: Session, agent: Agent) -> None:
    """Never leave the desk without an active manager: nobody could administer it any more."""
    others = session.scalar(
        select(func.count())
        .select_from(Agent)
        .where(Agent.role == Role.manager.value, Agent.active.is_(True), Agent.id != agent.id)
    )
    if agent.role == Role.manager.value and agent.active and not others:
        raise AgentError(f"{agent.name} is the only active manager: make someone else a manager first")


def disable(session: Session, agent: Agent) -> Agent:
    """A leaver: their token and every console session stop working now. History (tickets, messages) stays."""
    _keep_a_manager(session, agent)
    agent.active = False
    revoke_sessions(session, agent.id)
    return agent


def enable(session: Session, agent: Agent) -> Agent:
    agent.active = True
    return agent


def rotate_token(session: Session, agent: Agent) -> str:
    """A new token (shown once); the old one and the console sessions opened with it stop working."""
    token = _new_token()
    agent.token_hash = hash_token(token)
    revoke_sessions(session, agent.id)
    return token


def set_role(session: Session, agent: Agent, role: str) -> Agent:
    if role not in {r.value for r in Role}:
        raise AgentError(f"unknown role {role!r}: use l1, l2, l3 or manager")
    if role != Role.manager.value:
        _keep_a_manager(session, agent)
    agent.role = role  # read from the database on every request: effective at once
    return agent


def set_kb_editor(session: Session, agent: Agent, allowed: bool) -> Agent:
    agent.kb_editor = allowed
    return agent


# -- console sessions ------------------------------------------------------------------------------------
def start_session(
    session: Session, agent: Agent, *, client: str = "", user_agent: str = "", now: datetime | None = None
) -> str:
    """A new console session for `agent`; returns the cookie value (a random secret; only its hash is stored)."""
    secret = secrets.token_urlsafe(32)
    now = now or utcnow()
    session.add(
        ConsoleSession(
            agent_id=agent.id,
            secret_hash=hash_token(secret),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
            client=client[:64],
            user_agent=clean_text(user_agent)[:200],
        )
    )
    session.flush()
    return secret


def session_agent(session: Session, cookie: str | None, now: datetime | None = None) -> Agent | None:
    """The active agent a console cookie belongs to, or None (unknown, expired, signed out, agent disabled)."""
    if not cookie or len(cookie) > 200:
        return None
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.secret_hash == hash_token(cookie)))
    if row is None or row.revoked_at is not None or row.expires_at <= (now or utcnow()):
        return None
    agent = session.get(Agent, row.agent_id)
    return agent if agent is not None and agent.active else None


def end_session(session: Session, cookie: str | None) -> bool:
    """Sign out: the cookie stops working on the server (a copy of it is worthless)."""
    if not cookie:
        return False
    return bool(
        rowcount(
            session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.secret_hash == hash_token(cookie), ConsoleSession.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        )
    )


def revoke_sessions(session: Session, agent_id: int) -> int:
    return rowcount(
        session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.agent_id == agent_id, ConsoleSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    )
