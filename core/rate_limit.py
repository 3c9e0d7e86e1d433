"""Rate limits, shared by all processes through Redis (fixed windows: INCR + EXPIRE), with an in-process fallback
while Redis is absent or down: per-user chat and SMS messages (over the limit the request is refused with 429 +
Retry-After before anything is stored, so nothing is lost: the client sends it again later), failed console
sign-ins and bad tokens per name and per address, and new web-chat identities per address."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

import redis
from redis.exceptions import RedisError

from core.i18n import ui_texts
from core.relay import redis_address

log = logging.getLogger(__name__)
WINDOW = 60  # seconds
RETRY_REDIS_AFTER = 5.0  # after a failure, requests use the in-process counters this long (no timeout each)

TOO_FAST = {lang: texts["chat_too_fast"] for lang, texts in ui_texts("limits").items()}


class RateLimited(Exception):
    """Over a limit: `seconds` until the next try, `message` for the person (the API answers 429 with
    Retry-After)."""

    def __init__(self, seconds: int, message: str) -> None:
        super().__init__(message)
        self.seconds, self.message = seconds, message


class RateLimiter:
    def __init__(
        self,
        per_minute: int,
        redis_url: str | None = None,
        namespace: str = "firstline",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_minute = per_minute
        self.prefix = f"{namespace}:rate"
        self.clock = clock
        self.redis_url = redis_url
        # Sync client: the chat endpoint runs in a worker thread. Short timeouts: a dead Redis costs a request
        # at most ~0.5 s once per RETRY_REDIS_AFTER, then the fallback answers at once.
        self.redis = (
            redis.Redis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5) if redis_url else None
        )
        self._down_until = 0.0
        self._warned = False
        self._lock = threading.Lock()
        self._local: dict[str, tuple[int, int]] = {}  # key → (window, count)

    def hit(self, key: str, limit: int | None = None, window: int = WINDOW) -> float | None:
        """Count one event for `key`; None if allowed (at most `limit` per `window` seconds, default: the chat
        limit per minute), else the seconds until the next window."""
        return self._count(key, limit or self.per_minute, window, add=True)

    def blocked(self, key: str, limit: int, window: int) -> float | None:
        """Without counting: the seconds until `key` may try again if it already used its `limit` this window."""
        return self._count(key, limit - 1, window, add=False)

    def _count(self, key: str, limit: int, window: int, add: bool) -> float | None:
        now = self.clock()
        slot = int(now // window)
        retry_after = (slot + 1) * window - now
        name = f"{key}:{window}:{slot}"
        count = self._count_redis(name, window, add) if self.redis is not None else None
        if count is None:
            count = self._count_local(name, slot, add)
        return None if count <= limit else max(1.0, retry_after)

    def _count_redis(self, name: str, window: int, add: bool) -> int | None:
        if self.clock() < self._down_until:
            return None
        name = f"{self.prefix}:{name}"
        client = self.redis
        if client is None:
            return None
        try:
            if add:
                pipe = client.pipeline()
                pipe.incr(name)
                pipe.expire(name, window + 5)
                count = int(pipe.execute()[0])
            else:
                count = int(client.get(name) or 0)
        except (RedisError, OSError) as exc:
            self._down_until = self.clock() + RETRY_REDIS_AFTER
            if not self._warned:
                self._warned = True
                log.warning(
                    "Redis at %s is unreachable for rate limits (%s: %s): counting per process until it is back",
                    redis_address(self.redis_url or ""),
                    type(exc).__name__,
                    exc,
                )
            return None
        if self._warned:
            self._warned = False
            log.warning(
                "Redis at %s is back: rate limits are shared by all processes again",
                redis_address(self.redis_url or ""),
            )
        return count

    def _count_local(self, name: str, slot: int, add: bool) -> int:
        with self._lock:
            if len(self._local) > 100_000:  # forget finished windows rather than grow without bound
                self._local = {k: v for k, v in self._local.items() if v[0] == slot}
            w, count = self._local.get(name, (slot, 0))
            count = count if w == slot else 0
            if add:
                count += 1
                self._local[name] = (slot, count)
            return count

    def refuse_if_blocked(self, key: str, limit: int, window: int, text: str) -> None:
        """`RateLimited` (the API answers 429 with Retry-After) when `key` used up its `limit` this window
        (counted by `hit`)."""
        wait = self.blocked(key, limit, window)
        if wait is not None:
            seconds = math.ceil(wait)
            raise RateLimited(seconds, text.format(seconds=seconds))

    def check(self, key: str, lang: str | None = None) -> None:
        """`RateLimited` (429, Retry-After, a message in the user's language) when `key` is over the limit."""
        wait = self.hit(key)
        if wait is not None:
            seconds = math.ceil(wait)
            raise RateLimited(seconds, TOO_FAST.get(lang or "en", TOO_FAST["en"]).format(seconds=seconds))

    def close(self) -> None:
        if self.redis is not None:
            self.redis.close()
