"""Phone and SMS intake over HTTP against the running app. SMS: a signed provider webhook in, our HTTP sender
out to a capturing provider on 127.0.0.1 (which can fail on request, to show retries)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import httpx
import pytest

from bot.sms import signature
from tests.support.live import make_agent, running_app

SECRET = "sms-webhook-secret"


class Provider:
    """An SMS provider's send API: records each POST; answers 500 while `fail` > 0."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.auth: list[str] = []
        self.fail = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if provider.fail > 0:
                    provider.fail -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                provider.sent.append(body)
                provider.auth.append(self.headers.get("Authorization", ""))
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status":"queued"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/messages"

    def wait_for(self, count: int, timeout: float = 20) -> list[dict]:
        deadline = time.time() + timeout
        while len(self.sent) < count and time.time() < deadline:
            time.sleep(0.05)
        assert len(self.sent) >= count, f"expected {count} SMS at the provider, got {self.sent}"
        return self.sent


@pytest.fixture(scope="module")
def app(module_db_url, tmp_path_factory, embedder):
    provider = Provider()
    with running_app(
        module_db_url,
        tmp_path_factory.mktemp("data"),
        sms_webhook_secret=SECRET,
        sms_api_url=provider.url,
        sms_api_token="provider-token",
        sms_from="+10000000000",
    ) as (base, rt):
        yield base, rt, provider
    provider.server.shutdown()


def post_sms(http: httpx.Client, payload: dict, *, form: bool = False, secret: str = SECRET) -> httpx.Response:
    if form:
        raw = urlencode(payload).encode()
        ctype = "application/x-www-form-urlencoded"
    else:
        raw = json.dumps(payload).encode()
        ctype = "application/json"
    return http.post(
        "/api/v1/sms/inbound",
        content=raw,
        headers={"Content-Type": ctype, "X-Firstline-Signature": signature(secret, raw)},
    )


def test_an_agent_registers_a_call_with_kb_suggestions(app):
    base, rt, _ = app
    agent = make_agent(rt, "phone-agent")
    with httpx.Client(base_url=base, timeout=30) as http:
        r = http.post(
            "/api/v1/calls",
            json={
                "caller": "Olga, accounting",
                "callback_number": "+7 (495) 123-45-67",
                "summary": "the printer is jammed and shows an error",
                "lang": "ru",
            },
            headers=agent,
        )
        assert r.status_code == 201, r.text
        out = r.json()
        ticket = out["ticket"]
        assert (
            ticket["channel"] == "phone" and ticket["status"] == "open" and ticket["requester"]["ref"] == "+74951234567"
        )
        assert ticket["first_response_at"] is not None  # the caller already spoke to a person
        assert out["suggestions"][0]["article_id"] == "it-printer-queue-stuck"
        detail = http.get(f"/api/v1/tickets/{ticket['number']}", headers=agent).json()
        assert detail["transcript"][0]["text"] == "the printer is jammed and shows an error"
        assert any(e["action"] == "call_registered" for e in detail["events"])

        bad = http.post(
            "/api/v1/calls", json={"caller": "x", "callback_number": "call me", "summary": "help"}, headers=agent
        )
        assert bad.status_code == 422 and "phone number" in bad.json()["message"]
        assert http.post("/api/v1/calls", json={"caller": "x", "summary": ""}, headers=agent).status_code == 422
        assert http.post("/api/v1/calls", json={"caller": "x", "summary": "hi"}).status_code == 401


def test_sms_in_gets_an_answer_out_once(app):
    base, rt, provider = app
    start = len(provider.sent)
    with httpx.Client(base_url=base, timeout=30) as http:
        msg = {"from": "+49 151 0000001", "to": "+10000000000", "text": "vpn keeps dropping", "id": "SM1"}
        first = post_sms(http, msg)
        assert first.status_code == 200, first.text
        again = post_sms(http, msg)  # the provider redelivered
        assert again.json()["duplicate"] is True
        sent = provider.wait_for(start + 1)
        time.sleep(0.3)
        assert len(provider.sent) == start + 1  # answered once
        assert sent[start]["to"] == "+491510000001" and "VPN" in sent[start]["text"]
        assert sent[start]["from"] == "+10000000000" and provider.auth[start] == "Bearer provider-token"


def test_sms_webhook_rejects_unsigned_and_malformed_requests(app):
    base, _, _ = app
    with httpx.Client(base_url=base, timeout=30) as http:
        msg = {"from": "+491510000002", "text": "hello", "id": "SM2"}
        assert post_sms(http, msg, secret="wrong").status_code == 401
        r = http.post("/api/v1/sms/inbound", json=msg)
        assert r.status_code == 401 and "Signature" in r.json()["message"]
        assert post_sms(http, {"from": "not a number", "text": "hi", "id": "SM3"}).status_code == 422
        assert post_sms(http, {"from": "+491510000002", "text": "hi"}).status_code == 422  # no id
        raw = b"[1, 2]"
        r = http.post(
            "/api/v1/sms/inbound",
            content=raw,
            headers={"Content-Type": "application/json", "X-Firstline-Signature": signature(SECRET, raw)},
        )
        assert r.status_code == 422


def test_sms_handoff_agent_reply_and_provider_retry(app):
    base, rt, provider = app
    agent = make_agent(rt, "sms-agent")
    with httpx.Client(base_url=base, timeout=30) as http:
        # Twilio-style form fields work too.
        r = post_sms(http, {"From": "+491510000003", "Body": "I need a human please", "MessageSid": "SM4"}, form=True)
        number = r.json()["ticket"]
        assert number, r.json()
        provider.fail = 2  # the provider is down for two attempts
        http.post(f"/api/v1/tickets/{number}/claim", headers=agent).raise_for_status()
        http.post(
            f"/api/v1/tickets/{number}/reply", json={"text": "Calling you in 5 minutes."}, headers=agent
        ).raise_for_status()
        deadline = time.time() + 60
        while time.time() < deadline and not any(m["text"] == "Calling you in 5 minutes." for m in provider.sent):
            time.sleep(0.1)
        to_user = [m["text"] for m in provider.sent if m["to"] == "+491510000003"]
        # In order, each once, despite the two failed attempts: handoff notice, agent joined, the reply.
        assert to_user[-1] == "Calling you in 5 minutes." and len(to_user) == len(set(to_user)) == 3, to_user


def test_an_answer_survives_a_provider_outage(app):
    """The SMS provider is down when the bot answers: the webhook has already said 200, so the answer is retried
    from the outbox until the provider takes it, once."""
    base, rt, provider = app
    provider.fail = 2
    with httpx.Client(base_url=base, timeout=30) as http:
        r = post_sms(http, {"from": "+491510000009", "text": "How do I connect to the VPN from home?", "id": "SM9"})
        assert r.status_code == 200
    deadline = time.time() + 40
    while time.time() < deadline and not [m for m in provider.sent if m["to"] == "+491510000009"]:
        time.sleep(0.1)
    time.sleep(0.3)
    got = [m["text"] for m in provider.sent if m["to"] == "+491510000009"]
    assert len(got) == 1 and "VPN" in got[0], got
