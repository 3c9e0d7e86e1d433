"""Start the real app (uvicorn on a free port, in a thread) for HTTP tests."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from api.app import create_app
from api.runtime import build_runtime
from core.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_app(settings: Settings, *, listen_port: int | None = None, **uvicorn_options):
    """Build the runtime and serve the real app (uvicorn on a free port, or `listen_port`, in a thread): yields
    (base URL, runtime, app)."""
    runtime = build_runtime(settings)
    port = listen_port or free_port()
    app = create_app(settings, runtime)
    options = {"log_level": "warning", "limit_concurrency": 1000, "backlog": 2048, **uvicorn_options}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", runtime, app
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.close()


@contextmanager
def running_app(db_url: str, data_dir: Path, *, listen_port: int | None = None, **overrides):
    settings = Settings(data_dir=data_dir, database_url=db_url, secret_key="test-secret", **overrides)
    with serve_app(settings, listen_port=listen_port) as (base, runtime, _):
        yield base, runtime


def make_agent(runtime, name: str, role: str = "l1", *, kb_editor: bool = False) -> dict:
    """A new agent's bearer header (kb_editor: may publish what the bot serves)."""
    from tickets.agents import create_agent

    with runtime.sessions.begin() as s:
        token = create_agent(s, name, role, kb_editor=kb_editor)
    return {"Authorization": f"Bearer {token}"}


class ChatUser:
    """A web-chat user talking to the running app over HTTP."""

    def __init__(self, client: httpx.Client, user: str) -> None:
        self.client, self.user, self.token = client, user, None

    @property
    def headers(self) -> dict:
        return {"X-Chat-Token": self.token} if self.token else {}

    def ask_for_person(self, text: str) -> dict:
        """Ask a question the bot should not answer; if it offers "did you mean" choices, pick none of them (a
        person). Returns the last chat response."""
        r = self.send(text).json()
        if r["state"] == "bot" and r["replies"] and r["replies"][0]["kind"] == "choices":
            r = self.send(action="human").json()
        return r

    def send(self, text: str = "", action: str | None = None, **extra) -> httpx.Response:
        body = {"user": self.user, "text": text, **extra}
        if action:
            body["action"] = action
        r = self.client.post("/api/v1/chat", json=body, headers=self.headers)
        if r.status_code == 200:
            self.token = r.json()["user_token"]
        return r

    def messages(self, after: int = 0) -> list[dict]:
        r = self.client.get("/api/v1/chat/messages", params={"user": self.user, "after": after}, headers=self.headers)
        r.raise_for_status()
        return r.json()
