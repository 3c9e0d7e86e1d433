"""Per-user rate limits on the chat endpoints: over the limit a clear 429 with Retry-After in the user's
language and nothing stored; the next window lets the user in again. Shared through the real Redis, counted
per process when Redis is unreachable."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from bot.sms import signature
from core.rate_limit import WINDOW, RateLimiter
from tests.support.cluster import REDIS_URL, needs_redis, redis_ok, serve
from tests.support.live import ChatUser, free_port
from tickets.models import Conversation, Message

SMS_SECRET = "sms-rate-secret"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def stored(runtime, user: str) -> int:
    with runtime.sessions() as s:
        return s.scalar(
            select(func.count()).select_from(Message).join(Conversation).where(Conversation.user_ref == user)
        )


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    with serve(
        f"sqlite:///{data / 'firstline.db'}",
        data,
        chat_rate_per_minute=3,
        sms_webhook_secret=SMS_SECRET,
        redis_url=REDIS_URL if redis_ok() else None,
        load_sample_kb=False,
    ) as served:
        base, runtime, app = served
        clock = Clock(WINDOW * 1_000_000 + 1.0)  # the start of a window, whenever the test runs
        app.state.rate_limiter.clock = clock
        yield base, runtime, clock


def test_chat_over_the_limit_gets_429_and_the_next_window_works(app):
    base, runtime, clock = app
    with httpx.Client(base_url=base, timeout=30) as http:
        user = ChatUser(http, f"fast-{uuid.uuid4().hex[:6]}")
        for i in range(3):
            assert user.send(f"my vpn drops every hour ({i})").status_code == 200
        before = stored(runtime, user.user)
        r = user.send("my vpn drops again")
        assert r.status_code == 429
        assert r.json()["error"] == "rate_limited" and "too fast" in r.json()["message"]
        assert r.headers["Retry-After"] == "59"  # one second into the window
        assert stored(runtime, user.user) == before  # nothing stored: the client sends it again later

        # Another user is not affected.
        assert ChatUser(http, f"calm-{uuid.uuid4().hex[:6]}").send("hello").status_code == 200

        clock.now += WINDOW
        r = user.send("my vpn drops again")
        assert r.status_code == 200 and stored(runtime, user.user) > before


def test_the_message_follows_the_users_language(app):
    base, _, clock = app
    with httpx.Client(base_url=base, timeout=30) as http:
        user = ChatUser(http, f"ru-{uuid.uuid4().hex[:6]}")
        for _ in range(3):
            assert user.send("не работает принтер", locale="ru-RU").status_code == 200
        r = user.send("принтер", locale="ru-RU")
        assert r.status_code == 429 and "слишком часто" in r.json()["message"]
        assert int(r.headers["Retry-After"]) >= 1


def test_sms_senders_are_limited_per_number(app):
    base, runtime, _ = app
    number = f"+4477009{uuid.uuid4().int % 100000:05d}"

    def inbound(i: int) -> httpx.Response:
        body = json.dumps({"from": number, "to": "+100", "text": f"printer jammed ({i})", "id": f"sm-{number}-{i}"})
        return http.post(
            "/api/v1/sms/inbound",
            content=body,
            headers={"Content-Type": "application/json", "X-Firstline-Signature": signature(SMS_SECRET, body.encode())},
        )

    with httpx.Client(base_url=base, timeout=30) as http:
        assert [inbound(i).status_code for i in range(3)] == [200, 200, 200]
        r = inbound(3)
        assert r.status_code == 429 and r.headers["Retry-After"] and r.json()["error"] == "rate_limited"
        with runtime.sessions() as s:
            texts = list(
                s.scalars(
                    select(Message.text)
                    .join(Conversation)
                    .where(Conversation.user_ref == number, Message.author == "user")
                )
            )
        assert "printer jammed (3)" not in texts and len(texts) == 3


@needs_redis
def test_limiter_counts_in_redis_across_instances_and_falls_back_when_redis_is_down():
    ns = f"firstline-test:{uuid.uuid4().hex}"
    clock = Clock(WINDOW * 2_000_000 + 10.0)
    a, b = RateLimiter(2, REDIS_URL, ns, clock=clock), RateLimiter(2, REDIS_URL, ns, clock=clock)
    assert a.hit("web:u") is None and b.hit("web:u") is None
    assert a.hit("web:u") == pytest.approx(50.0)  # shared: the third in the window, whichever process
    clock.now += WINDOW
    assert b.hit("web:u") is None

    dead = RateLimiter(2, f"redis://127.0.0.1:{free_port()}/0", ns, clock=clock)
    assert [dead.hit("web:v") is None for _ in range(3)] == [True, True, False]  # per-process counters
    for limiter in (a, b, dead):
        limiter.close()
