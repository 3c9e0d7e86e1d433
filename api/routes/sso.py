"""Company sign-in (OpenID Connect) for the agent console and the web chat: /auth/oidc/login → the provider →
/auth/oidc/callback. Staff get a console session with the role their IdP groups give; an employee in the web chat
becomes their person (by the verified e-mail) with a chat token for their own chat.

The callback answers with a tiny page that moves on by itself instead of a redirect: the console's cookie is
SameSite=Strict, and a browser does not send it on a redirect chain that began on the provider's site.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import chat_auth
from api.console import auth as console_auth
from api.console import pages as console_pages
from api.oidc import STATE_COOKIE, STATE_MAX_AGE, OidcClient, OidcError, pack, unpack
from api.routes.chat import CHANNEL as CHAT_CHANNEL
from api.routes.chat import set_chat_cookie
from people.identify import person_for_sender
from tickets import agents as agent_accounts
from tickets import chat_identities

router = APIRouter(prefix="/auth/oidc", include_in_schema=False)
PURPOSES = ("console", "chat")


def _client(request: Request) -> OidcClient:
    client: OidcClient | None = getattr(request.app.state, "oidc", None)
    if client is None:
        raise HTTPException(404, "company sign-in (OpenID Connect) is not configured on this desk")
    return client


def _redirect_uri(request: Request) -> str:
    return f"{request.app.state.runtime.settings.public_url.rstrip('/')}/auth/oidc/callback"


def _moving_on(target: str, message: str) -> HTMLResponse:
    # A meta refresh, not script: the strict CSP allows no inline script and this page needs none.
    link = escape(target)
    html = (
        f'<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={link}">'
        f'<title>{escape(message)}</title></head><body><p><a href="{link}">{escape(message)}</a></p></body></html>'
    )
    return HTMLResponse(html)


@router.get("/login")
async def login(request: Request, purpose: str = "console") -> Response:
    client = _client(request)
    if purpose not in PURPOSES:
        raise HTTPException(422, f"purpose must be one of {', '.join(PURPOSES)}")
    try:
        url, pending = await run_in_threadpool(client.start, _redirect_uri(request), purpose)
    except OidcError as exc:
        if purpose == "console":
            return console_pages.login_failed_page(request, str(exc), 503)
        raise HTTPException(503, str(exc)) from exc
    resp = RedirectResponse(url, status_code=303)
    # Lax: the provider sends the browser back here with a top-level GET, which Lax cookies accompany.
    resp.set_cookie(
        STATE_COOKIE,
        pack(request.app.state.runtime.settings.secret, pending),
        max_age=STATE_MAX_AGE,
        httponly=True,
        samesite="lax",
        path="/auth/oidc",
        secure=request.url.scheme == "https",
    )
    return resp


@router.get("/callback")
async def callback(request: Request) -> Response:
    client = _client(request)
    rt = request.app.state.runtime
    settings = rt.settings
    purpose = "console"
    try:
        pending = unpack(settings.secret, request.cookies.get(STATE_COOKIE))
        purpose = pending.purpose
        claims = await run_in_threadpool(client.finish, _redirect_uri(request), dict(request.query_params), pending)
    except OidcError as exc:
        return _failed(request, purpose, str(exc))
    email = claims.get("email") if claims.get("email_verified", True) is not False else None
    name = claims.get("name") or claims.get("preferred_username")
    address = console_auth.client_address(request)

    if purpose == "console":
        groups = claims.get(settings.oidc_groups_claim) or []
        groups = [groups] if isinstance(groups, str) else list(groups)
        role = agent_accounts.role_from_groups(groups, settings.oidc_role_groups)

        def console_session() -> str:
            with rt.sessions.begin() as s:
                agent = agent_accounts.sso_agent(
                    s,
                    subject=str(claims["sub"]),
                    email=email,
                    name=name,
                    role=role,
                    auto_provision=settings.oidc_auto_provision,
                )
                return agent_accounts.start_session(
                    s, agent, client=address, user_agent=request.headers.get("user-agent", "")
                )

        try:
            cookie = await run_in_threadpool(console_session)
        except agent_accounts.AgentError as exc:
            return _failed(request, purpose, str(exc))
        resp = console_pages.signed_in(request, cookie, _moving_on("/console", "Signed in: continue to the console"))
        resp.delete_cookie(STATE_COOKIE, path="/auth/oidc")
        return resp

    if not email:
        return _failed(request, purpose, "the company sign-in did not give a verified e-mail address")

    def chat_identity() -> str:
        with rt.sessions.begin() as s:
            person = person_for_sender(s, "email", email, name=name)
            if not person.active:
                raise agent_accounts.AgentError("your account is disabled")
            user = f"person:{person.id}"
            person_for_sender(s, CHAT_CHANNEL, user, name=name, email=email)
            if chat_identities.get(s, CHAT_CHANNEL, user) is None:
                chat_identities.claim(s, CHAT_CHANNEL, user, created_from=address)
            return user

    try:
        user = await run_in_threadpool(chat_identity)
    except agent_accounts.AgentError as exc:
        return _failed(request, purpose, str(exc))
    token = chat_auth.issue(settings.secret, user)
    # The chat page keeps its identity in the browser's storage: it is handed over in the fragment, which the
    # browser never sends to a server (no access log holds the token).
    resp = _moving_on("/#" + urlencode({"fl_user": user, "fl_token": token}), "Signed in: continue to the chat")
    set_chat_cookie(request, resp, settings, token)
    resp.delete_cookie(STATE_COOKIE, path="/auth/oidc")
    return resp


def _failed(request: Request, purpose: str, message: str) -> Response:
    if purpose == "console":
        resp: Response = console_pages.login_failed_page(request, message, 403)
    else:
        resp = HTMLResponse(f"<!doctype html><p role='alert'>{escape(message)}</p><p><a href='/'>Back</a></p>", 403)
    resp.delete_cookie(STATE_COOKIE, path="/auth/oidc")
    return resp
