"""The real Redis and a served app with its state, for the tests of several processes and shared limits."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from core.settings import Settings
from tests.support.live import serve_app

REDIS_URL = os.environ.get("FIRSTLINE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def redis_ok() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(
    not redis_ok() and not os.environ.get("FIRSTLINE_REQUIRE_REDIS"), reason=f"Redis at {REDIS_URL} is not reachable"
)


@contextmanager
def serve(db_url: str, data_dir: Path, **overrides):
    """Like tests.support.live.running_app, and also yields the app (its state: relay, rate limiter)."""
    settings = Settings(data_dir=data_dir, database_url=db_url, secret_key="test-secret", **overrides)
    with serve_app(settings, limit_concurrency=None, backlog=2048) as served:
        yield served
