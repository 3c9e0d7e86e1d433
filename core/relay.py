""" "Something changed" between the parts of one process and across processes.

Waiters (the SSE streams, the outbox dispatcher, the KB follower) block on events; commits publish them:
("message", conversation id), ("ticket", ticket id), ("outbox", None), ("kb", None). Events are published
by SQLAlchemy hooks on the runtime's session factory *after commit*, so every writer (API, engine, bot
channels, scheduler, learner) is covered without each remembering to publish, and nobody is woken for a
change that was rolled back. Events carry no data: a woken waiter re-reads the database.

With Redis (FIRSTLINE_REDIS_URL) events also go out on a pub/sub channel, so a change committed by process A
wakes waiters in process B. Without Redis, or while it is down, events stay in-process and the waiters'
slower database poll (their safety net anyway) carries cross-process changes: degraded, never broken.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlsplit

from redis import asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from core.background import cancel_and_wait

log = logging.getLogger(__name__)
_PENDING = "fl_relay_events"  # session.info: events of the open transaction, published after its commit
SLOW_POLL = 5.0  # waiters' safety-net poll while Redis relays events between processes


@dataclass(frozen=True)
class Watch:
    """Which committed changes of one model publish which event. The composition root lists them
    (api.runtime.RELAY_WATCHES): the relay knows no model of ours."""

    model: type
    topic: str
    key: Callable[[Any], int | None] | None = None  # the event's key from the row (None: the topic alone)
    inserted: bool = True  # a new row
    changed: bool = False  # a row changed through the session
    bulk: bool = False  # UPDATE/DELETE statements, which bypass the session (keyless event)


@dataclass(frozen=True)
class Event:
    topic: str  # message | ticket | outbox | kb
    key: int | None = None


def redis_address(url: str) -> str:
    """host:port of a Redis URL, for logs (never the password)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def namespace_for(db_url: str) -> str:
    """Processes on the same database share a namespace (channel and key prefix); another deployment or a
    test on another database using the same Redis never sees their events or counters."""
    return "firstline:" + hashlib.sha256(db_url.encode()).hexdigest()[:12]


class Subscription:
    """Wakes its owner when a matching event arrives. Clear before reading the DB, wait after: an event
    arriving in between is not lost (the wait returns at once)."""

    def __init__(self, match: Callable[[Event], bool]) -> None:
        self.match = match
        self._flag = asyncio.Event()

    def clear(self) -> None:
        self._flag.clear()

    def set(self) -> None:
        self._flag.set()

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._flag.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False


class Relay:
    def __init__(
        self, redis_url: str | None = None, namespace: str = "firstline", watches: Iterable[Watch] = ()
    ) -> None:
        self.watches = tuple(watches)
        self.redis_url = redis_url
        self.namespace = namespace
        self.channel = f"{namespace}:events"
        self.origin = uuid.uuid4().hex  # our own events come back from Redis: skip them
        self.redis: aioredis.Redis | None = (
            aioredis.Redis.from_url(
                redis_url,
                socket_connect_timeout=2,
                socket_timeout=None,
                health_check_interval=15,
                retry_on_timeout=False,
            )
            if redis_url
            else None
        )
        self._up: bool | None = None  # None until the first attempt
        self._subs: set[Subscription] = set()
        self._callbacks: list[tuple[str, Callable[[], None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outgoing: asyncio.Queue[Event] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._attached: list[sessionmaker[Session]] = []

    @property
    def redis_up(self) -> bool:
        return bool(self._up)

    def poll_interval(self, fast: float) -> float:
        """How often a waiter re-reads the DB anyway: rarely while Redis carries other processes' events."""
        return SLOW_POLL if self.redis_up else fast

    # -- waiting ----------------------------------------------------------------------------------
    @contextmanager
    def subscribe(self, match: Callable[[Event], bool]) -> Iterator[Subscription]:
        sub = Subscription(match)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)

    def on(self, topic: str, callback: Callable[[], None]) -> None:
        """Call `callback` (on the event loop) for every event of `topic`, e.g. the outbox dispatcher's wake."""
        self._callbacks.append((topic, callback))

    def _deliver(self, events: list[Event]) -> None:
        for sub in list(self._subs):
            if any(sub.match(e) for e in events):
                sub.set()
        topics = {e.topic for e in events}
        for topic, callback in self._callbacks:
            if topic in topics:
                callback()

    # -- publishing -------------------------------------------------------------------------------
    def publish(self, *events: Event) -> None:
        """Thread-safe: commits happen in worker threads."""
        loop = self._loop
        if loop is None or not events:
            return
        try:
            loop.call_soon_threadsafe(self._emit, list(events))
        except RuntimeError:  # the loop is closing (shutdown): nobody is waiting any more
            pass

    def _emit(self, events: list[Event]) -> None:
        self._deliver(events)
        if self._outgoing is not None and self._up is not False:
            for e in events:
                try:
                    self._outgoing.put_nowait(e)
                except asyncio.QueueFull:  # Redis is too slow or stuck: the others' DB poll catches up
                    break

    # -- the SQLAlchemy hooks ---------------------------------------------------------------------
    def attach(self, sessions: sessionmaker[Session]) -> None:
        event.listen(sessions, "after_flush", self._after_flush)
        event.listen(sessions, "do_orm_execute", self._on_execute)
        event.listen(sessions, "after_commit", self._after_commit)
        event.listen(sessions, "after_rollback", self._after_rollback)
        self._attached.append(sessions)

    def detach(self) -> None:
        for sessions in self._attached:
            event.remove(sessions, "after_flush", self._after_flush)
            event.remove(sessions, "do_orm_execute", self._on_execute)
            event.remove(sessions, "after_commit", self._after_commit)
            event.remove(sessions, "after_rollback", self._after_rollback)
        self._attached.clear()

    @staticmethod
    def _pending(session: Session) -> set[Event]:
        pending: set[Event] = session.info.setdefault(_PENDING, set())
        return pending

    def _after_flush(self, session: Session, _ctx: object) -> None:
        found: set[Event] = set()
        for rows, wanted in ((session.new, "inserted"), (session.dirty, "changed")):
            for obj in rows:
                for w in self.watches:
                    if getattr(w, wanted) and isinstance(obj, w.model):
                        found.add(Event(w.topic, w.key(obj) if w.key else None))
        if found:
            self._pending(session).update(found)

    def _on_execute(self, state: ORMExecuteState) -> None:
        # Conditional UPDATEs (the KB version bump, the scheduler's ticket updates) bypass session.dirty.
        if not (state.is_update or state.is_delete):
            return
        for mapper in state.all_mappers:
            for w in self.watches:
                if w.bulk and mapper.class_ is w.model:
                    self._pending(state.session).add(Event(w.topic))

    def _after_commit(self, session: Session) -> None:
        events = session.info.pop(_PENDING, None)
        if events:
            self.publish(*events)

    def _after_rollback(self, session: Session) -> None:
        session.info.pop(_PENDING, None)

    # -- Redis ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Bind to the running loop; with Redis, start the listener and the publisher."""
        self._loop = asyncio.get_running_loop()
        if self.redis is not None:
            self._outgoing = asyncio.Queue(maxsize=10_000)
            self._tasks = [
                asyncio.create_task(self._listen(), name="relay:listen"),
                asyncio.create_task(self._send(), name="relay:send"),
            ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        self._loop = None
        self.detach()
        if self.redis is not None:
            await self.redis.aclose()

    def _mark(self, up: bool, reason: object = None) -> None:
        if up == self._up:
            return
        where = redis_address(self.redis_url or "")
        if up:
            if self._up is False:
                log.warning("Redis at %s is back: relaying events across processes again", where)
            else:
                log.info("relaying events across processes through Redis at %s", where)
        else:
            log.warning(
                "Redis at %s is unreachable (%s): events stay in this process, other processes' "
                "changes arrive by polling the database; reconnecting in the background",
                where,
                reason,
            )
        self._up = up

    async def _listen(self) -> None:
        assert self.redis is not None  # started only with Redis
        backoff = 0.5
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._mark(True)
                backoff = 0.5
                async for msg in pubsub.listen():
                    if msg.get("type") == "message":
                        self._received(msg.get("data"))
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._mark(False, f"{type(exc).__name__}: {exc}")
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # closing a broken connection may fail again: nothing to do about it
                    pass
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    def _received(self, data: bytes | str | None) -> None:
        try:
            body = json.loads(data or b"{}")
            if body.get("o") == self.origin:
                return
            self._deliver([Event(str(t), k) for t, k in body.get("e", [])])
        except (ValueError, TypeError, AttributeError):
            log.warning("ignoring a malformed relay message")

    async def _send(self) -> None:
        outgoing, redis = self._outgoing, self.redis
        assert outgoing is not None and redis is not None  # started only with Redis
        while True:
            first = await outgoing.get()
            batch = {first}
            while not outgoing.empty() and len(batch) < 500:
                batch.add(outgoing.get_nowait())
            if self._up is False:
                continue  # down: the listener reconnects; others poll meanwhile
            body = json.dumps({"o": self.origin, "e": [[e.topic, e.key] for e in batch]})
            for attempt in (1, 2):  # a pooled connection from before an outage fails once, then is replaced
                try:
                    await redis.publish(self.channel, body)
                    break
                except asyncio.CancelledError:
                    raise
                except (RedisError, OSError) as exc:
                    # The listener owns the up/down state (and its warning); here the batch is dropped: the
                    # other processes' DB poll picks the change up.
                    if attempt == 2:
                        log.debug("relay publish failed: %s", exc)
