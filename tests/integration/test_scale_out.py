"""Two Firstline instances on one PostgreSQL + the real Redis behave as one service: a reply posted on B
reaches the user streaming from A at once, an article published on A answers on B without a restart, rate
limits are shared; with Redis unreachable an instance still starts and works (a WARNING says so); the
Telegram poller's lease lets exactly one process poll and passes to another when the holder is killed."""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager

import httpx
import pytest
import redis

from tests.conftest import _database
from tests.support.cluster import REDIS_URL, needs_redis, redis_ok, serve
from tests.support.fakes.telegram_api import FakeTelegram, TgUser
from tests.support.live import ChatUser, free_port, make_agent
from tests.support.paths import ROOT

TOKEN = "515151:TEST-scale-out-token"
QUESTION = "my office badge stopped opening the doors"
BODY = (
    "## Badge stopped working\n\nTake the badge to the front desk on the ground floor: the receptionist "
    "re-encodes it in a minute. Bring photo ID.\n"
)


class EventReader:
    """Reads a server-sent-event stream on a thread; events land in a queue as (time, event, data)."""

    def __init__(self, base: str, path: str, params: dict, headers: dict) -> None:
        self.events: queue.Queue = queue.Queue()
        self.opened = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task | None = None
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._run(base, path, params, headers),), daemon=True
        )
        self._thread.start()
        assert self.opened.wait(10), "the stream did not open"

    async def _run(self, base, path, params, headers) -> None:
        self._task = asyncio.current_task()
        try:
            async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30, read=None)) as c:
                async with c.stream("GET", path, params=params, headers=headers) as r:
                    r.raise_for_status()
                    self.opened.set()
                    name = None
                    async for line in r.aiter_lines():
                        if line.startswith("event: "):
                            name = line[7:]
                        elif line.startswith("data: "):
                            self.events.put((time.monotonic(), name, json.loads(line[6:])))
        except asyncio.CancelledError:  # close(): the connection is dropped, the server ends the stream
            pass

    def close(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(5)

    def wait_for(self, predicate, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                at, name, data = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if predicate(name, data):
                return at, data


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Instances A and B: the same PostgreSQL and Redis, each its own runtime, retriever and relay."""
    if not redis_ok():
        pytest.skip(f"Redis at {REDIS_URL} is not reachable")
    url, drop = _database("postgresql", tmp_path_factory.mktemp("db"))
    fake = FakeTelegram(TOKEN)
    try:
        with ExitStack() as stack:
            stack.enter_context(fake.running())
            # Telegram by long polling: one poller for both instances.
            common = dict(
                redis_url=REDIS_URL,
                chat_rate_per_minute=5,
                telegram_bot_token=TOKEN,
                telegram_api_base=fake.base_url,
                load_sample_kb=False,
            )  # the tests bring their article
            a = stack.enter_context(serve(url, tmp_path_factory.mktemp("a"), **common))
            b = stack.enter_context(serve(url, tmp_path_factory.mktemp("b"), **common))
            deadline = time.time() + 10
            while not (a[2].state.relay.redis_up and b[2].state.relay.redis_up):
                assert time.time() < deadline, "the relays did not connect to Redis"
                time.sleep(0.05)
            fake.wait(lambda: any(c["method"] == "getUpdates" for c in fake.calls), what="long polling")
            yield a, b, fake
    finally:
        drop()


@pytest.mark.postgres
def test_only_one_instance_polls_telegram(pair):
    *_, fake = pair
    time.sleep(1.0)  # both instances tried for the lease at start; the standby retries every 5 s
    # Every start of polling first clears the webhook: one start in all, by the lease holder.
    assert [c["method"] for c in fake.calls].count("deleteWebhook") == 1
    ann = TgUser(fake, 5501, "Ann")
    m = fake.mark()
    ann.say("How do I connect to the VPN from home?")
    fake.wait_sent(ann.id, m)
    time.sleep(0.5)
    assert len(fake.sent_to(ann.id, m)) == 1


@pytest.mark.postgres
def test_agent_reply_on_b_reaches_user_streaming_from_a(pair):
    (base_a, rt_a, _), (base_b, rt_b, _), _ = pair
    agent = make_agent(rt_b, f"agent-{uuid.uuid4().hex[:6]}")
    with httpx.Client(base_url=base_a, timeout=30) as http_a, httpx.Client(base_url=base_b, timeout=30) as http_b:
        user = ChatUser(http_a, f"streamer-{uuid.uuid4().hex[:6]}")
        number = user.send("I need a human please").json()["ticket"]
        assert number
        last = max(m["id"] for m in user.messages())
        stream = EventReader(base_a, "/api/v1/chat/stream", {"user": user.user, "after": last}, user.headers)
        try:
            time.sleep(0.3)  # the stream has read the DB once and waits (Redis up: its own poll is 5 s)
            http_b.post(f"/api/v1/tickets/{number}/claim", headers=agent).raise_for_status()
            sent = time.monotonic()
            r = http_b.post(f"/api/v1/tickets/{number}/reply", json={"text": "Hello from instance B"}, headers=agent)
            r.raise_for_status()
            got = stream.wait_for(lambda name, d: d.get("text") == "Hello from instance B", timeout=4)
            assert got is not None, "the reply posted on B never reached the stream on A"
            delay = got[0] - sent
            # Well under the 5 s safety-net poll: the relay (Redis pub/sub) woke the stream.
            assert delay < 2.0, f"the reply took {delay:.2f}s"
            assert got[1]["id"] == r.json()["id"] and got[1]["author"] == "agent"
        finally:
            stream.close()


@pytest.mark.postgres
def test_article_published_on_a_answers_on_b_without_restart(pair):
    (base_a, rt_a, _), (base_b, rt_b, _), _ = pair
    agent = make_agent(rt_a, f"wiki-{uuid.uuid4().hex[:6]}", kb_editor=True)
    art = f"fac-badge-{uuid.uuid4().hex[:6]}"

    def b_has(article_id: str) -> bool:
        return any(u.article_id == article_id for u in list(rt_b.retriever.units.values()))

    with httpx.Client(base_url=base_a, timeout=30) as http_a, httpx.Client(base_url=base_b, timeout=30) as http_b:
        assert ChatUser(http_b, "badge-0").send(QUESTION).json()["state"] == "waiting_for_agent"
        r = http_a.post(
            "/api/v1/kb/articles", json={"id": art, "title": "Door badge not working", "body": BODY}, headers=agent
        )
        assert r.status_code == 201, r.text
        started = time.monotonic()
        assert http_a.post(f"/api/v1/kb/articles/{art}/publish", headers=agent).json()["status"] == "published"
        while not b_has(art):
            assert time.monotonic() - started < 5, "B's index did not follow the KB"
            time.sleep(0.05)
        r = ChatUser(http_b, "badge-1").send(QUESTION).json()
        assert r["state"] == "bot" and r["replies"][0]["article"]["id"] == art, r
        assert "front desk" in r["replies"][0]["text"]

        # Archived on B: A stops answering with it, again without a restart.
        started = time.monotonic()
        assert http_b.post(f"/api/v1/kb/articles/{art}/archive", headers=agent).status_code == 200
        while any(u.article_id == art for u in list(rt_a.retriever.units.values())):
            assert time.monotonic() - started < 5, "A's index kept the archived article"
            time.sleep(0.05)
        r = ChatUser(http_a, "badge-2").send(QUESTION).json()
        assert r["state"] == "waiting_for_agent" or r["replies"][0].get("article", {}).get("id") != art, r


@pytest.mark.postgres
def test_rate_limit_is_shared_by_the_instances(pair):
    (base_a, _, _), (base_b, _, _), _ = pair
    with httpx.Client(base_url=base_a, timeout=30) as http_a, httpx.Client(base_url=base_b, timeout=30) as http_b:
        name = f"chatty-{uuid.uuid4().hex[:6]}"
        if time.time() % 60 > 55:  # all six messages within one fixed window
            time.sleep(60 - time.time() % 60 + 0.1)
        on_a, on_b = ChatUser(http_a, name), ChatUser(http_b, name)
        for i in range(3):
            assert on_a.send(f"printer question {i}").status_code == 200
        on_b.token = on_a.token
        codes = [on_b.send(f"printer question {i}").status_code for i in range(3, 6)]
        # The limit is 5 per minute for the user across both instances: B knows of the 3 sent to A.
        assert codes == [200, 200, 429], codes


def test_unreachable_redis_degrades_with_a_warning(tmp_path, caplog):
    closed = free_port()  # nothing listens there
    caplog.set_level(logging.WARNING)
    with serve(
        f"sqlite:///{tmp_path / 'fl.db'}",
        tmp_path / "data",
        redis_url=f"redis://127.0.0.1:{closed}/0",
        chat_rate_per_minute=3,
        load_sample_kb=False,
    ) as (base, runtime, app):
        deadline = time.time() + 10
        while not any(r.name == "core.relay" and "unreachable" in r.getMessage() for r in caplog.records):
            assert time.time() < deadline, "no warning about Redis"
            time.sleep(0.05)
        agent = make_agent(runtime, "solo")
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/healthz").json()["status"] == "ok"
            user = ChatUser(http, "solo-user")
            r = user.send("I need a human please")
            assert r.status_code == 200 and r.json()["ticket"]
            number = r.json()["ticket"]
            last = max(m["id"] for m in user.messages())
            stream = EventReader(base, "/api/v1/chat/stream", {"user": user.user, "after": last}, user.headers)
            try:
                http.post(f"/api/v1/tickets/{number}/claim", headers=agent).raise_for_status()
                http.post(
                    f"/api/v1/tickets/{number}/reply", json={"text": "still here"}, headers=agent
                ).raise_for_status()
                assert stream.wait_for(lambda n, d: d.get("text") == "still here", timeout=3) is not None
            finally:
                stream.close()
            # Rate limits fall back to this process's counters: still enforced.
            codes = [user.send(f"question {i}").status_code for i in range(4)]
            assert 429 in codes and codes[0] == 200, codes
    assert not any(r.levelno >= logging.ERROR and r.name.startswith(("api.", "core.")) for r in caplog.records)


# -- the Telegram poller's lease ----------------------------------------------------------------------
CONTENDER = """
import asyncio, sys
from redis import asyncio as aioredis
from core.lease import RedisLease, run_while_holding

async def work():
    print("holding", flush=True)
    await asyncio.Event().wait()

async def main():
    lease = RedisLease(aioredis.Redis.from_url(sys.argv[1]), sys.argv[2], ttl=float(sys.argv[3]))
    await run_while_holding(lease, work, "test poller")

asyncio.run(main())
"""


@needs_redis
async def test_exactly_one_contender_holds_the_lease_and_another_takes_over_when_it_dies():
    from redis import asyncio as aioredis

    from core.lease import RedisLease, run_while_holding

    # A 2 s lease: renewals every ttl/3 keep up even on a busy 2-core CI machine.
    key, ttl = f"firstline-test:lease:{uuid.uuid4().hex}", 2.0
    holder = subprocess.Popen(
        [sys.executable, "-c", CONTENDER, REDIS_URL, key, str(ttl)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    client = aioredis.Redis.from_url(REDIS_URL)
    running: list[str] = []

    async def work(name: str) -> None:
        running.append(name)
        await asyncio.Event().wait()

    tasks = []
    try:
        line = await asyncio.wait_for(asyncio.to_thread(holder.stdout.readline), 15)
        assert line.strip() == "holding"
        tasks = [
            asyncio.create_task(run_while_holding(RedisLease(client, key, ttl), lambda n=n: work(n), n))
            for n in ("b", "c")
        ]
        await asyncio.sleep(3 * ttl)  # several lease periods: the live holder keeps renewing
        assert running == []
        holder.send_signal(signal.SIGKILL)  # dies without releasing
        holder.wait(5)
        killed = time.monotonic()
        while not running:
            assert time.monotonic() - killed < 3 * ttl, "nobody took over"
            await asyncio.sleep(0.05)
        await asyncio.sleep(2 * ttl)
        assert len(running) == 1, running  # exactly one of the two standbys
        # The new holder shuts down cleanly (releases): the last standby takes over at once.
        first = running[0]
        next(t for t, n in zip(tasks, ("b", "c")) if n == first).cancel()
        released = time.monotonic()
        while len(running) < 2:
            assert time.monotonic() - released < 2 * ttl
            await asyncio.sleep(0.05)
        assert running[1] != first
    finally:
        if holder.poll() is None:
            holder.kill()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.delete(key)
        await client.aclose()


# -- Redis lost while running, then back --------------------------------------------------------------
@contextmanager
def private_redis(port: int):
    """A throwaway redis-server (the shared one on 6379 is never stopped by tests)."""
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 10
        while True:
            try:
                if redis.Redis(port=port, socket_connect_timeout=0.2).ping():
                    break
            except redis.RedisError:
                assert time.time() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed")
async def test_relay_survives_redis_going_away_and_coming_back(caplog):
    from core.relay import Event, Relay

    caplog.set_level(logging.INFO, logger="core.relay")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"

    async def until(check, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.05)

    with private_redis(port) as server:
        a, b = Relay(url, "firstline-test"), Relay(url, "firstline-test")
        a.start()
        b.start()
        try:
            await until(lambda: a.redis_up and b.redis_up, 5, "relays did not connect")
            with b.subscribe(lambda e: e.topic == "kb") as on_b, a.subscribe(lambda e: e.topic == "kb") as on_a:
                a.publish(Event("kb"))
                assert await on_b.wait(2), "B missed A's event"
                server.kill()  # Redis dies under the running processes
                server.wait(5)
                await until(lambda: not a.redis_up, 5, "A did not notice Redis going away")
                assert any(r.levelno == logging.WARNING and "unreachable" in r.getMessage() for r in caplog.records)
                on_a.clear()
                a.publish(Event("kb"))
                assert await on_a.wait(1), "in-process delivery must go on without Redis"
                assert a.poll_interval(0.5) == 0.5  # waiters fall back to fast DB polling
                with private_redis(port):
                    await until(lambda: a.redis_up and b.redis_up, 10, "relays did not reconnect")
                    assert any("is back" in r.getMessage() for r in caplog.records)
                    on_b.clear()
                    a.publish(Event("kb"))
                    assert await on_b.wait(2), "cross-process relay did not resume"
        finally:
            await a.stop()
            await b.stop()


@needs_redis
async def test_a_holder_cancelled_in_the_middle_of_a_renewal_still_stops_and_lets_go():
    """redis-py can swallow a cancellation that lands mid-command (redis/redis-py#2028); the CI once saw a
    cancelled holder renew for ever. The renewal here swallows it the same way, every time."""
    from redis import asyncio as aioredis

    from core.lease import RedisLease, run_while_holding

    renewing = asyncio.Event()

    class SwallowingLease(RedisLease):
        async def renew(self) -> bool:
            renewing.set()
            try:
                await asyncio.sleep(0.3)  # the command in flight when the cancel lands
            except asyncio.CancelledError:
                pass  # what the client library did
            return await super().renew()

    key = f"firstline-test:lease:{uuid.uuid4().hex}"
    client = aioredis.Redis.from_url(REDIS_URL)
    worked = asyncio.Event()

    async def work() -> None:
        worked.set()
        await asyncio.Event().wait()

    holder = asyncio.create_task(run_while_holding(SwallowingLease(client, key, ttl=0.6), work, "a"))
    try:
        await asyncio.wait_for(renewing.wait(), 5)
        assert worked.is_set() and await client.exists(key)
        holder.cancel()
        done, _ = await asyncio.wait({holder}, timeout=5)
        assert done and holder.cancelled(), "the cancelled holder carried on"
        assert not await client.exists(key)  # released at once, not left to expire
    finally:
        holder.cancel()  # a holder that swallowed its cancel once is left to the loop's end, not awaited
        await client.delete(key)
        await client.aclose()
