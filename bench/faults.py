"""Fault scenarios against real `firstline serve` processes on 127.0.0.1, each printing PASS/FAIL/SKIP with
what it saw (the last line is a JSON summary):

  kill9     kill -9 one of two processes while users are sending: the other keeps answering (the client moves
            on like a load balancer), and every message is stored exactly once.
  postgres  PostgreSQL restarted during load (a private PostgreSQL started for the run, never the machine's
            unless --system-postgres): requests fail cleanly (503 + JSON error) or succeed, none hang or
            500; afterwards every acknowledged message is stored once and no ticket is half-written.
  redis     Redis down (a private redis-server this script starts, then stops; plus a process started with
            Redis unreachable): the app keeps serving, agent replies still reach users, a warning is logged.
  faiss     the FAISS index file corrupted (garbage bytes), then deleted: on the next start it is rebuilt
            from the database and the same questions get the same answers.

    python -m bench.faults [kill9 postgres redis faiss] [--system-postgres]
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import httpx
import typer
from sqlalchemy import create_engine, func, select

from bench.cluster_load import (
    QUESTIONS,
    Load,
    Server,
    check_telegram_replies,
    check_user_messages,
    check_web_replies,
    cluster,
    create_agents,
    create_database,
    free_port,
    run_load,
    server_env,
    wait_outbox_drained,
)

ROOT = Path(__file__).resolve().parent.parent


class Result:
    def __init__(self, name: str) -> None:
        self.name, self.status, self.seen = name, "PASS", []

    def check(self, ok: bool, what: str) -> bool:
        self.seen.append(("ok " if ok else "NOT ") + what)
        if not ok:
            self.status = "FAIL"
        return ok

    def note(self, what: str) -> None:
        self.seen.append(what)

    def skip(self, why: str) -> "Result":
        self.status = "SKIP"
        self.seen.append(why)
        return self

    def print(self) -> None:
        print(f"{self.status} {self.name}", flush=True)
        for line in self.seen:
            print(f"    {line}", flush=True)


async def _load(
    servers: list[Server],
    db_url: str,
    *,
    web: int,
    tg: int,
    messages: int,
    agents: int,
    chaos=None,
    attempts: int = 8,
    timeout: float = 30,
) -> tuple[Load, float, Counter]:
    headers = create_agents(db_url, agents, f"F{uuid.uuid4().hex[:6]}") if agents else []
    async with httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=100)) as client:
        load = Load(servers, client, asyncio.Semaphore(100), f"F{uuid.uuid4().hex[:6]}", messages, attempts=attempts)
        elapsed = await asyncio.wait_for(run_load(load, web, tg, headers, random.randint(1, 999) * 10**6, chaos), 600)
        return load, elapsed, await check_web_replies(load)


def _common_checks(res: Result, load: Load, db_url: str, problems: Counter) -> None:
    stored = check_user_messages(db_url, load)
    acked = len(load.acked_web) + len(load.acked_tg)
    res.check(
        not stored["lost"], f"{acked} acknowledged user messages, lost {len(stored['lost'])} {stored['lost'][:5] or ''}"
    )
    res.check(not stored["duplicated"], f"duplicated {len(stored['duplicated'])} {stored['duplicated'][:5] or ''}")
    res.check(
        not load.failed,
        f"messages the client gave up on after retries: {len(load.failed)} "
        f"(stored anyway {len(stored['failed_stored'])})",
    )
    res.check(not problems, f"bot/agent replies reached users exactly once (problems: {dict(problems) or 'none'})")
    if load.errors:
        res.note(f"failed attempts by kind (each retried): {dict(load.errors)}")


# -- (a) kill -9 ---------------------------------------------------------------------------------------------
def kill9(fake, admin_url: str | None) -> Result:
    res = Result("kill9: kill -9 one of two processes mid-conversation")
    db_url, drop = create_database(**({"admin_url": admin_url} if admin_url else {}))
    data = Path(tempfile.mkdtemp(prefix="firstline-fault-"))
    try:
        with cluster(2, server_env(db_url, None, fake.base_url), data) as servers:
            killed: dict = {}

            async def chaos(load: Load) -> None:
                total = load.messages * 80
                while load.acked_count < total * 0.3:
                    await asyncio.sleep(0.05)
                servers[1].kill9()
                killed.update(at=load.acked_count, statuses=dict(load.statuses))

            load, elapsed, problems = asyncio.run(
                _load(servers, db_url, web=40, tg=40, messages=8, agents=4, chaos=chaos)
            )
            res.note(f"killed process 1 (pid {servers[1].proc.pid}) after {killed.get('at')} acknowledged messages")
            after = Counter(load.statuses) - Counter(killed.get("statuses", {}))
            res.check(
                after.get(200, 0) > 0 and servers[0].alive(),
                f"process 0 kept answering: {after.get(200, 0)} answers after the kill, {elapsed:.1f} s in all",
            )
            t0 = time.time()
            outbox = wait_outbox_drained(db_url, 160)  # items the dead process held are released after 2 min
            res.note(f"outbox for users after {time.time() - t0:.0f} s: {outbox}")
            problems += check_telegram_replies(db_url, load, fake)
            _common_checks(res, load, db_url, Counter({k: v for k, v in problems.items() if v}))
    finally:
        drop()
        shutil.rmtree(data, ignore_errors=True)
    return res


# -- (b) PostgreSQL restarted --------------------------------------------------------------------------------------
def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _as_postgres(args: list[str], **kw) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


@contextmanager
def private_postgres() -> Iterator[tuple[str, Callable[[], float]]]:
    """A throwaway PostgreSQL cluster on a free port: (admin URL, restart() → seconds it took)."""
    pg = _pg_bin()
    if pg is None:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    root = Path(tempfile.mkdtemp(prefix="firstline-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    try:
        r = _as_postgres([str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"])
        if r.returncode:
            raise RuntimeError(f"initdb failed: {r.stderr.strip()[-300:]}")
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        r = _as_postgres([str(pg / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "pg.log"), "-w", "start"])
        if r.returncode:
            raise RuntimeError(f"pg_ctl start failed: {(r.stderr or r.stdout).strip()[-300:]}")

        def restart() -> float:
            t0 = time.time()
            # -l: the new postmaster must not inherit our capture pipe (run() would wait for it to close).
            r = _as_postgres(
                [str(pg / "pg_ctl"), "-D", str(data), "-l", str(root / "pg.log"), "-m", "fast", "-w", "restart"]
            )
            if r.returncode:
                raise RuntimeError(f"pg_ctl restart failed: {(r.stderr or r.stdout).strip()[-300:]}")
            return time.time() - t0

        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", restart
    finally:
        _as_postgres([str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def system_postgres() -> Iterator[tuple[str, Callable[[], float]]]:
    """The machine's PostgreSQL (only with --system-postgres: it interrupts everyone else using it)."""

    def restart() -> float:
        t0 = time.time()
        for cmd in (["pg_ctlcluster", "15", "main", "restart"], ["service", "postgresql", "restart"]):
            if shutil.which(cmd[0]) and subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0:
                return time.time() - t0
        raise RuntimeError("neither pg_ctlcluster nor service could restart PostgreSQL")

    yield "postgresql+psycopg://postgres@127.0.0.1:5432/test", restart


def _half_written(db_url: str) -> dict:
    """Tickets and conversations that disagree: a ticket without its handoff reply, a conversation waiting
    for a person without a ticket, a handoff reply without a ticket, a user message in bot mode unanswered."""
    from tickets.models import Conversation, Message, Ticket

    engine = create_engine(db_url)
    try:
        with engine.connect() as c:
            waiting_without_ticket = c.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(
                    Conversation.state.in_(("waiting_for_agent", "with_agent")),
                    ~select(Ticket.id).where(Ticket.conversation_id == Conversation.id).exists(),
                )
            )
            handoff_without_ticket = c.scalar(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.author == "bot",
                    func.coalesce(Message.payload["kind"].as_string(), "") == "handoff",
                    ~select(Ticket.id).where(Ticket.conversation_id == Message.conversation_id).exists(),
                )
            )
            ticket_without_handoff = c.scalar(
                select(func.count())
                .select_from(Ticket)
                .where(
                    ~select(Message.id)
                    .where(Message.conversation_id == Ticket.conversation_id, Message.author == "bot")
                    .exists()
                )
            )
    finally:
        engine.dispose()
    return {
        "waiting_without_ticket": waiting_without_ticket,
        "handoff_reply_without_ticket": handoff_without_ticket,
        "ticket_without_bot_reply": ticket_without_handoff,
    }


def postgres_restart(fake, use_system: bool) -> Result:
    res = Result("postgres: PostgreSQL restarted during load")
    try:
        pg = system_postgres() if use_system else private_postgres()
        admin_url, restart = pg.__enter__()
    except Exception as exc:
        return res.skip(f"cannot run a PostgreSQL to restart here ({exc}); skipped")
    data = Path(tempfile.mkdtemp(prefix="firstline-fault-"))
    try:
        db_url, drop = create_database(admin_url)
        try:
            with cluster(2, server_env(db_url, None, fake.base_url), data) as servers:
                restarts: list[float] = []

                async def chaos(load: Load) -> None:
                    total = load.messages * 60
                    for share in (0.25, 0.6):
                        while load.acked_count < total * share:
                            await asyncio.sleep(0.05)
                        restarts.append(await asyncio.to_thread(restart))

                load, elapsed, problems = asyncio.run(
                    _load(servers, db_url, web=40, tg=20, messages=8, agents=3, chaos=chaos)
                )
                res.note(
                    f"PostgreSQL restarted {len(restarts)}× (took {', '.join(f'{s:.1f}' for s in restarts)} s) "
                    f"during {elapsed:.1f} s of load; statuses {dict(load.statuses)}"
                )
                bad = [(st, body) for st, body in load.unhappy if st != 503 or '"error"' not in body]
                res.check(
                    not bad,
                    f"every 5xx was a 503 with the app's JSON error ({len(load.unhappy)} 5xx; "
                    f"others: {bad[:3] or 'none'})",
                )
                hangs = sum(n for k, n in load.errors.items() if "Timeout" in k)
                res.check(not hangs, f"no request hung (client timeouts: {hangs})")
                res.check(all(s.alive() for s in servers), "both processes still running")
                outbox = wait_outbox_drained(db_url, 60)
                res.note(f"outbox for users: {outbox}")
                problems += check_telegram_replies(db_url, load, fake)
                _common_checks(res, load, db_url, Counter({k: v for k, v in problems.items() if v}))
                half = _half_written(db_url)
                res.check(not any(half.values()), f"no half-written ticket: {half}")
        finally:
            drop()
    finally:
        pg.__exit__(None, None, None)
        shutil.rmtree(data, ignore_errors=True)
    return res


# -- (c) Redis down -----------------------------------------------------------------------------------------------
@contextmanager
def private_redis() -> Iterator[tuple[str, subprocess.Popen]]:
    """A redis-server of our own on a free port (the machine's Redis on 6379 is never touched)."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    root = Path(tempfile.mkdtemp(prefix="firstline-redis-"))
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 10
        while True:
            try:
                with socket_to(port):
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("private redis-server did not start") from None
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)


def socket_to(port: int):
    import socket

    return socket.create_connection(("127.0.0.1", port), timeout=1)


def _redis_warnings(servers: list[Server]) -> list[str]:
    return [
        line
        for s in servers
        for line in s.log_text().splitlines()
        if "redis" in line.lower() and (" WARNING " in line or " ERROR " in line)
    ]


def redis_down(fake, admin_url: str | None) -> Result:
    res = Result("redis: Redis down")
    try:
        redis = private_redis()
        redis_url, redis_proc = redis.__enter__()
    except Exception as exc:
        return res.skip(f"cannot start a private redis-server ({exc}); skipped")
    db_url, drop = create_database(**({"admin_url": admin_url} if admin_url else {}))
    data = Path(tempfile.mkdtemp(prefix="firstline-fault-"))
    try:
        with cluster(2, server_env(db_url, redis_url, fake.base_url), data) as servers:
            load, _, problems = asyncio.run(_load(servers, db_url, web=15, tg=15, messages=4, agents=2))
            wait_outbox_drained(db_url, 60)
            problems += check_telegram_replies(db_url, load, fake)
            problems = Counter({k: v for k, v in problems.items() if v})
            res.check(
                not load.failed and not problems,
                f"with Redis up: {len(load.acked_web) + len(load.acked_tg)} messages answered, "
                f"failed {len(load.failed)}, reply problems {dict(problems) or 'none'}",
            )
            redis_proc.terminate()
            redis_proc.wait(10)
            res.note("private redis-server stopped")
            load, elapsed, problems = asyncio.run(_load(servers, db_url, web=20, tg=20, messages=5, agents=3))
            wait_outbox_drained(db_url, 60)
            problems += check_telegram_replies(db_url, load, fake)
            res.check(all(s.alive() for s in servers), "both processes still running")
            res.note(
                f"with Redis down: statuses {dict(load.statuses)}, {load.claims['claimed']} tickets claimed, "
                f"{len(load.agent_replies)} agent replies from the other process, {elapsed:.1f} s"
            )
            _common_checks(res, load, db_url, Counter({k: v for k, v in problems.items() if v}))
            warned = _redis_warnings(servers)
            res.check(bool(warned), f"a warning about Redis was logged: {warned[0][:200] if warned else 'none'}")
        # A process that starts while Redis is unreachable (a closed port) starts and serves.
        dead_url = f"redis://127.0.0.1:{free_port()}/0"
        with cluster(1, server_env(db_url, dead_url, fake.base_url), data / "cold") as servers:
            load, _, problems = asyncio.run(_load(servers, db_url, web=10, tg=10, messages=3, agents=1))
            wait_outbox_drained(db_url, 60)
            problems += check_telegram_replies(db_url, load, fake)
            problems = Counter({k: v for k, v in problems.items() if v})
            res.check(
                not load.failed and not problems and servers[0].alive(),
                f"a process started with Redis unreachable serves: statuses {dict(load.statuses)}, "
                f"failed {len(load.failed)}, reply problems {dict(problems) or 'none'}",
            )
            warned = _redis_warnings(servers)
            res.check(bool(warned), f"... and logs a warning: {warned[0][:200] if warned else 'none'}")
    except RuntimeError as exc:
        res.check(False, f"a process did not start or serve: {exc}")
    finally:
        redis.__exit__(None, None, None)
        drop()
        shutil.rmtree(data, ignore_errors=True)
    return res


# -- (d) FAISS index file ------------------------------------------------------------------------------------------
def ask(base: str, questions: list[str], tag: str) -> list[tuple[str, str | None]]:
    """Each question from a new web-chat user: (reply kind, article id) of the first reply."""
    out = []
    with httpx.Client(base_url=base, timeout=60) as http:
        for i, q in enumerate(questions):
            r = http.post("/api/v1/chat", json={"user": f"faiss-{tag}-{i}", "text": q})
            r.raise_for_status()
            first = r.json()["replies"][0]
            out.append((first["kind"], (first.get("article") or {}).get("id")))
    return out


def faiss_index(fake, admin_url: str | None) -> Result:
    from retrieval.index import VectorIndex

    res = Result("faiss: index file corrupted / deleted")
    db_url, drop = create_database(**({"admin_url": admin_url} if admin_url else {}))
    data = Path(tempfile.mkdtemp(prefix="firstline-fault-"))
    questions = random.Random(3).sample(QUESTIONS, 15)
    try:
        env = server_env(db_url, None, None)
        with cluster(1, env, data) as servers:
            before = ask(servers[0].base, questions, "before")
            units = httpx.get(servers[0].base + "/healthz").json()["units"]
        [index_file] = list((data / "p0" / "index").glob("*.faiss"))
        res.note(
            f"{units} units; {sum(k == 'answer' for k, _ in before)}/{len(questions)} questions answered "
            f"from the KB before"
        )
        for damage in ("corrupted", "deleted"):
            if damage == "corrupted":
                index_file.write_bytes(os.urandom(4096))
            else:
                index_file.unlink()
            log_start = len((data / "p0" / "server.log").read_text())
            t0 = time.time()
            with cluster(1, env, data) as servers:
                started = time.time() - t0
                health = httpx.get(servers[0].base + "/healthz").json()
                after = ask(servers[0].base, questions, damage)
                log = servers[0].log_text()[log_start:]
            res.check(health["units"] == units, f"{damage}: started in {started:.1f} s with {health['units']} units")
            res.check("rebuil" in log.lower(), f"{damage}: the log says the index was rebuilt")
            res.check(after == before, f"{damage}: the same {len(questions)} questions got the same answers")
            try:
                VectorIndex.load(index_file)
                res.check(True, f"{damage}: a valid index file was written again")
            except Exception as exc:
                res.check(False, f"{damage}: the index file is still unusable ({exc})")
    finally:
        drop()
        shutil.rmtree(data, ignore_errors=True)
    return res


SCENARIOS = {"kill9": kill9, "postgres": postgres_restart, "redis": redis_down, "faiss": faiss_index}


def main(
    scenarios: list[str] = typer.Argument(None, help=f"some of: {' '.join(SCENARIOS)} (default: all)"),
    system_postgres_: bool = typer.Option(
        False, "--system-postgres", help="restart the machine's PostgreSQL instead of a private one"
    ),
    pg_admin_url: str = typer.Option(
        "", help="PostgreSQL to create throwaway DBs in (default: FIRSTLINE_TEST_PG or postgres@127.0.0.1:5432/test)"
    ),
) -> None:
    from bench.cluster_load import TOKEN
    from tests.support.fakes.telegram_api import FakeTelegram

    wanted = scenarios or list(SCENARIOS)
    unknown = set(wanted) - SCENARIOS.keys()
    if unknown:
        raise typer.BadParameter(f"unknown scenario(s) {', '.join(sorted(unknown))}: use {', '.join(SCENARIOS)}")
    results: dict[str, str] = {}
    fake = FakeTelegram(TOKEN)
    with fake.running():
        for name in wanted:
            t0 = time.time()
            try:
                if name == "postgres":
                    res = postgres_restart(fake, system_postgres_)
                else:
                    res = SCENARIOS[name](fake, pg_admin_url or None)
            except Exception as exc:  # a scenario that breaks is a failure with its reason, the rest still run
                res = Result(name)
                res.check(False, f"scenario crashed: {type(exc).__name__}: {exc}")
            res.note(f"{time.time() - t0:.0f} s")
            res.print()
            results[name] = res.status
    print(json.dumps(results))
    raise SystemExit(1 if "FAIL" in results.values() else 0)


if __name__ == "__main__":
    typer.run(main)
