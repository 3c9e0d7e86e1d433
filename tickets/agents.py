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

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import rowcount, utcnow
from core.inputs import clean_text
from tickets.models import Agent, ConsoleSession, Role

SESSION_LIFETIME = timedelta(hours=12)  # one working day
ROLE_NAMES = ", ".join(r.value for r in Role)
MIN_PASSWORD = 12
# argon2id with the library's defaults (RFC 9106 low-memory profile): slow to guess, ~50 ms to check.
_passwords = PasswordHasher()


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


def create_agent(
    session: Session,
    name: str,
    role: str,
    *,
    kb_editor: bool = False,
    email: str | None = None,
    organisation_id: int | None = None,
) -> str:
    """Create an agent; returns the bearer token, which is never stored or shown again."""
    name = clean_name(name)
    if not name:
        raise AgentError("agent name must not be empty")
    if role not in {r.value for r in Role}:
        raise AgentError(f"unknown role {role!r}: use {ROLE_NAMES}")
    if role == Role.client_manager.value and organisation_id is None:
        raise AgentError("a client manager needs the organisation they see")
    existing = by_name(session, name)
    if existing is not None:
        raise AgentError(
            f"an agent named {existing.name!r} already exists (names differing only in case, spaces "
            f"or invisible characters are the same name)"
        )
    token = _new_token()
    session.add(
        Agent(
            name=name,
            role=role,
            token_hash=hash_token(token),
            kb_editor=kb_editor,
            email=email.strip().casefold() if email else None,
            organisation_id=organisation_id,
        )
    )
    try:
        session.flush()
    except IntegrityError as exc:
        raise AgentError(f"an agent named {name!r} or with that e-mail already exists") from exc
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
        raise AgentError(f"unknown role {role!r}: use {ROLE_NAMES}")
    if role == Role.client_manager.value and agent.organisation_id is None:
        raise AgentError("a client manager needs the organisation they see")
    if role != Role.manager.value:
        _keep_a_manager(session, agent)
    agent.role = role  # read from the database on every request: effective at once
    return agent


def set_kb_editor(session: Session, agent: Agent, allowed: bool) -> Agent:
    agent.kb_editor = allowed
    return agent


# -- passwords and company SSO -----------------------------------------------------------------------------
def set_password(session: Session, agent: Agent, password: str) -> None:
    """A local password (the fallback when SSO is down or not used). Setting one ends the other sessions."""
    if len(password) < MIN_PASSWORD:
        raise AgentError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise AgentError("a password is at most 1024 characters")
    agent.password_hash = _passwords.hash(password)
    revoke_sessions(session, agent.id)


def authenticate_password(session: Session, name: str, password: str) -> Agent | None:
    """The active agent with this name (or e-mail) and password, or None. The hash is checked even for an unknown
    name, so the answer takes as long either way."""
    agent = by_name(session, name) or (
        session.scalar(select(Agent).where(Agent.email == name.strip().casefold())) if "@" in name else None
    )
    stored = agent.password_hash if agent is not None and agent.password_hash else _DUMMY_HASH
    try:
        _passwords.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if agent is None or not agent.password_hash or not agent.active:
        return None
    if _passwords.check_needs_rehash(agent.password_hash):
        agent.password_hash = _passwords.hash(password)
    return agent


_DUMMY_HASH = _passwords.hash(secrets.token_urlsafe(16))

ROLE_RANK = {Role.client_manager.value: 0, Role.l1.value: 1, Role.l2.value: 2, Role.l3.value: 3, "manager": 4}


def role_from_groups(groups: list[str], mapping: str) -> str | None:
    """The highest role any of the user's IdP groups maps to ("manager=it-managers,l1=servicedesk"), or None."""
    found: list[str] = []
    wanted = {str(g).strip().casefold() for g in groups}
    for pair in mapping.split(","):
        role, _, group = pair.partition("=")
        if role.strip() in ROLE_RANK and group.strip().casefold() in wanted:
            found.append(role.strip())
    return max(found, key=ROLE_RANK.__getitem__) if found else None


def sso_agent(
    session: Session,
    *,
    subject: str,
    email: str | None,
    name: str | None,
    role: str | None,
    auto_provision: bool,
) -> Agent:
    """The agent a verified SSO sign-in belongs to (by subject, else by e-mail, else created when auto-provisioning
    is on). The IdP's groups decide the role at every sign-in; AgentError says why someone cannot come in."""
    agent = session.scalar(select(Agent).where(Agent.oidc_subject == subject))
    address = email.strip().casefold() if email else None
    if agent is None and address:
        agent = session.scalar(select(Agent).where(Agent.email == address))
        if agent is not None and agent.oidc_subject not in (None, subject):
            raise AgentError("this e-mail belongs to an account linked to another SSO identity")
    if role is None:
        raise AgentError("your account is in none of the groups that give access to the console")
    if agent is None:
        if not auto_provision:
            raise AgentError("there is no console account for you yet: ask a manager to create one")
        base = clean_name(name or (address or subject).split("@")[0]) or "agent"
        unique = base
        n = 2
        while by_name(session, unique) is not None:
            unique, n = f"{base} {n}", n + 1
        agent = Agent(name=unique, role=role, token_hash=hash_token(_new_token()), email=address, active=True)
        session.add(agent)
    if not agent.active:
        raise AgentError("your console account is disabled")
    agent.oidc_subject = subject
    if agent.role != role:
        if role != Role.manager.value and agent.role == Role.manager.value:
            _keep_a_manager(session, agent)
        agent.role = role
    session.flush()
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
