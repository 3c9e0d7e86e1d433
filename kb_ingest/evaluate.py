"""`firstline eval`: measure retrieval and the answer/handoff decision on a labelled query set."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from retrieval import RetrievalResult, Retriever


@dataclass(frozen=True)
class LabelledQuery:
    query: str
    relevant: tuple[str, ...]
    kind: str | None = None  # e.g. "ru-en", "short", "noisy", "out" (itdesk files carry it)
    lang: str | None = None  # the question's language


def read_queries(path: str | Path) -> list[LabelledQuery]:
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            out.append(
                LabelledQuery(
                    str(obj["query"]), tuple(obj.get("relevant") or ()), kind=obj.get("kind"), lang=obj.get("lang")
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a query line ({exc})") from exc
    return out


GROUP_METRICS = (
    "recall@1",
    "mrr@10",
    "deflection",
    "deflection_with_choices",
    "false_answer_rate",
    "out_of_kb_handoff",
)


def summarise(queries: list[LabelledQuery], results: list[RetrievalResult]) -> dict:
    """The overall figures, plus the same per `kind` and per `lang` when the query file carries them."""
    summary = _figures(queries, results)
    summary["calibration"] = calibration(queries, results)
    for field in ("kind", "lang"):
        values = sorted({getattr(q, field) for q in queries if getattr(q, field)})
        if values:
            summary[f"by_{field}"] = {
                v: {"queries": len(sub), **{m: f[m] for m in GROUP_METRICS if m in f}}
                for v in values
                for sub in [[(q, r) for q, r in zip(queries, results) if getattr(q, field) == v]]
                for f in [_figures([q for q, _ in sub], [r for _, r in sub], groups=True)]
            }
    return summary


def calibration(queries: list[LabelledQuery], results: list[RetrievalResult], bands: int = 5) -> list[dict]:
    """Reliability table: queries in bands of the best article's score (equal-sized bands), and per band how often
    that best article was right (an out-of-KB question has no right article), how often the bot answered, and how
    often its answers were right. The decision is well calibrated when answers come from bands that are right."""
    rows = sorted(zip(queries, results), key=lambda qr: qr[1].decision.confidence)
    out = []
    for b in range(bands):
        part = rows[len(rows) * b // bands : len(rows) * (b + 1) // bands]
        if not part:
            continue
        right = [bool(q.relevant) and r.best is not None and r.best.article_id in q.relevant for q, r in part]
        answered = [r.decision.action == "answer" for _, r in part]
        n_ans = sum(answered)
        out.append(
            {
                "score_from": round(part[0][1].decision.confidence, 4),
                "score_to": round(part[-1][1].decision.confidence, 4),
                "queries": len(part),
                "best_right": round(sum(right) / len(part), 3),
                "answered": round(n_ans / len(part), 3),
                "answers_right": round(sum(a and r for a, r in zip(answered, right)) / n_ans, 3) if n_ans else None,
            }
        )
    return out


def _figures(queries: list[LabelledQuery], results: list[RetrievalResult], groups: bool = False) -> dict:
    answerable = [(q, r) for q, r in zip(queries, results) if q.relevant]
    unanswerable = [(q, r) for q, r in zip(queries, results) if not q.relevant]

    def rank_of(q: LabelledQuery, r: RetrievalResult) -> int | None:
        for i, h in enumerate(r.hits[:10], 1):
            if h.article_id in q.relevant:
                return i
        return None

    ranks = [rank_of(q, r) for q, r in answerable]
    answered = [(q, r) for q, r in zip(queries, results) if r.decision.action == "answer"]
    correct = [1 for q, r in answered if q.relevant and r.hits and r.hits[0].article_id in q.relevant]
    # "Did you mean": a simulated user picks the right article when it is among the choices, else asks for a person
    # (so a choice is never a wrong answer; an out-of-KB question offered choices still ends with a person).
    offered = [(q, r) for q, r in zip(queries, results) if r.decision.action != "answer" and r.choices]
    picked = [1 for q, r in offered if any(h.article_id in q.relevant for h in r.choices)]
    lat = np.array([r.latency_ms for r in results]) if results else np.zeros(1)
    n = max(len(answerable), 1)
    if groups:  # a group of only answerable (or only out-of-KB) queries: report what it can measure
        figures = {"false_answer_rate": round((len(answered) - len(correct)) / max(len(answered), 1), 4)}
        if answerable:
            figures.update(
                {
                    "recall@1": round(sum(1 for k in ranks if k == 1) / n, 4),
                    "mrr@10": round(sum(1 / k for k in ranks if k) / n, 4),
                    "deflection": round(len(correct) / n, 4),
                    "deflection_with_choices": round((len(correct) + len(picked)) / n, 4),
                }
            )
        if unanswerable:
            figures["out_of_kb_handoff"] = round(
                sum(1 for _, r in unanswerable if r.decision.action == "handoff") / len(unanswerable), 4
            )
        return figures
    return {
        "queries": len(queries),
        "answerable": len(answerable),
        "out_of_kb": len(unanswerable),
        "recall@1": round(sum(1 for k in ranks if k == 1) / n, 4),
        "recall@3": round(sum(1 for k in ranks if k and k <= 3) / n, 4),
        "mrr@10": round(sum(1 / k for k in ranks if k) / n, 4),
        "deflection": round(len(correct) / n, 4),
        "deflection_with_choices": round((len(correct) + len(picked)) / n, 4),
        "choices_offered": round(len(offered) / max(len(queries), 1), 4),
        "out_of_kb_offered_choices": round(sum(1 for q, _ in offered if not q.relevant) / max(len(unanswerable), 1), 4),
        "false_answer_rate": round((len(answered) - len(correct)) / max(len(answered), 1), 4),
        "out_of_kb_handoff": round(
            sum(1 for _, r in unanswerable if r.decision.action == "handoff") / max(len(unanswerable), 1), 4
        ),
        "latency_p50_ms": round(float(np.percentile(lat, 50)), 2),
        "latency_p95_ms": round(float(np.percentile(lat, 95)), 2),
    }


def run_queries(
    retriever: Retriever,
    queries: Iterable[LabelledQuery],
    out_path: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[RetrievalResult]:
    results = []
    out = open(out_path, "w", encoding="utf-8") if out_path else None
    try:
        for q in queries:
            r = retriever.answer(q.query)  # the same path the bots use
            results.append(r)
            if out:
                out.write(
                    json.dumps(
                        {
                            "query": q.query,
                            "ranked": [h.article_id for h in r.hits[:10]],
                            "scores": [round(h.score, 4) for h in r.hits[:10]],
                            "decision": r.decision.action,
                            "choices": [h.article_id for h in r.choices],
                            "latency_ms": round(r.latency_ms, 2),
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
            if progress:
                progress(1)
    finally:
        if out:
            out.close()
    return results


def simulate_feedback(
    learner, sessions, queries: Iterable[LabelledQuery], progress: Callable[[int], None] | None = None
) -> dict:
    """Replay queries as users giving feedback, one conversation (and commit) at a time, through the same
    Learner calls the bot makes: a right first answer gets Helped (a learned phrasing); a wrong one gets
    Didn't help (a rejection of that article for the question), then an agent resolves the ticket with the
    right article; a handed-off answerable question is resolved by an agent the same way."""
    counts = {"helped": 0, "not_helped": 0, "resolved_by_agent": 0, "unanswered": 0}
    for q in queries:
        r = learner.retriever.answer(q.query)
        with sessions.begin() as s:
            top = r.best.article_id if r.best is not None else None
            if r.decision.action == "answer" and top in q.relevant:
                learner.record_feedback(s, top, helped=True, question=q.query, origin="eval:helped")
                counts["helped"] += 1
            else:
                if r.decision.action == "answer" and top is not None:
                    learner.record_feedback(s, top, helped=False, question=q.query, origin="eval:not_helped")
                    counts["not_helped"] += 1
                if q.relevant:
                    learner.learn_from_resolution(s, q.query, "", [q.relevant[0]], origin="eval", author="eval")
                    counts["resolved_by_agent"] += 1
                else:
                    counts["unanswered"] += 1
        if progress:
            progress(1)
    return counts
