"""Agent accounts and their bearer tokens (only a hash is stored)."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tickets.models import Agent, Role


class AgentError(ValueError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_agent(session: Session, name: str, role: str) -> str:
    """Create an agent; returns the bearer token, which is never stored or shown again."""
    name = name.strip()
    if not name:
        raise AgentError("agent name must not be empty")
    if role not in {r.value for r in Role}:
        raise AgentError(f"unknown role {role!r}: use l1, l2, l3 or manager")
    if session.scalar(select(Agent).where(Agent.name == name)) is not None:
        raise AgentError(f"an agent named {name!r} already exists")
    token = "fl_" + secrets.token_urlsafe(32)
    session.add(Agent(name=name, role=role, token_hash=hash_token(token)))
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


def link_accounts(session: Session, name: str, *, telegram_user_id: str | None = None,
                  slack_user_id: str | None = None) -> Agent:
    agent = session.scalar(select(Agent).where(Agent.name == name))
    if agent is None:
        raise AgentError(f"no agent named {name!r}")
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
