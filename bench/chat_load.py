"""Web-chat load: N concurrent users × M messages against one `firstline serve` process.

Verifies that no message was lost or duplicated (every client message id is stored exactly once and
answered or routed to a ticket) and prints throughput and latency percentiles; the last line is JSON.

    python -m bench.chat_load --users 200 --messages 5 [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import typer
from sqlalchemy import create_engine, func, select

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    json.loads(line)["query"] for line in (ROOT / "eval" / "sample.en.jsonl").read_text().splitlines() if line.strip()
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _user(client: httpx.AsyncClient, n: int, messages: int, lat: list[float], errors: list[str]) -> None:
    user, token = f"load-user-{n}", None
    rnd = random.Random(n)
    for i in range(messages):
        body = {"user": user, "client_msg_id": f"load-{n}-{i}"}
        roll = rnd.random()
        if i > 0 and roll < 0.15:
            body["action"] = "not_helped"
        elif roll < 0.2:
            body["text"] = "talk to a human"
        else:
            body["text"] = rnd.choice(QUESTIONS)
        headers = {"X-Chat-Token": token} if token else {}
        for attempt in range(3):  # a client retries on a transport error with the same id: processed once
            t0 = time.perf_counter()
            try:
                r = await client.post("/api/v1/chat", json=body, headers=headers)
            except httpx.TransportError as exc:
                if attempt == 2:
                    errors.append(f"{user}#{i}: {exc!r}")
                continue
            lat.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                errors.append(f"{user}#{i}: HTTP {r.status_code} {r.text[:200]}")
            else:
                token = r.json()["user_token"]
            break


def main(
    users: int = typer.Option(200),
    messages: int = typer.Option(5),
    database_url: str = typer.Option("", help="default: SQLite in a temp data dir"),
) -> None:
    data = Path(tempfile.mkdtemp(prefix="firstline-load-"))
    # Every simulated user comes from this one machine's address; real users come from many, so the per-address
    # cap on new chat identities (a defence against one client minting thousands) is lifted for the load.
    env = {
        **os.environ,
        "FIRSTLINE_DATA_DIR": str(data),
        "HF_HUB_OFFLINE": "1",
        "FIRSTLINE_NEW_CHAT_USERS_PER_MINUTE": str(max(1000, users * 2)),
    }
    if database_url:
        env["FIRSTLINE_DATABASE_URL"] = database_url
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(data / "server.log", "w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not start; see {data / 'server.log'}")
            time.sleep(0.5)
        lat: list[float] = []
        errors: list[str] = []

        async def run() -> float:
            limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
            async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
                t0 = time.perf_counter()
                await asyncio.gather(*(_user(client, n, messages, lat, errors) for n in range(users)))
                return time.perf_counter() - t0

        elapsed = asyncio.run(run())
    finally:
        server.terminate()
        server.wait(30)

    from tickets.models import Message

    url = database_url or f"sqlite:///{data / 'firstline.db'}"
    engine = create_engine(url)
    with engine.connect() as c:
        rows = c.execute(
            select(Message.platform_msg_id, func.count())
            .where(Message.platform_msg_id.like("load-%"))
            .group_by(Message.platform_msg_id)
        ).all()
        unanswered = c.execute(
            select(func.count())
            .select_from(Message)
            .where(Message.platform_msg_id.like("load-%"), Message.author == "user")
        ).scalar()
    stored = {pid: n for pid, n in rows}
    expected = {f"load-{u}-{i}" for u in range(users) for i in range(messages)}
    lost = sorted(expected - stored.keys())
    duplicated = sorted(pid for pid, n in stored.items() if n > 1)
    a = np.array(lat) if lat else np.zeros(1)
    summary = {
        "users": users,
        "messages_per_user": messages,
        "requests": len(lat),
        "seconds": round(elapsed, 2),
        "throughput_msg_s": round(len(lat) / elapsed, 1),
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p95_ms": round(float(np.percentile(a, 95)), 1),
        "p99_ms": round(float(np.percentile(a, 99)), 1),
        "errors": len(errors),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "stored_user_messages": unanswered,
        "database": "postgresql" if database_url else "sqlite",
    }
    for e in errors[:10]:
        print("error:", e)
    print(
        f"{summary['requests']} requests in {summary['seconds']} s: {summary['throughput_msg_s']} msg/s, "
        f"p50 {summary['p50_ms']} ms, p95 {summary['p95_ms']} ms, p99 {summary['p99_ms']} ms; "
        f"lost {len(lost)}, duplicated {len(duplicated)}, errors {len(errors)}"
    )
    print(json.dumps(summary))
    raise SystemExit(1 if errors or lost or duplicated else 0)


if __name__ == "__main__":
    typer.run(main)
