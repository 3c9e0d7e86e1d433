"""What a channel adapter is handed when the app starts, and the one bridge from its event loop to the database.

Adapters (Telegram, Slack, email, SMS) used to reach into FastAPI's `app.state` — typed `Any`, a service locator
no import showed. They get a `ChannelContext` instead: the engine and desk they feed, the session factories, and
the outbox wake-up. Its `handle` / `read` / `write` run the synchronous engine and database work in a worker
thread, so a slow query never blocks the adapter's event loop, and wake the outbox after anything that may have
queued a message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from bot.desk import Desk
from bot.engine import Engine, HandleResult, Incoming

if TYPE_CHECKING:
    from core.rate_limit import RateLimiter
    from core.relay import Relay

T = TypeVar("T")


def _nothing() -> None:
    return None


@dataclass
class ChannelContext:
    engine: Engine
    desk: Desk
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]
    wake_outbox: Callable[[], None] = field(default=_nothing)
    rate_limiter: RateLimiter | None = None  # per-sender limits for channels that take messages over HTTP (SMS)
    relay: Relay | None = None  # cross-process events and the Redis connection (the Telegram poller's lease)

    async def handle(self, incoming: Incoming) -> HandleResult:
        """One user message through the engine; its replies were queued with it, so the outbox is woken."""
        result = await asyncio.to_thread(self.engine.handle, incoming)
        self.wake_outbox()
        return result

    async def write(self, fn: Callable[[Session], T]) -> T:
        """`fn` in one committed transaction (a desk action, a claim), then the outbox is woken."""

        def run() -> T:
            with self.sessions.begin() as s:
                return fn(s)

        result = await asyncio.to_thread(run)
        self.wake_outbox()
        return result

    async def read(self, fn: Callable[[Session], T]) -> T:
        def run() -> T:
            with self.read_sessions() as s:
                return fn(s)

        return await asyncio.to_thread(run)
