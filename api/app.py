"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError, OperationalError

from api.channels import configured_channels
from api.console import kb as console_kb
from api.console import pages as console_pages
from api.console import reports as console_reports
from api.console.auth import SignInThrottle
from api.middleware import InputGuard, SecurityHeaders
from api.oidc import OidcClient
from api.routes import admin as admin_routes
from api.routes import chat as chat_routes
from api.routes import intake as intake_routes
from api.routes import kb as kb_routes
from api.routes import kb_admin as kb_admin_routes
from api.routes import kb_reports as kb_report_routes
from api.routes import notifications as notification_routes
from api.routes import ops as ops_routes
from api.routes import people as people_routes
from api.routes import reports as report_routes
from api.routes import sla as sla_routes
from api.routes import sso as sso_routes
from api.routes import tickets as ticket_routes
from api.runtime import RELAY_WATCHES, Runtime, build_runtime
from bot.context import ChannelContext
from bot.desk import Desk
from bot.engine import Engine, EngineConfig
from bot.outbox import WEBHOOK, OutboxDispatcher
from bot.webhook_sender import WebhookSender
from core.background import cancel_and_wait
from core.rate_limit import RateLimited, RateLimiter
from core.relay import Relay, namespace_for
from core.settings import Settings
from kb_ingest.follower import follow_kb
from tickets.models import Agent
from tickets.scheduler import Scheduler
from tickets.service import TicketError

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


# What every error response looks like (the handlers below); the OpenAPI document says so instead of FastAPI's
# default {"detail": [...]} for 422, so clients (and the schemathesis fuzz test) read the real shape.
ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "title": "Error code"},
        "message": {"type": "string", "title": "Message"},
    },
}


def _document_error_shape(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schemas = generate().get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = ERROR_SCHEMA
                schemas.pop("ValidationError", None)
        return app.openapi_schema

    app.openapi = openapi


def _say_where(settings: Settings, rt: Runtime) -> None:
    """The first thing an admin needs after a start: where things are, and how to get the first agent."""
    base = settings.public_url.rstrip("/")
    log.info("Firstline is ready: web chat %s/ · agent console %s/console · API docs %s/docs", base, base, base)
    with rt.read_sessions() as s:
        agents = s.scalar(select(func.count()).select_from(Agent))
    if not agents:
        log.info("no agents yet: create the first one with  firstline agents add NAME --role manager  (prints a token)")


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or Settings()
    oidc = OidcClient(settings) if settings.oidc_enabled else None  # the provider is asked on first use

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        rt = runtime or build_runtime(settings)
        app.state.runtime = rt
        app.state.oidc = oidc
        agent_channels = tuple(m.name for m in mounts if m.has_agent_side)
        app.state.engine = Engine(
            rt.sessions,
            rt.retriever,
            EngineConfig(
                max_chars=settings.max_message_chars,
                idle_after=timedelta(minutes=settings.conversation_idle_minutes),
                channel_idle_after={"email": timedelta(days=settings.email_idle_days)},
                article_url=lambda article_id: f"{settings.public_url.rstrip('/')}/kb/{article_id}",
                link_codes_by_email=bool(settings.smtp_relay),
            ),
            agent_channels=agent_channels,
            learner=rt.learner,
        )
        app.state.desk = Desk(agent_channels, learner=rt.learner)
        # Several processes: commits wake waiters here and (through Redis, if configured) in the other processes.
        namespace = namespace_for(settings.db_url)
        app.state.relay = relay = Relay(settings.redis_url, namespace, RELAY_WATCHES)
        relay.attach(rt.sessions)
        relay.start()
        app.state.rate_limiter = RateLimiter(settings.chat_rate_per_minute, settings.redis_url, namespace)
        app.state.sign_in_throttle = SignInThrottle(
            app.state.rate_limiter,
            per_name=settings.signin_max_failures,
            per_address=settings.signin_max_failures_per_address,
            minutes=settings.signin_lockout_minutes,
        )
        background: list[asyncio.Task] = [
            asyncio.create_task(follow_kb(relay, rt.read_sessions, rt.retriever), name="kb-follower")
        ]
        senders = {m.name: m.sender for m in mounts if m.sender is not None}
        if settings.dev_webhook_url:  # requests to application developers, POSTed (and signed) by the outbox
            senders[WEBHOOK] = WebhookSender(
                settings.dev_webhook_url,
                settings.dev_webhook_secret.get_secret_value() if settings.dev_webhook_secret else None,
            )
        app.state.dispatcher = (
            OutboxDispatcher(rt.sessions, senders, max_attempts=settings.outbox_max_attempts) if senders else None
        )
        if app.state.dispatcher is not None:
            relay.on("outbox", app.state.dispatcher.wake)  # new items queued by any process
            background.append(asyncio.create_task(app.state.dispatcher.run_forever(), name="outbox"))
        # SLA warnings/breaches and the daily digest (each notice claimed in the DB: safe with several processes).
        app.state.scheduler = Scheduler(
            rt.sessions, settings.sla_check_seconds, settings.daily_digest_hour, settings.timezone
        )
        background.append(asyncio.create_task(app.state.scheduler.run_forever(), name="scheduler"))
        # What the channels get of the app (bot.context): no adapter reads app.state.
        ctx = ChannelContext(
            engine=app.state.engine,
            desk=app.state.desk,
            sessions=rt.sessions,
            read_sessions=rt.read_sessions,
            rate_limiter=app.state.rate_limiter,
            relay=relay,
        )
        if app.state.dispatcher is not None:
            ctx.wake_outbox = app.state.dispatcher.wake
        for m in mounts:
            if m.start is not None:
                work = m.start(ctx)
                if work is not None:
                    background.append(asyncio.create_task(work, name=f"channel:{m.name}"))
        _say_where(settings, rt)
        try:
            yield
        finally:
            await cancel_and_wait(background)
            for m in mounts:
                if m.stop is not None:
                    await m.stop()
            await relay.stop()
            app.state.rate_limiter.close()
            if runtime is None:
                rt.close()

    mounts = configured_channels(settings)
    # /docs is our own page over the vendored Swagger UI (offline, no inline script); no ReDoc (it needs a CDN).
    app = FastAPI(
        title="Firstline",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="Chatbot-first IT service desk: web chat, agent API, knowledge base.",
    )
    webhooks = frozenset(r.path for m in mounts if m.router is not None for r in m.router.routes)
    app.add_middleware(InputGuard, max_body=settings.max_request_bytes, body_exempt=webhooks)
    app.add_middleware(
        SecurityHeaders,
        hsts=settings.public_url.startswith("https://"),
        embed_origins=settings.embed_origins,
    )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException):
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            409: "conflict",
            413: "too_large",
            422: "invalid_input",
            429: "rate_limited",
        }.get(exc.status_code, "error")
        return _error(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RateLimited)
    async def rate_limited(_: Request, exc: RateLimited):
        return _error(429, "rate_limited", exc.message, {"Retry-After": str(exc.seconds)})

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return _error(422, "invalid_input", "; ".join(parts) or "invalid request")

    @app.exception_handler(TicketError)
    async def ticket_error(_: Request, exc: TicketError):
        code = {404: "not_found", 409: "conflict", 403: "forbidden"}.get(exc.status_code, "invalid_input")
        return _error(exc.status_code, code, str(exc))

    # A number beyond what the database stores (an id of 2**70 in a URL or body): the request is wrong, not the
    # server. Only these two exact conditions; any other OverflowError / DataError stays a server error.
    @app.exception_handler(OverflowError)
    async def number_too_large(_: Request, exc: OverflowError):
        if "too large to convert to SQLite" not in str(exc):
            raise exc
        return _error(422, "invalid_input", "a number in the request is out of range")

    @app.exception_handler(DataError)
    async def value_out_of_range(_: Request, exc: DataError):
        if getattr(exc.orig, "sqlstate", None) != "22003":  # PostgreSQL numeric_value_out_of_range
            raise exc
        return _error(422, "invalid_input", "a number in the request is out of range")

    @app.exception_handler(OperationalError)
    async def db_error(_: Request, exc: OperationalError):
        log.error("database unavailable: %s", exc.orig)
        return _error(
            503,
            "unavailable",
            "the service desk database is unavailable; nothing was saved, please retry",
            {"Retry-After": "2"},
        )

    app.include_router(chat_routes.router)
    app.include_router(ticket_routes.router)
    app.include_router(kb_routes.router)
    app.include_router(console_pages.router)
    app.include_router(console_pages.api_router)
    app.include_router(console_kb.router)
    app.include_router(kb_admin_routes.router)
    app.include_router(kb_report_routes.router)
    app.include_router(ops_routes.router)
    app.include_router(admin_routes.router)
    app.include_router(sla_routes.router)
    app.include_router(report_routes.router)
    app.include_router(console_reports.router)
    app.include_router(notification_routes.router)
    app.include_router(intake_routes.router)
    app.include_router(people_routes.router)
    app.include_router(sso_routes.router)
    for m in mounts:
        if m.router is not None:
            app.include_router(m.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _document_error_shape(app)

    @app.get("/healthz", tags=["ops"])
    def healthz(request: Request) -> dict:
        rt: Runtime = request.app.state.runtime
        with rt.read_sessions() as s:
            s.execute(text("select 1"))
        return {"status": "ok", "units": len(rt.retriever.index), "embedder": rt.retriever.embedder.name}

    @app.get("/", include_in_schema=False)
    def web_chat() -> FileResponse:
        return FileResponse(STATIC / "chat.html")

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html")

    return app
