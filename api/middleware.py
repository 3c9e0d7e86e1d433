"""Two pure-ASGI middlewares every request passes: strict security headers on every response, and the input rule
that no text the service cannot store reaches a handler (core.inputs).

Pure ASGI rather than Starlette's BaseHTTPMiddleware: streamed responses (SSE) pass through untouched and a
request body is read once.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.inputs import invalid_text_reason

# No page of ours runs inline script or style, loads anything from another origin or may be framed: the
# console's pages and the web chat are static files plus JSON. A planted `javascript:` link or an injected
# <script> is inert under this policy.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate CSP 2
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


# The two exceptions to "never framed, never used by another origin", for the intranet widget (api/static/widget.js):
# the chat page may be framed by the origins a company lists, and the widget script itself may be loaded by them.
CHAT_PAGE, WIDGET = "/", "/static/widget.js"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool = False, embed_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.hsts = hsts  # the public URL is https: browsers must never fall back to http
        self.framed_chat = [
            (k, v)
            for k, v in HEADERS
            if k != b"x-frame-options"  # it cannot name origins; CSP frame-ancestors does
        ]
        if embed_origins:
            ancestors = " ".join(("'self'", *embed_origins))
            csp = CSP.replace("frame-ancestors 'none'", f"frame-ancestors {ancestors}")
            self.framed_chat = [
                (k, csp.encode() if k == b"content-security-policy" else v) for k, v in self.framed_chat
            ]
        self.embed = bool(embed_origins)
        self.widget = [(k, b"cross-origin" if k == b"cross-origin-resource-policy" else v) for k, v in HEADERS]

    def _headers_for(self, path: str) -> list[tuple[bytes, bytes]]:
        if self.embed and path == CHAT_PAGE:
            return self.framed_chat
        if path == WIDGET:
            return self.widget
        return HEADERS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._headers_for(scope.get("path", "")) + (
            [HSTS] if self.hsts or scope.get("scheme") == "https" else []
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *((k, v) for k, v in extra if k not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _bad_string(value: Any) -> str | None:
    """The reason the first unstorable string in a decoded JSON value is refused, if any."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            reason = invalid_text_reason(v)
            if reason:
                return reason
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return None


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class InputGuard:
    """Refuse, with a 422 that says where, any path, query or JSON/form body holding text that is not storable
    (an unpaired surrogate, a NUL); refuse JSON/form bodies over `max_body` bytes with 413 (never read whole).

    One rule at the door instead of a check in each of ~90 handlers: PostgreSQL rejects such text deep inside a
    transaction, which used to surface as a 500."""

    def __init__(self, app: ASGIApp, *, max_body: int, body_exempt: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.max_body = max_body
        # Platform webhooks (Telegram, Slack, SMS): refusing a platform's delivery would lose a user's message; their
        # bodies are verified by signature and their text cleaned by the engine (core.inputs.clean_text).
        self.body_exempt = body_exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = self._check_url(scope)
        if where:
            await _refuse(send, 422, "invalid_input", where)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        textual = ctype in (b"application/json", b"application/x-www-form-urlencoded") or ctype.endswith(b"+json")
        if not textual or scope.get("path") in self.body_exempt:
            await self.app(scope, receive, send)
            return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await _refuse(send, 413, "too_large", f"the request body is over {self.max_body} bytes")
            return
        body, messages = b"", []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await _refuse(send, 413, "too_large", f"the request body is over {self.max_body} bytes")
                return
            if not message.get("more_body"):
                break
        reason = self._check_body(ctype, body)
        if reason:
            await _refuse(send, 422, "invalid_input", f"body: text {reason}")
            return
        replay = iter(messages)

        async def replay_receive() -> Message:
            try:
                return next(replay)
            except StopIteration:
                return await receive()  # after the body: wait for the disconnect as usual

        await self.app(scope, replay_receive, send)

    @staticmethod
    def _check_url(scope: Scope) -> str | None:
        path = scope.get("path", "")
        reason = invalid_text_reason(path)
        if reason:
            return f"path: text {reason}"
        query = scope.get("query_string", b"").decode("latin-1")
        for name, value in parse_qsl(query, keep_blank_values=True):
            for part in (name, value):
                reason = invalid_text_reason(part)
                if reason:
                    return f"query parameter {unquote(name)[:40]!r}: text {reason}"
        return None

    @staticmethod
    def _check_body(ctype: bytes, body: bytes) -> str | None:
        if not body:
            return None
        if ctype == b"application/x-www-form-urlencoded":
            text = body.decode("utf-8", "replace")
            return next(
                (r for pair in parse_qsl(text, keep_blank_values=True) for r in map(invalid_text_reason, pair) if r),
                None,
            )
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None  # not JSON: the route's own validation says so
        return _bad_string(data)
