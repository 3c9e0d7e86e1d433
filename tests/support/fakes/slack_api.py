"""A local fake of the Slack Web API on 127.0.0.1 for tests: answers auth.test, users.info,
conversations.open, and records chat.postMessage / chat.update / chat.postEphemeral / views.publish /
views.open and posts to response_url (/response/...). Form, JSON or query bodies, like slack_sdk sends them.
It can be told to answer a method with an error once (e.g. `ratelimited` with HTTP 429 and Retry-After)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.live import free_port

JSON_FIELDS = {"blocks", "attachments", "view", "metadata"}


@dataclass
class Call:
    method: str
    args: dict
    status: int = 200
    ok: bool = True
    token: str | None = None
    result: dict = field(default_factory=dict)  # what the fake answered
    at: float = field(default_factory=time.time)

    def text(self) -> str:
        """Everything a person would read in a message: the text and every block's text."""
        parts = [str(self.args.get("text") or "")]
        for b in self.args.get("blocks") or []:
            parts.extend(block_texts(b))
        return "\n".join(parts)


def block_texts(block: dict) -> list[str]:
    out = []
    if isinstance(block.get("text"), dict):
        out.append(block["text"].get("text", ""))
    for f in block.get("fields") or []:
        out.append(f.get("text", ""))
    for e in block.get("elements") or []:
        if isinstance(e.get("text"), dict):
            out.append(e["text"].get("text", ""))
        elif isinstance(e.get("text"), str):
            out.append(e["text"])
    return out


class FakeSlack:
    def __init__(self, bot_user: str = "UBOT", bot_id: str = "BBOT", team: str = "T0001") -> None:
        self.bot_user, self.bot_id, self.team = bot_user, bot_id, team
        self.calls: list[Call] = []
        self.users: dict[str, dict] = {}
        self._failures: dict[str, list[tuple[int, dict, dict]]] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self.url = ""
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/response/{key:path}", self._response_url, methods=["POST"]),
            ]
        )

    # -- control ------------------------------------------------------------------------------
    def fail_next(
        self, method: str, error: str = "ratelimited", *, retry_after: int | None = 1, status: int | None = None
    ) -> None:
        """The next call of `method` gets `error` (HTTP 429 + Retry-After for `ratelimited`)."""
        status = status or (429 if error == "ratelimited" else 200)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None and status == 429 else {}
        with self._lock:
            self._failures.setdefault(method, []).append((status, {"ok": False, "error": error}, headers))

    def next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def of(self, method: str, ok: bool | None = True, **match) -> list[Call]:
        with self._lock:
            calls = list(self.calls)
        return [
            c
            for c in calls
            if c.method == method and (ok is None or c.ok == ok) and all(c.args.get(k) == v for k, v in match.items())
        ]

    def wait_for(
        self,
        method: str,
        predicate=lambda c: True,
        *,
        count: int = 1,
        timeout: float = 10,
        ok: bool | None = True,
        **match,
    ) -> list[Call]:
        """Poll (bounded) until `count` calls of `method` match; returns them."""
        deadline = time.time() + timeout
        while True:
            found = [c for c in self.of(method, ok, **match) if predicate(c)]
            if len(found) >= count:
                return found
            if time.time() > deadline:
                seen = [(c.args.get("channel"), c.text()[:80]) for c in self.of(method, None)]
                raise AssertionError(
                    f"expected {count} {method} call(s) matching {match}, got {len(found)}; all {method} calls: {seen}"
                )
            time.sleep(0.05)

    # -- HTTP ---------------------------------------------------------------------------------
    async def _args(self, request: Request) -> dict:
        args: dict = dict(request.query_params)
        body = await request.body()
        ctype = request.headers.get("content-type", "")
        if body and "json" in ctype:
            args.update(json.loads(body))
        elif body:
            args.update(dict(parse_qsl(body.decode(), keep_blank_values=True)))
        for k in JSON_FIELDS:
            if isinstance(args.get(k), str) and args[k]:
                try:
                    args[k] = json.loads(args[k])
                except ValueError:
                    pass
        return args

    async def _response_url(self, request: Request) -> Response:
        args = await self._args(request)
        with self._lock:
            self.calls.append(Call("response_url", {**args, "key": request.path_params["key"]}))
        return Response("ok")

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        args = await self._args(request)
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ") if auth else args.get("token")
        with self._lock:
            queued = self._failures.get(method)
            if queued:
                status, body, headers = queued.pop(0)
                self.calls.append(Call(method, args, status, False, token))
                return JSONResponse(body, status_code=status, headers=headers)
        body = self._answer(method, args)
        with self._lock:
            self.calls.append(Call(method, args, 200, bool(body.get("ok")), token, body))
        return JSONResponse(body)

    def _answer(self, method: str, args: dict) -> dict:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://acme.slack.com/",
                "team": "Acme",
                "user": "firstline",
                "team_id": self.team,
                "user_id": self.bot_user,
                "bot_id": self.bot_id,
            }
        if method == "chat.postMessage":
            if not args.get("channel"):
                return {"ok": False, "error": "channel_not_found"}
            ts = self.next_ts()
            return {
                "ok": True,
                "channel": args["channel"],
                "ts": ts,
                "message": {"text": args.get("text"), "ts": ts, "bot_id": self.bot_id, "user": self.bot_user},
            }
        if method == "chat.update":
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts"), "text": args.get("text")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self.next_ts()}
        if method == "conversations.open":
            user = str(args.get("users", "")).split(",")[0]
            return {"ok": True, "channel": {"id": f"D{user}"}}
        if method == "users.info":
            user = args.get("user", "")
            profile = self.users.get(user, {})
            return {
                "ok": True,
                "user": {
                    "id": user,
                    "name": user.lower(),
                    "real_name": profile.get("real_name", user),
                    "locale": profile.get("locale", "en-US"),
                    "profile": {"email": profile["email"]} if profile.get("email") else {},
                },
            }
        if method in ("views.publish", "views.open", "views.update"):
            return {"ok": True, "view": {"id": "V1", **(args.get("view") or {})}}
        return {"ok": False, "error": "unknown_method"}


@contextmanager
def running_fake_slack(**kwargs):
    fake = FakeSlack(**kwargs)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("fake Slack did not start")
        time.sleep(0.02)
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(5)
