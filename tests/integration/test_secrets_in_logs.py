"""No secret ever reaches a log record, the settings' repr or an error response.

The real app runs with every secret set and the root and uvicorn loggers at DEBUG (SQL statements included), and
goes through startup, web chat, an agent signing in, Telegram webhook calls (one whose file download fails: the
Bot API puts the bot token in file URLs) and outbound deliveries that fail and log errors (SMS provider, the
developers' webhook). Every record, formatted with its traceback, is searched for every secret value."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from bot.sms import signature
from core.settings import Settings
from tests.support.fakes.telegram_api import FakeTelegram, TgUser
from tests.support.live import free_port, make_agent, serve_app

TG_TOKEN = "424242:TgBotTokenSecretValue_abc123"
SECRETS = {
    "secret_key": "firstline-secret-key-value-9f8e7d",
    "telegram_webhook_secret": "TgWebhookSecret_value_77",
    "slack_bot_token": "xoxb-slack-bot-token-secret-value",
    "slack_signing_secret": "slack-signing-secret-value-55",
    "smtp_password": "smtp-password-value-!x",
    "sms_api_token": "sms-api-token-secret-value",
    "sms_webhook_secret": "sms-webhook-secret-value",
    "dev_webhook_secret": "dev-webhook-secret-value",
}


def ours(record: logging.LogRecord) -> bool:
    """Records of the app, not of the test's stand-ins for the other side: the fake Bot API server's access
    log (Telegram's side) and the test's own HTTP client (the browser's side), which runs in the main thread."""
    if record.name == "aiohttp.access":
        return False
    client = record.name.startswith(("httpx", "httpcore")) and record.thread == threading.main_thread().ident
    return not client


class Capture(logging.Handler):
    """Every record, formatted as an operator's log file would show it (message + traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if not ours(record):
            return
        try:
            line = self.format(record)
        except Exception as exc:  # a record that cannot be formatted is a bug too: keep what we can
            line = f"UNFORMATTABLE {record.name} {record.msg!r} {record.args!r} {exc}"
        with self._lock2:
            self.lines.append(line)

    def text(self) -> str:
        with self._lock2:
            return "\n".join(self.lines)


@pytest.fixture
def debug_logs(caplog):
    capture = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    uvicorn_loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(lg.level, lg.propagate) for lg in uvicorn_loggers]
    for lg in uvicorn_loggers:
        lg.setLevel(logging.DEBUG)
        lg.propagate = True
    try:
        yield capture, caplog
    finally:
        root.removeHandler(capture)
        root.setLevel(old_level)
        for lg, (level, propagate) in zip(uvicorn_loggers, saved):
            lg.setLevel(level)
            lg.propagate = propagate


def _closed_port_url(path: str = "") -> str:
    return f"http://127.0.0.1:{free_port()}{path}"  # nothing listens: deliveries there fail


class _Refuse(BaseHTTPRequestHandler):
    """An SMS provider / developers' webhook that refuses everything (400): our sender logs a failure for good."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"error": "invalid request"}'
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def refusing_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_no_secret_in_logs_repr_or_errors(tmp_path, debug_logs, refusing_server):
    capture, caplog = debug_logs
    fake = FakeTelegram(TG_TOKEN)
    errors: list[str] = []
    with fake.running():
        settings = Settings(
            data_dir=tmp_path,
            database_url=f"sqlite:///{tmp_path / 'firstline.db'}",
            telegram_bot_token=TG_TOKEN,
            telegram_api_base=fake.base_url,
            telegram_webhook_url="https://desk.example.test/api/v1/telegram/webhook",
            slack_api_base=_closed_port_url("/api/"),
            smtp_relay=f"127.0.0.1:{free_port()}",
            smtp_username="desk",
            sms_api_url=f"{refusing_server}/send",
            sms_from="+1000",
            dev_webhook_url=f"{refusing_server}/dev-hook",
            sla_check_seconds=3600,
            load_sample_kb=False,
            **SECRETS,
        )
        with serve_app(settings, log_level="debug", log_config=None, access_log=True) as (base, runtime, _):
            secrets = dict(SECRETS, telegram_bot_token=TG_TOKEN)
            secrets["manager_token"] = make_agent(runtime, "lee", "manager")["Authorization"].split()[1]
            with httpx.Client(base_url=base, timeout=30) as http:
                secrets.update(_drive(http, fake, errors, secrets["manager_token"]))
            # The failing deliveries are retried by the outbox: wait until each has logged its failure.
            deadline = time.time() + 20
            while time.time() < deadline and capture.text().count("failed for good") < 2:
                time.sleep(0.2)

    logs = capture.text()
    assert "telegram" in logs and "GET /api/v1/chat/messages" in logs, "the flows did not run (nothing logged)"
    failed = [line for line in capture.lines if "failed for good" in line]
    assert any("SMS provider refused" in f for f in failed) and any("webhook: HTTP 400" in f for f in failed), (
        "the failing deliveries were not logged"
    )
    assert "downloading document" in logs, "the failed Telegram download was not logged"
    app_records = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records if ours(r))
    views = {
        "log records": logs,
        "caplog": app_records,
        "repr(Settings)": repr(settings),
        "str(Settings)": str(settings),
        "error responses": "\n".join(errors),
    }
    leaks = [f"{name} in {where}" for name, value in secrets.items() for where, text in views.items() if value in text]
    assert not leaks, leaks


def _drive(http: httpx.Client, fake: FakeTelegram, errors: list[str], token: str) -> dict[str, str]:
    """The flows; every error response body is kept for the check. Returns secrets minted on the way."""
    minted = {}
    # Web chat: the user's token travels in a header, never in a URL.
    r = http.post("/api/v1/chat", json={"user": "ann", "text": "I need a person", "action": "human"})
    r.raise_for_status()
    ann = r.json()
    minted["chat_token"] = ann["user_token"]
    http.get("/api/v1/chat/messages", params={"user": "ann"}, headers={"X-Chat-Token": ann["user_token"]})
    errors.append(http.get("/api/v1/chat/messages", params={"user": "ann"}, headers={"X-Chat-Token": "wrong"}).text)

    # An agent signs in to the console (the form carries the token), then uses the API.
    page = http.get("/console")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    bad = http.post("/console/login", data={"csrf": csrf, "name": "lee", "token": token + "x"})
    errors.append(bad.text)
    page = http.get("/console")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    ok = http.post("/console/login", data={"csrf": csrf, "name": "lee", "token": token}, follow_redirects=False)
    assert ok.status_code == 303, ok.text
    minted["console_cookie"] = ok.cookies["fl_console"]
    http.cookies.clear()
    auth = {"Authorization": f"Bearer {token}"}
    errors.append(http.get("/api/v1/agents/me", headers={"Authorization": "Bearer not-a-token"}).text)
    # A request to the developers (queued for the webhook at a closed port: fails, logged, retried).
    number = ann["ticket"]
    http.post(
        f"/api/v1/tickets/{number}/external-refs", json={"system": "ERP", "ref": "ERP-1"}, headers=auth
    ).raise_for_status()

    # Telegram webhook: a wrong secret, a question, and a document whose download fails.
    hook = "/api/v1/telegram/webhook"
    secret = {"X-Telegram-Bot-Api-Secret-Token": SECRETS["telegram_webhook_secret"]}
    user = TgUser(fake, 7001, "Tom")
    errors.append(http.post(hook, json={"update_id": 1}, headers={"X-Telegram-Bot-Api-Secret-Token": "no"}).text)
    question = fake.user_message(user.chat, user.user, text="how do I reset my password?")
    http.post(hook, json=question, headers=secret).raise_for_status()
    # "#" ends the URL path: the download asks for a file the server does not have (404, an error with the URL).
    doc = {**fake.add_file(b"%PDF-1.4 report", "documents/report#1.pdf"), "file_name": "report.pdf"}
    http.post(hook, json=fake.user_message(user.chat, user.user, document=doc), headers=secret).raise_for_status()
    errors.append(http.post(hook, content=b"{not json", headers=secret).text)

    # SMS in (signed): the bot's answer goes to a provider at a closed port (fails, logged, retried).
    body = json.dumps({"from": "+15550001", "to": "+1000", "text": "printer jam", "id": "sms-1"}).encode()
    r = http.post(
        "/api/v1/sms/inbound",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Firstline-Signature": signature(SECRETS["sms_webhook_secret"], body),
        },
    )
    r.raise_for_status()
    errors.append(http.post("/api/v1/sms/inbound", content=body, headers={"Content-Type": "application/json"}).text)
    # Slack without a valid signature
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(b"wrong", f"v0:{ts}:{{}}".encode(), hashlib.sha256).hexdigest()
    errors.append(
        http.post(
            "/slack/events", content=b"{}", headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}
        ).text
    )
    return minted


def test_settings_never_print_passwords_inside_urls():
    settings = Settings(
        database_url="postgresql+psycopg://desk:pg-pass-123@db:5432/firstline",
        redis_url="redis://:redis-pass-456@cache:6379/0",
        smtp_password="smtp-pass-789",
        secret_key="key-000",
    )
    for text in (repr(settings), str(settings)):
        assert not any(p in text for p in ("pg-pass-123", "redis-pass-456", "smtp-pass-789", "key-000")), text
        assert "postgresql+psycopg://desk:***@db:5432/firstline" in text
    assert settings.db_url == "postgresql+psycopg://desk:pg-pass-123@db:5432/firstline"  # masked in print only
