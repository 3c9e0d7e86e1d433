"""FastAPI dependencies: the process runtime, DB sessions, and agent authentication by role."""

from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy.orm import Session

from api.console import auth as console_auth
from api.runtime import Runtime
from bot.desk import Desk
from bot.engine import Engine
from tickets import agents as agent_accounts
from tickets.models import STAFF_ROLES, Agent, Role


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_desk(request: Request) -> Desk:
    return request.app.state.desk


def get_session(rt: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    """A session for one request. Endpoints that write commit before they return: a yield
    dependency's exit may run after the response is sent, too late for a client that reads next."""
    with rt.sessions() as session:
        yield session


def get_read_session(rt: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    """A session for endpoints that only read (no write lock on SQLite)."""
    with rt.read_sessions() as session:
        yield session


def current_account(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    authorization: Annotated[str | None, Header()] = None,
) -> Agent:
    """The agent behind a request: a Bearer token, or the agent console's session cookie (then a
    request that changes something must also carry the page's CSRF token in `X-CSRF-Token`). Bad tokens are
    throttled per client address (429 + Retry-After): guessing one takes forever."""
    scheme, _, token = (authorization or "").partition(" ")
    cookie = request.cookies.get(console_auth.COOKIE)
    if not authorization and cookie:
        agent = agent_accounts.session_agent(session, cookie)
        if agent is None:
            raise HTTPException(401, "your console session has ended: sign in again at /console")
        secret = request.app.state.runtime.settings.secret
        if request.method not in ("GET", "HEAD", "OPTIONS") and not console_auth.csrf_ok(
            secret, cookie, request.headers.get(console_auth.CSRF_HEADER)
        ):
            raise HTTPException(403, "missing or wrong CSRF token (send the console page's X-CSRF-Token)")
        return agent
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            401,
            "missing bearer token: send 'Authorization: Bearer <agent token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    throttle = request.app.state.sign_in_throttle
    address = console_auth.client_address(request)
    throttle.check(address)
    agent = agent_accounts.authenticate(session, token.strip())
    if agent is None:
        throttle.failed(address)
        raise HTTPException(401, "invalid or revoked agent token", headers={"WWW-Authenticate": "Bearer"})
    return agent


def current_agent(account: Annotated[Agent, Depends(current_account)]) -> Agent:
    """Someone who works tickets (L1–L3, manager): everything the desk does needs this; a client manager only
    reads their organisation's tickets and reports (ViewerDep routes)."""
    if account.role not in STAFF_ROLES:
        raise HTTPException(403, "a client manager's account reads its organisation's tickets and reports only")
    return account


def require_kb_editor(agent: Annotated[Agent, Depends(current_agent)]) -> Agent:
    if not agent_accounts.can_edit_kb(agent):
        raise HTTPException(
            403,
            "publishing, archiving or changing a published article needs the KB-editor "
            "permission (a manager grants it); drafts are open to every agent",
        )
    return agent


def require_manager(agent: Annotated[Agent, Depends(current_agent)]) -> Agent:
    if agent.role != Role.manager.value:
        raise HTTPException(403, f"this needs the manager role (you are {agent.role})")
    return agent


SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
AgentDep = Annotated[Agent, Depends(current_agent)]
# Staff or a client manager: a route using it must scope what it returns with `visible_organisation`.
ViewerDep = Annotated[Agent, Depends(current_account)]
ManagerDep = Annotated[Agent, Depends(require_manager)]
KbEditorDep = Annotated[Agent, Depends(require_kb_editor)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
EngineDep = Annotated[Engine, Depends(get_engine)]
DeskDep = Annotated[Desk, Depends(get_desk)]


def visible_organisation(account: Agent) -> int | None:
    """The one organisation a client manager may see (None: staff see every organisation). A client manager
    with no organisation set sees nothing: -1 matches no row."""
    if account.role == Role.client_manager.value:
        return account.organisation_id if account.organisation_id is not None else -1
    return None
