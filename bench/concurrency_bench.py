"""`firstline bench --concurrency 1,10,100`: query throughput and latency under concurrent users, with the
query encoder one-at-a-time vs. micro-batched (retrieval.batching). Last line: a JSON summary.

Each level runs the same real questions (StackFAQ dev set if present, else the sample set) through
`Retriever.answer` (encode + search + decide) from N threads at once, against the bundled sample KB's real
units; only the encoder differs between the two runs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np

from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
QUERY_FILES = [ROOT.parent / "shared" / "eval" / "stackfaq" / "queries.dev.jsonl", ROOT / "eval" / "sample.en.jsonl"]


def _queries(n: int) -> list[str]:
    from kb_ingest.evaluate import read_queries

    for path in QUERY_FILES:
        if path.exists():
            qs = [q.query for q in read_queries(path)]
            return [qs[i % len(qs)] for i in range(n)]
    raise FileNotFoundError("no query file found for the benchmark")


def _retriever(settings: Settings, embedder, units, vectors):
    from retrieval import Retriever
    from retrieval.decision import policy_for
    from retrieval.retriever import TITLE_LEAD

    r = Retriever(embedder, policy_for(settings.embedder), title_lead=TITLE_LEAD.get(settings.embedder))
    r.add_units(units, vectors)
    return r


def _run_level(retriever, queries: list[str], users: int) -> dict:
    latencies: list[float] = []
    lock = threading.Lock()
    nxt = iter(range(len(queries)))

    def user() -> None:
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                return
            t0 = time.perf_counter()
            retriever.answer(queries[i])
            dt = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(dt)

    threads = [threading.Thread(target=user) for _ in range(users)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    lat = np.array(latencies)
    return {
        "queries": len(queries),
        "qps": round(len(queries) / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p95_ms": round(float(np.percentile(lat, 95)), 1),
    }


def run(settings: Settings, levels: list[int], per_user: int = 4, min_queries: int = 200) -> dict:
    from api.runtime import get_embedder
    from bench.retrieval_bench import _sample_articles
    from kb_ingest.splitter import split_article
    from retrieval import Unit
    from retrieval.batching import BatchingEmbedder

    plain = get_embedder(settings.embedder, batch_queries=False)
    batched = BatchingEmbedder(plain)
    units = []
    for a in _sample_articles():
        for d in split_article(a.title, a.body):
            units.append(Unit(len(units) + 1, a.id, a.title, d.text, d.passage, d.kind))
    vectors = plain.encode_passages([u.text for u in units])
    engines = {
        "one-by-one": _retriever(settings, plain, units, vectors),
        "micro-batched": _retriever(settings, batched, units, vectors),
    }
    plain.encode_queries(["warm up"] * 32)
    print(
        f"Firstline concurrency bench: {plain.name}, {len(units)} units, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} (other work skews every figure)"
    )
    print(f"  {'users':>6} {'encoder':>14} {'queries':>8} {'q/s':>8} {'p50 ms':>9} {'p95 ms':>9}", flush=True)
    rows = []
    for users in levels:
        queries = _queries(max(min_queries, users * per_user))
        row = {"users": users}
        for label, retriever in engines.items():
            res = _run_level(retriever, queries, users)
            row[label] = res
            print(
                f"  {users:>6} {label:>14} {res['queries']:>8} {res['qps']:>8.1f} {res['p50_ms']:>9.1f} "
                f"{res['p95_ms']:>9.1f}",
                flush=True,
            )
        row["throughput_ratio"] = round(row["micro-batched"]["qps"] / row["one-by-one"]["qps"], 2)
        print(f"  {users:>6} {'ratio':>14} {row['throughput_ratio']:>17.2f}x", flush=True)
        rows.append(row)
    batched.close()
    summary = {
        "embedder": plain.name,
        "levels": rows,
        "ratio_at_max_users": rows[-1]["throughput_ratio"] if rows else None,
        "batches": batched.batches,
        "batched_queries": batched.encoded,
    }
    print(json.dumps(summary))
    return summary
