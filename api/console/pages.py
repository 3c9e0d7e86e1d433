"""The agent console (/console): login, the live queue, a conversation, the manager dashboard.

Pages are server-rendered Jinja2 shells; api/static/console/console.js fills them from the JSON agent API
(api/ticket_views, /api/v1/kb/search), authenticated by the console's session cookie + CSRF header
(api/deps.current_agent). Live updates: the SSE stream below, which polls the database with read sessions.
"""

from __future__ import annotations

import hmac
import json
import secrets
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from sqlalchemy import func, select
from sse_starlette import ServerSentEvent

from api.console import auth as console_auth
from api.deps import ManagerDep, ReadSessionDep, RuntimeDep
from api.streams import live_stream
from core.i18n import ui_texts
from core.rate_limit import RateLimited
from tickets import agents as agent_accounts
from tickets.dashboard import today
from tickets.models import Message, Ticket

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["agent console"])
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
LANG_COOKIE, LOGIN_CSRF_COOKIE = "fl_lang", "fl_login_csrf"
LANGS = ("en", "ru")

TEXTS: dict[str, dict[str, str]] = ui_texts("console")


def ui_lang(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGS:
        return chosen
    best, best_q = "en", -1.0
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, q = part.strip().partition(";q=")
        code = tag.split("-")[0].lower()
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if code in LANGS and weight > best_q:
            best, best_q = code, weight
    return best


def _secret(request: Request) -> str:
    return request.app.state.runtime.settings.secret


def _signed_in(request: Request):
    cookie = request.cookies.get(console_auth.COOKIE)
    if not cookie:
        return None, None
    with request.app.state.runtime.read_sessions() as s:
        agent = agent_accounts.session_agent(s, cookie)
        if agent is not None:
            s.expunge(agent)
    return agent, cookie


def _render(request: Request, template: str, status: int = 200, **ctx) -> HTMLResponse:
    lang = ctx.pop("lang", None) or ui_lang(request)
    return templates.TemplateResponse(
        request,
        template,
        {"lang": lang, "t": TEXTS[lang], "texts_json": json.dumps(TEXTS[lang], ensure_ascii=False), **ctx},
        status_code=status,
    )


def _login_page(request: Request, error: str | None = None, status: int = 200, name: str = "") -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    sso = request.app.state.runtime.settings.oidc_enabled
    resp = _render(request, "console/login.html", status, error=error, csrf=token, name=name, sso=sso)
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/console",
        secure=request.url.scheme == "https",
    )
    return resp


def _page(request: Request, template: str, **ctx) -> HTMLResponse:
    agent, cookie = _signed_in(request)
    if agent is None:
        return _login_page(request)
    return _render(request, template, agent=agent, csrf=console_auth.csrf_token(_secret(request), cookie), **ctx)


@router.get("/console")
def queue_page(request: Request) -> HTMLResponse:
    return _page(request, "console/queue.html", page="queue")


@router.get("/console/tickets/{number}")
def ticket_page(request: Request, number: int) -> HTMLResponse:
    return _page(request, "console/ticket.html", page="ticket", number=number)


@router.get("/console/people")
def people_page(request: Request) -> HTMLResponse:
    return _page(request, "console/people.html", page="people")


@router.get("/console/people/{person_id}")
def person_page(request: Request, person_id: int) -> HTMLResponse:
    return _page(request, "console/person.html", page="person", person_id=person_id)


@router.get("/console/dashboard")
def dashboard_page(request: Request) -> HTMLResponse:
    agent, _ = _signed_in(request)
    if agent is not None and agent.role != "manager":
        return _render(
            request,
            "console/forbidden.html",
            403,
            agent=agent,
            page="dashboard",
            csrf=console_auth.csrf_token(_secret(request), request.cookies[console_auth.COOKIE]),
        )
    return _page(request, "console/dashboard.html", page="dashboard")


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


@router.post("/console/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    lang = ui_lang(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not expected or not hmac.compare_digest(expected, form.get("csrf", "")):
        return _login_page(request, TEXTS[lang]["login_expired"], 403, form.get("name", ""))
    name, token = form.get("name", "").strip(), form.get("token", "").strip()
    throttle = request.app.state.sign_in_throttle
    address = console_auth.client_address(request)

    def check() -> str | None:
        # Refused before the token is looked at once this name or address has failed too often (429).
        throttle.check(address, name, lang)
        with request.app.state.runtime.sessions.begin() as s:
            # The secret field takes the agent's token or their password (argon2); either must match the name.
            agent = agent_accounts.authenticate(s, token)
            if agent is None or agent_accounts.name_key(agent.name) != agent_accounts.name_key(name):
                agent = agent_accounts.authenticate_password(s, name, token)
            if agent is None:
                throttle.failed(address, name)
                return None
            return agent_accounts.start_session(
                s, agent, client=address, user_agent=request.headers.get("user-agent", "")
            )

    try:
        cookie = await run_in_threadpool(check)
    except RateLimited as exc:
        resp = _login_page(request, exc.message, 429, name)
        resp.headers["Retry-After"] = str(exc.seconds)
        return resp
    if cookie is None:
        return _login_page(request, TEXTS[lang]["login_failed"], 401, name)
    return signed_in(request, cookie, RedirectResponse("/console", status_code=303))


def signed_in(request: Request, cookie: str, resp: Response) -> Response:
    """`resp` carrying a new console session's cookie."""
    resp.set_cookie(
        console_auth.COOKIE,
        cookie,
        max_age=console_auth.LIFETIME,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return resp


def login_failed_page(request: Request, message: str, status: int = 403) -> HTMLResponse:
    return _login_page(request, message, status)


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    """Sign out: the session is revoked on the server (a copied cookie stops working too), then the cookie goes."""
    form = await _form(request)
    cookie = request.cookies.get(console_auth.COOKIE)
    resp = RedirectResponse("/console", status_code=303)
    if cookie and console_auth.csrf_ok(_secret(request), cookie, form.get("csrf")):

        def end() -> None:
            with request.app.state.runtime.sessions.begin() as s:
                agent_accounts.end_session(s, cookie)

        await run_in_threadpool(end)
        resp.delete_cookie(console_auth.COOKIE)
    return resp


@router.get("/console/lang/{code}")
def set_lang(request: Request, code: str, next: str = "/console") -> Response:
    target = next if next.startswith("/console") else "/console"
    resp = RedirectResponse(target, status_code=303)
    if code in LANGS:
        resp.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax")
    return resp


# ---- JSON for the console -------------------------------------------------------------------------------


class DashboardOut(BaseModel):
    date: str
    conversations_today: int
    tickets_today: int
    by_hour: list[int]
    outcomes: dict[str, int]
    deflection_rate: float | None
    handoff_reasons: dict[str, int]
    open_by_line: dict[str, int]
    sla: dict[str, int] = {}  # open tickets by tickets.sla.sla_state
    sla_by_line: dict[str, dict[str, int]] = {}  # {"L1": {"at_risk": n, "breached": n}, ...}
    sla_risk: list[dict] = []  # the open tickets at risk or breached, soonest due first (at most 10)


@api_router.get("/dashboard", response_model=DashboardOut, summary="Today's numbers for the manager dashboard")
def dashboard(session: ReadSessionDep, manager: ManagerDep) -> DashboardOut:
    return DashboardOut(**today(session, datetime.now(timezone.utc)))


def _watermark(rt) -> dict:
    with rt.read_sessions() as s:
        return {
            "ticket": s.scalar(select(func.max(Ticket.id))) or 0,
            "updated": str(s.scalar(select(func.max(Ticket.updated_at))) or ""),
            "message": s.scalar(select(func.max(Message.id))) or 0,
        }


@api_router.get("/console/events", summary="Server-sent events: something changed in the queue or a conversation")
async def console_events(request: Request, rt: RuntimeDep):
    """Emits `change` with the newest ticket number, last ticket update and newest message id whenever one
    of them moves; the console then re-reads what it shows. Authenticated by the console cookie (EventSource
    sends no headers); checked with a read session, so the open stream holds no database lock."""
    agent, _ = await run_in_threadpool(_signed_in, request)
    if agent is None:
        raise HTTPException(401, "sign in at /console")

    relay = request.app.state.relay

    async def events():
        last = None
        yield ServerSentEvent(retry=2000, comment="connected")
        # Woken by any ticket or message change in any process (core.relay); the DB poll is the safety net.
        with relay.subscribe(lambda e: e.topic in ("ticket", "message")) as sub:
            while True:
                sub.clear()
                mark = await run_in_threadpool(_watermark, rt)
                if mark != last:
                    last = mark
                    yield ServerSentEvent(event="change", data=json.dumps(mark))
                await sub.wait(relay.poll_interval(0.7))

    return live_stream(events())
