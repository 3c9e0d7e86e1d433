"""Per-user message rate limits, shared by all processes through Redis (fixed one-minute windows: INCR +
EXPIRE), with an in-process fallback while Redis is absent or down. Over the limit the request is refused
with 429 + Retry-After before anything is stored, so nothing is lost: the client sends it again later."""
from __future__ import annotations

import logging
import math
import threading
import time

import redis
from fastapi import HTTPException
from redis.exceptions import RedisError

from api.relay import redis_address

log = logging.getLogger(__name__)
WINDOW = 60  # seconds
RETRY_REDIS_AFTER = 5.0  # after a failure, requests use the in-process counters this long (no timeout each)

TOO_FAST = {
    "en": "You are sending messages too fast. Please wait {seconds} s and send it again — nothing was lost.",
    "ru": "Вы отправляете сообщения слишком часто. Подождите {seconds} с и отправьте снова — ничего не потеряно.",
}


class RateLimiter:
    def __init__(self, per_minute: int, redis_url: str | None = None, namespace: str = "firstline",
                 clock=time.time) -> None:
        self.per_minute = per_minute
        self.prefix = f"{namespace}:rate"
        self.clock = clock
        self.redis_url = redis_url
        # Sync client: the chat endpoint runs in a worker thread. Short timeouts: a dead Redis costs a request
        # at most ~0.5 s once per RETRY_REDIS_AFTER, then the fallback answers at once.
        self.redis = redis.Redis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5) \
            if redis_url else None
        self._down_until = 0.0
        self._warned = False
        self._lock = threading.Lock()
        self._local: dict[str, tuple[int, int]] = {}  # key → (window, count)

    def hit(self, key: str) -> float | None:
        """Count one message for `key`; None if allowed, else the seconds until the next window."""
        now = self.clock()
        window = int(now // WINDOW)
        retry_after = (window + 1) * WINDOW - now
        count = self._count_redis(key, window) if self.redis is not None else None
        if count is None:
            count = self._count_local(key, window)
        return None if count <= self.per_minute else max(1.0, retry_after)

    def _count_redis(self, key: str, window: int) -> int | None:
        if self.clock() < self._down_until:
            return None
        name = f"{self.prefix}:{key}:{window}"
        try:
            pipe = self.redis.pipeline()
            pipe.incr(name)
            pipe.expire(name, WINDOW + 5)
            count = int(pipe.execute()[0])
        except (RedisError, OSError) as exc:
            self._down_until = self.clock() + RETRY_REDIS_AFTER
            if not self._warned:
                self._warned = True
                log.warning("Redis at %s is unreachable for rate limits (%s: %s): counting per process until "
                            "it is back", redis_address(self.redis_url or ""), type(exc).__name__, exc)
            return None
        if self._warned:
            self._warned = False
            log.warning("Redis at %s is back: rate limits are shared by all processes again",
                        redis_address(self.redis_url or ""))
        return count

    def _count_local(self, key: str, window: int) -> int:
        with self._lock:
            if len(self._local) > 100_000:  # forget finished windows rather than grow without bound
                self._local = {k: v for k, v in self._local.items() if v[0] == window}
            w, count = self._local.get(key, (window, 0))
            count = count + 1 if w == window else 1
            self._local[key] = (window, count)
            return count

    def check(self, key: str, lang: str | None = None) -> None:
        """Raise 429 (Retry-After, a message in the user's language) when `key` is over the limit."""
        wait = self.hit(key)
        if wait is not None:
            seconds = math.ceil(wait)
            text = TOO_FAST.get(lang or "en", TOO_FAST["en"]).format(seconds=seconds)
            raise HTTPException(429, text, headers={"Retry-After": str(seconds)})

    def close(self) -> None:
        if self.redis is not None:
            self.redis.close()
