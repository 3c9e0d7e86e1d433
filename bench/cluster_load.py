"""Cluster load: several `firstline serve` processes on one PostgreSQL database (and one Redis), web-chat and
Telegram users at once, handoffs, and agents replying from another process than the user's.

Everything runs on 127.0.0.1: the server processes, the fake Telegram Bot API (tests/fakes) and the client.
Web-chat requests go round-robin across the processes (a load balancer without stickiness); Telegram updates
are POSTed to the processes' webhook routes, each with its own update_id. A request that fails in transport
or with 502/503/504 is retried with the same id on the next process, as a load balancer would.

Afterwards it checks, by id: every user message the client sent is stored exactly once; every bot reply and
every agent reply reached its user exactly once (web chat: the user's transcript over the API; Telegram:
sendMessage calls at the fake server); and prints throughput, latency percentiles, errors by kind. The last
line is a JSON summary; the exit code is 0 only with nothing lost, duplicated, failed or mismatched.

    python -m bench.cluster_load --users 1000 --messages 10 [--processes 2]
        [--database-url postgresql+psycopg://postgres@127.0.0.1/<db>]   (default: a fresh DB, dropped after)
        [--redis-url redis://127.0.0.1:6379/11] [--timeout 900]
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Iterator

import httpx
import numpy as np
import typer
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    json.loads(line)["query"] for line in (ROOT / "eval" / "sample.en.jsonl").read_text().splitlines() if line.strip()
]
PG_ADMIN_URL = os.environ.get("FIRSTLINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TOKEN = "777001:LOAD-firstline-token"
WEBHOOK_SECRET = "load-webhook-Secret_1"
WEBHOOK_PATH = "/api/v1/telegram/webhook"
HUMAN = "talk to a human"
RETRY_STATUSES = {502, 503, 504}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- databases ------------------------------------------------------------------------------------------
def create_database(admin_url: str = PG_ADMIN_URL, prefix: str = "fl_load") -> tuple[str, Callable[[], None]]:
    """A fresh, empty PostgreSQL database and a function that drops it."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        admin_url,
        isolation_level="AUTOCOMMIT",
        pool_pre_ping=True,  # survives a restart
        connect_args={"connect_timeout": 5},
    )
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


# -- server processes -----------------------------------------------------------------------------------
@dataclass
class Server:
    """One `firstline serve` process with its own data dir (its own FAISS index file, like its own host)."""

    index: int
    port: int
    data_dir: Path
    env: dict
    proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(self.port)],
            env={**self.env, "FIRSTLINE_DATA_DIR": str(self.data_dir)},
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def wait_healthy(self, timeout: float = 300) -> None:
        deadline = time.time() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if not self.alive():
                raise RuntimeError(
                    f"server {self.index} exited ({self.proc.returncode}); see {self.log_path}:\n" + self.log_tail()
                )
            if time.time() > deadline:
                raise RuntimeError(f"server {self.index} not healthy after {timeout:.0f}s; see {self.log_path}")
            time.sleep(0.5)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def server_env(db_url: str, redis_url: str | None, telegram_api: str | None, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIRSTLINE_", "TELEGRAM_", "SLACK_"))}
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "FIRSTLINE_DATABASE_URL": db_url,
            # One signing key for all processes: a web-chat token from one is valid at the others.
            "FIRSTLINE_SECRET_KEY": "load-test-shared-secret",
            # All simulated users share the load generator's address; real ones come from many.
            "FIRSTLINE_NEW_CHAT_USERS_PER_MINUTE": "100000",
        }
    )
    if redis_url:
        env["FIRSTLINE_REDIS_URL"] = redis_url
    if telegram_api:
        env.update(
            {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "FIRSTLINE_TELEGRAM_API_BASE": telegram_api,
                # Telegram calls one public HTTPS URL; the load balancer behind it spreads the updates.
                "TELEGRAM_WEBHOOK_URL": f"https://desk.example.com{WEBHOOK_PATH}",
                "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            }
        )
    env.update(extra or {})
    return env


@contextmanager
def cluster(processes: int, env: dict, data_root: Path, startup_timeout: float = 300) -> Iterator[list[Server]]:
    """Start the processes: the first alone (it migrates the schema and loads the sample KB into an empty
    DB), then the others together; stop them all at the end."""
    servers = [Server(i, free_port(), data_root / f"p{i}", env) for i in range(processes)]
    try:
        servers[0].start()
        servers[0].wait_healthy(startup_timeout)
        for s in servers[1:]:
            s.start()
        for s in servers[1:]:
            s.wait_healthy(startup_timeout)
        yield servers
    finally:
        for s in servers:
            s.stop()


def create_agents(db_url: str, count: int, prefix: str) -> list[dict]:
    """Agent accounts straight in the DB (what `firstline agents add` does); their bearer headers."""
    from core.db import make_engine, make_session_factory
    from tickets.agents import create_agent

    engine = make_engine(db_url)
    try:
        with make_session_factory(engine).begin() as s:
            tokens = [create_agent(s, f"{prefix}-agent-{k}", "l1") for k in range(count)]
    finally:
        engine.dispose()
    return [{"Authorization": f"Bearer {tok}"} for tok in tokens]


# -- the simulated users and agents -----------------------------------------------------------------------
@dataclass
class Load:
    servers: list[Server]
    client: httpx.AsyncClient
    sem: asyncio.Semaphore
    run: str
    messages: int
    human_rate: float = 0.12
    attempts: int = 6
    lat: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)  # every failed attempt, by kind (retried or not)
    samples: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    unhappy: list[tuple[int, str]] = field(default_factory=list)  # (status, body) of every 5xx answer
    failed: list[str] = field(default_factory=list)  # ids given up after all attempts
    acked_web: dict[str, str] = field(default_factory=dict)  # client_msg_id → user
    acked_tg: dict[str, int] = field(default_factory=dict)  # platform id → chat id
    sent_ids: set[str] = field(default_factory=set)
    web_replies: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))  # user → bot reply ids
    web_tokens: dict[str, str] = field(default_factory=dict)
    tg_chats: set[int] = field(default_factory=set)
    last_proc: dict[tuple[str, str], int] = field(default_factory=dict)  # (channel, user_ref) → process
    agent_replies: list[dict] = field(default_factory=list)
    claims: Counter = field(default_factory=Counter)
    update_ids: Iterator[int] = field(default_factory=lambda: itertools.count(random.randint(1, 10**6) * 1000))
    users_done: asyncio.Event = field(default_factory=asyncio.Event)
    acked_count: int = 0

    def note(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.samples) < 20:
            self.samples.append(f"{kind}: {detail}")

    async def request(self, method: str, start: int, path: str, what: str, **kw) -> tuple[httpx.Response | None, int]:
        """One user-facing request through a round-robin 'load balancer' that moves on to the next process
        on a transport error or 502/503/504 (same body: same message id)."""
        for attempt in range(self.attempts):
            idx = (start + attempt) % len(self.servers)
            srv = self.servers[idx]
            async with self.sem:
                t0 = time.perf_counter()
                try:
                    r = await self.client.request(method, srv.base + path, **kw)
                except httpx.TransportError as exc:
                    self.note(f"{what}:transport:{type(exc).__name__}", f"p{idx} {exc!r}"[:200])
                    r = None
                ms = (time.perf_counter() - t0) * 1000
            if r is not None:
                self.statuses[r.status_code] += 1
                if r.status_code >= 500:
                    self.unhappy.append((r.status_code, r.text[:300]))
                if r.status_code not in RETRY_STATUSES:
                    self.lat.append(ms)
                    return r, idx
                self.note(f"{what}:http_{r.status_code}", f"p{idx} {r.text[:160]}")
            await asyncio.sleep(min(0.2 * 2**attempt, 3.0))
        return None, -1

    # -- web chat --------------------------------------------------------------------------------------
    async def web_user(self, n: int) -> None:
        user, token, rnd = f"{self.run}-web-{n}", None, random.Random(n)
        for i in range(self.messages):
            cid = f"{user}-{i}"
            body: dict = {"user": user, "client_msg_id": cid}
            roll = rnd.random()
            if i > 0 and roll < 0.06:
                body["action"] = "not_helped"
            elif roll < 0.06 + self.human_rate:
                body["text"] = HUMAN
            else:
                body["text"] = rnd.choice(QUESTIONS)
            self.sent_ids.add(cid)
            r, idx = await self.request(
                "POST", n + i, "/api/v1/chat", "web", json=body, headers={"X-Chat-Token": token} if token else {}
            )
            if r is None:
                self.failed.append(cid)
                continue
            if r.status_code != 200:
                self.note(f"web:http_{r.status_code}", f"{cid}: {r.text[:160]}")
                self.failed.append(cid)
                continue
            data = r.json()
            token = data["user_token"]
            self.acked_web[cid] = user
            self.acked_count += 1
            self.web_replies[user].update(rep["id"] for rep in data["replies"])
            self.last_proc[("web", user)] = idx
        if token:
            self.web_tokens[user] = token

    # -- Telegram (webhook) ------------------------------------------------------------------------------
    async def tg_user(self, n: int, chat_base: int) -> None:
        chat_id, rnd = chat_base + n, random.Random(-n - 1)
        sender = {"id": chat_id, "is_bot": False, "first_name": f"User{n}", "language_code": "en"}
        chat = {"id": chat_id, "type": "private", "first_name": f"User{n}"}
        self.tg_chats.add(chat_id)
        for i in range(self.messages):
            roll = rnd.random()
            words = (
                ("/human" if roll < self.human_rate / 2 else HUMAN) if roll < self.human_rate else rnd.choice(QUESTIONS)
            )
            msg = {"message_id": i + 1, "date": int(time.time()), "chat": chat, "from": sender, "text": words}
            if words.startswith("/"):
                msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(words)}]
            update_id = next(self.update_ids)
            pid = f"tg:{chat_id}:{i + 1}"
            self.sent_ids.add(pid)
            r, idx = await self.request(
                "POST",
                update_id,
                WEBHOOK_PATH,
                "telegram",
                json={"update_id": update_id, "message": msg},
                headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
            )
            if r is None or r.status_code != 200:
                if r is not None:
                    self.note(f"telegram:http_{r.status_code}", f"{pid}: {r.text[:160]}")
                self.failed.append(pid)
                continue
            self.acked_tg[pid] = chat_id
            self.acked_count += 1
            self.last_proc[("telegram", str(chat_id))] = idx

    # -- agents ------------------------------------------------------------------------------------------
    async def agent(self, k: int, count: int, headers: dict, claim_share: int = 3) -> None:
        """Agent k takes the unassigned tickets whose number % count == k (but leaves every `claim_share`-th
        in the queue), through a process other than the one the user last talked to, and replies."""
        seen: set[int] = set()
        while True:
            done = self.users_done.is_set()
            r, _ = await self.request(
                "GET",
                k,
                "/api/v1/tickets",
                "agent",
                params={"status": "new", "unassigned": "true", "limit": 500},
                headers=headers,
            )
            if r is None or r.status_code != 200:
                if r is not None:
                    self.note(f"agent:http_{r.status_code}", r.text[:160])
                await asyncio.sleep(1)
                if done:
                    return
                continue
            for tk in r.json():
                number = tk["number"]
                if number % count != k or number in seen:
                    continue
                seen.add(number)
                if number % claim_share == 0:
                    continue
                origin = self.last_proc.get((tk["channel"], tk["requester"]), k)
                other = (origin + 1) % len(self.servers)
                r, _ = await self.request("POST", other, f"/api/v1/tickets/{number}/claim", "agent", headers=headers)
                if r is None or r.status_code != 200:
                    self.claims["claim_failed"] += 1
                    if r is not None and r.status_code != 409:
                        self.note(f"agent:claim_http_{r.status_code}", r.text[:160])
                    continue
                self.claims["claimed"] += 1
                for j in range(1 + number % 2):
                    words = f"Agent {k} on #{number} (ref R{number}-{j}): please restart and tell me."
                    r, idx = await self.request(
                        "POST", other, f"/api/v1/tickets/{number}/reply", "agent", json={"text": words}, headers=headers
                    )
                    if r is None or r.status_code != 200:
                        self.note("agent:reply_failed", f"#{number}: {r.text[:160] if r is not None else 'no answer'}")
                        continue
                    self.agent_replies.append(
                        {
                            "ticket": number,
                            "id": r.json()["id"],
                            "text": words,
                            "channel": tk["channel"],
                            "user": tk["requester"],
                            "process": idx,
                        }
                    )
            if done:
                return
            await asyncio.sleep(0.5)


async def run_load(
    load: Load,
    web_users: int,
    tg_users: int,
    agents: list[dict],
    chat_base: int,
    chaos: Callable[[Load], Awaitable[None]] | None = None,
) -> float:
    """All users at once (requests bounded by the semaphore), agents alongside; returns the users' seconds."""
    agent_tasks = [asyncio.create_task(load.agent(k, len(agents), h)) for k, h in enumerate(agents)]
    chaos_task = asyncio.create_task(chaos(load)) if chaos else None
    t0 = time.perf_counter()
    users = [load.web_user(n) for n in range(web_users)] + [load.tg_user(n, chat_base) for n in range(tg_users)]
    random.Random(7).shuffle(users)
    await asyncio.gather(*users)
    elapsed = time.perf_counter() - t0
    load.users_done.set()
    await asyncio.gather(*agent_tasks)
    if chaos_task is not None:
        await chaos_task
    return elapsed


# -- verification --------------------------------------------------------------------------------------------
def wait_outbox_drained(db_url: str, timeout: float) -> dict:
    """Wait until no message for a user is pending/sending in the outbox; the counts by status."""
    from tickets.models import OutboxItem

    engine = create_engine(db_url)
    deadline = time.time() + timeout
    try:
        while True:
            with engine.connect() as c:
                rows = dict(
                    c.execute(
                        select(OutboxItem.status, func.count())
                        .where(OutboxItem.audience == "user")
                        .group_by(OutboxItem.status)
                    ).all()
                )
            if not rows.get("pending") and not rows.get("sending") or time.time() > deadline:
                return rows
            time.sleep(0.5)
    finally:
        engine.dispose()


def check_user_messages(db_url: str, load: Load) -> dict:
    """Every acknowledged message stored exactly once; failed ones stored at most once."""
    from tickets.models import Message

    engine = create_engine(db_url)
    try:
        with engine.connect() as c:
            rows = c.execute(
                select(Message.platform_msg_id, func.count())
                .where(Message.author == "user", Message.platform_msg_id.is_not(None))
                .group_by(Message.platform_msg_id)
            ).all()
    finally:
        engine.dispose()
    stored = {pid: n for pid, n in rows if pid in load.sent_ids}
    acked = set(load.acked_web) | set(load.acked_tg)
    return {
        "stored": sum(stored.values()),
        "lost": sorted(acked - stored.keys()),
        "duplicated": sorted(pid for pid, n in stored.items() if n > 1),
        "failed_stored": sorted(pid for pid in load.failed if pid in stored),
        "failed_missing": sorted(pid for pid in load.failed if pid not in stored),
    }


async def check_web_replies(load: Load) -> Counter:
    """Each web user's transcript (over the API, from any process) holds every bot reply they were given
    and every agent reply sent to them, each once, and no bot/agent message they were not given."""
    problems: Counter = Counter()
    agent_by_user: dict[str, set[int]] = defaultdict(set)
    for a in load.agent_replies:
        if a["channel"] == "web":
            agent_by_user[a["user"]].add(a["id"])

    async def one(i: int, user: str, token: str) -> None:
        r, _ = await load.request(
            "GET",
            i,
            "/api/v1/chat/messages",
            "verify",
            params={"user": user, "after": 0},
            headers={"X-Chat-Token": token},
        )
        if r is None or r.status_code != 200:
            problems["web_transcript_unreadable"] += 1
            return
        msgs = r.json()
        ids = Counter(m["id"] for m in msgs)
        bots = {m["id"] for m in msgs if m["author"] == "bot"}
        agents = {m["id"] for m in msgs if m["author"] == "agent"}
        got = load.web_replies[user]
        problems["web_bot_reply_missing"] += len(got - bots)
        problems["web_bot_reply_unexpected"] += len(bots - got)
        problems["web_agent_reply_missing"] += len(agent_by_user[user] - agents)
        problems["web_agent_reply_unexpected"] += len(agents - agent_by_user[user])
        problems["web_message_repeated"] += sum(1 for n in ids.values() if n > 1)

    await asyncio.gather(*(one(i, u, t) for i, (u, t) in enumerate(load.web_tokens.items())))
    return problems


def check_telegram_replies(db_url: str, load: Load, fake) -> Counter:
    """Per Telegram chat: as many sendMessage calls as the bot/agent/system messages stored for that user
    (each is one Bot API message), and each agent reply's text exactly once."""
    from tickets.models import Conversation, Message

    problems: Counter = Counter()
    engine = create_engine(db_url)
    try:
        with engine.connect() as c:
            stored = dict(
                c.execute(
                    select(Conversation.user_ref, func.count())
                    .join(Message, Message.conversation_id == Conversation.id)
                    .where(Conversation.channel == "telegram", Message.author.in_(("bot", "agent", "system")))
                    .group_by(Conversation.user_ref)
                ).all()
            )
    finally:
        engine.dispose()
    sent: dict[int, list[str]] = defaultdict(list)
    with fake._lock:
        for m in fake.sent:
            sent[m["chat_id"]].append(m["text"])
    for chat in load.tg_chats:
        want, got = stored.get(str(chat), 0), len(sent.get(chat, []))
        if got < want:
            problems["telegram_reply_missing"] += want - got
        elif got > want:
            problems["telegram_reply_extra"] += got - want
    for a in load.agent_replies:
        if a["channel"] == "telegram":
            n = sum(1 for t in sent.get(int(a["user"]), []) if a["text"] in t)
            if n != 1:
                problems["telegram_agent_reply_missing" if n == 0 else "telegram_agent_reply_repeated"] += 1
    return problems


def percentiles(lat: list[float]) -> dict:
    a = np.array(lat) if lat else np.zeros(1)
    return {f"p{q}_ms": round(float(np.percentile(a, q)), 1) for q in (50, 95, 99)}


# -- the command ---------------------------------------------------------------------------------------------
def main(
    users: int = typer.Option(1000, help="simulated users: half web chat, half Telegram"),
    messages: int = typer.Option(10, help="messages per user"),
    processes: int = typer.Option(2, min=1),
    agents: int = typer.Option(8, help="agents claiming and answering tickets"),
    concurrency: int = typer.Option(200, help="requests in flight at most"),
    database_url: str = typer.Option("", help="PostgreSQL URL to use as is (default: a fresh DB, dropped after)"),
    redis_url: str = typer.Option("redis://127.0.0.1:6379/11", help="FIRSTLINE_REDIS_URL for every process"),
    timeout: float = typer.Option(900, help="seconds for the whole user phase before giving up"),
    keep: bool = typer.Option(False, help="keep the data dirs and server logs"),
) -> None:
    from tests.support.fakes.telegram_api import FakeTelegram

    drop = None
    if not database_url:
        database_url, drop = create_database()
    data_root = Path(tempfile.mkdtemp(prefix="firstline-cluster-"))
    fake = FakeTelegram(TOKEN)
    run = f"L{uuid.uuid4().hex[:6]}"
    summary: dict = {}
    try:
        with fake.running():
            env = server_env(database_url, redis_url, fake.base_url)
            t_start = time.perf_counter()
            with cluster(processes, env, data_root) as servers:
                print(
                    f"{processes} processes up in {time.perf_counter() - t_start:.1f} s "
                    f"({', '.join(s.base for s in servers)})",
                    flush=True,
                )
                agent_headers = create_agents(database_url, agents, run)

                async def go() -> tuple[Load, float, Counter]:
                    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
                    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
                        load = Load(servers, client, asyncio.Semaphore(concurrency), run, messages)
                        chat_base = random.randint(1, 999) * 10**6
                        elapsed = await asyncio.wait_for(
                            run_load(load, users - users // 2, users // 2, agent_headers, chat_base), timeout
                        )
                        web_problems = await check_web_replies(load)
                        return load, elapsed, web_problems

                try:
                    load, elapsed, problems = asyncio.run(go())
                except asyncio.TimeoutError:
                    print(
                        json.dumps(
                            {
                                "users": users,
                                "messages_per_user": messages,
                                "processes": processes,
                                "error": f"the user phase did not finish within --timeout {timeout:.0f} s",
                            }
                        )
                    )
                    raise SystemExit(2) from None
                outbox = wait_outbox_drained(database_url, 120)
                problems += check_telegram_replies(database_url, load, fake)
                logs = {s.index: s.log_text() for s in servers}
            stored = check_user_messages(database_url, load)
    finally:
        if drop is not None:
            drop()
        if not keep:
            shutil.rmtree(data_root, ignore_errors=True)

    user_requests = len(load.acked_web) + len(load.acked_tg)
    problems = Counter({k: v for k, v in problems.items() if v})
    summary = {
        "users": users,
        "messages_per_user": messages,
        "processes": processes,
        "database": "postgresql",
        "redis_url": redis_url,
        "user_messages": user_requests,
        "seconds": round(elapsed, 2),
        "throughput_msg_s": round(user_requests / elapsed, 1),
        **percentiles(load.lat),
        "tickets_claimed": load.claims["claimed"],
        "agent_replies": len(load.agent_replies),
        "lost": len(stored["lost"]),
        "duplicated": len(stored["duplicated"]),
        "failed": len(load.failed),
        "reply_problems": dict(problems),
        "errors": dict(load.errors),
        "statuses": dict(load.statuses),
        "outbox_user_items": outbox,
        "server_errors_logged": sum(t.count(" ERROR ") for t in logs.values()),
    }
    for line in load.samples[:10]:
        print("error:", line)
    print(
        f"{user_requests} user messages ({len(load.acked_web)} web, {len(load.acked_tg)} Telegram) in "
        f"{summary['seconds']} s: {summary['throughput_msg_s']} msg/s, p50 {summary['p50_ms']} ms, "
        f"p95 {summary['p95_ms']} ms, p99 {summary['p99_ms']} ms"
    )
    print(
        f"handoffs claimed {summary['tickets_claimed']}, agent replies {summary['agent_replies']}; "
        f"lost {summary['lost']}, duplicated {summary['duplicated']}, failed {summary['failed']}, "
        f"reply problems {dict(problems) or 0}, errors by kind {dict(load.errors) or 0}"
    )
    print(json.dumps(summary))
    ok = not (stored["lost"] or stored["duplicated"] or load.failed or problems)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    typer.run(main)
