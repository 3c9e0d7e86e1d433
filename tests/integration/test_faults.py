"""Faults a user would notice: a damaged FAISS index file, and Redis unreachable. The app must start and answer
as before (the index rebuilt from the database; agent replies relayed without Redis, with a logged warning).
The long scenarios (kill -9 a process, PostgreSQL restarted under load) are scripted: `python -m bench.faults`."""

from __future__ import annotations

import json
import logging
import os

import httpx

from core.settings import Settings
from retrieval.index import VectorIndex
from tests.support.live import ChatUser, free_port, make_agent, running_app
from tests.support.paths import ROOT

QUESTIONS = [
    json.loads(line)["query"] for line in (ROOT / "eval" / "sample.en.jsonl").read_text().splitlines() if line.strip()
][:6]


def first_replies(base: str, tag: str) -> list[tuple[str, str | None]]:
    """Each question from a new web-chat user: the kind of the bot's first reply and the article it offered."""
    out = []
    with httpx.Client(base_url=base, timeout=60) as http:
        for i, q in enumerate(QUESTIONS):
            r = http.post("/api/v1/chat", json={"user": f"{tag}-{i}", "text": q})
            assert r.status_code == 200, r.text
            first = r.json()["replies"][0]
            out.append((first["kind"], (first.get("article") or {}).get("id")))
    return out


def test_a_corrupted_or_deleted_index_file_is_rebuilt_from_the_database(tmp_path):
    # SQLite keeps this short; `python -m bench.faults faiss` runs the same on PostgreSQL with `firstline serve`.
    db_url = f"sqlite:///{tmp_path / 'firstline.db'}"
    with running_app(db_url, tmp_path) as (base, runtime):
        units = len(runtime.retriever.index)
        before = first_replies(base, "before")
    assert sum(kind == "answer" for kind, _ in before) >= 4, before  # the comparison below means something
    index_file = Settings(data_dir=tmp_path).index_path
    assert index_file.exists()

    for damage in ("garbage", "deleted"):
        if damage == "garbage":
            index_file.write_bytes(os.urandom(4096))
        else:
            index_file.unlink()
        with running_app(db_url, tmp_path) as (base, runtime):
            assert len(runtime.retriever.index) == units, damage
            assert first_replies(base, damage) == before, damage
        VectorIndex.load(index_file)  # a valid file again: the next start needs no rebuild


def test_with_redis_unreachable_the_app_serves_relays_agent_replies_and_warns(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with (
        running_app(f"sqlite:///{tmp_path / 'firstline.db'}", tmp_path, redis_url=closed) as (base, runtime),
        httpx.Client(base_url=base, timeout=60) as http,
    ):
        ann = ChatUser(http, "ann")
        r = ann.send("How do I reset my password?")
        assert r.status_code == 200 and r.json()["replies"][0]["kind"] == "answer", r.text
        r = ann.send("talk to a human")
        assert r.status_code == 200, r.text
        number = r.json()["ticket"]
        agent = make_agent(runtime, "rita")
        assert http.post(f"/api/v1/tickets/{number}/claim", headers=agent).status_code == 200
        r = http.post(f"/api/v1/tickets/{number}/reply", headers=agent, json={"text": "Resetting it for you now."})
        assert r.status_code == 200, r.text
        assert [m["text"] for m in ann.messages() if m["author"] == "agent"] == ["Resetting it for you now."]
        assert http.get("/healthz").status_code == 200
    warnings = [
        rec.getMessage()
        for rec in caplog.records
        if rec.levelno >= logging.WARNING and "redis" in rec.getMessage().lower()
    ]
    assert warnings, "no warning about Redis being unreachable was logged"
