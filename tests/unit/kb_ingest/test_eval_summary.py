"""`firstline eval` reports the same figures per query kind and language when the query file carries them."""

from __future__ import annotations

import json

from kb_ingest.evaluate import read_queries, summarise
from retrieval import ArticleHit, RetrievalResult
from retrieval.decision import Decision


def result(top: str, action: str) -> RetrievalResult:
    hits = [ArticleHit(top, top, 0.9, "", 1), ArticleHit("other", "other", 0.5, "", 2)]
    return RetrievalResult("q", hits, Decision(action, 0.9, "confident"))


def test_figures_per_kind_and_language(tmp_path):
    lines = [
        {"query": "vpn drops", "relevant": ["vpn"], "lang": "en", "kind": "en-en"},
        {"query": "впн отваливается", "relevant": ["vpn"], "lang": "ru", "kind": "ru-en"},
        {"query": "принтер", "relevant": ["printer"], "lang": "ru", "kind": "short"},
        {"query": "погода", "relevant": [], "lang": "ru", "kind": "out"},
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    queries = read_queries(path)
    results = [
        result("vpn", "answer"),
        result("printer", "answer"),
        result("printer", "handoff"),
        result("vpn", "answer"),
    ]
    s = summarise(queries, results)
    assert s["recall@1"] == round(2 / 3, 4) and s["out_of_kb_handoff"] == 0.0
    assert s["by_kind"]["en-en"] == {
        "queries": 1,
        "recall@1": 1.0,
        "mrr@10": 1.0,
        "deflection": 1.0,
        "deflection_with_choices": 1.0,
        "false_answer_rate": 0.0,
    }
    assert s["by_kind"]["ru-en"]["recall@1"] == 0.0 and s["by_kind"]["ru-en"]["false_answer_rate"] == 1.0
    assert s["by_kind"]["short"]["deflection"] == 0.0  # right article, but handed off
    assert s["by_kind"]["out"] == {"queries": 1, "false_answer_rate": 1.0, "out_of_kb_handoff": 0.0}
    assert s["by_lang"]["ru"]["queries"] == 3 and s["by_lang"]["en"]["recall@1"] == 1.0


def test_files_without_kinds_keep_the_flat_summary(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"query": "vpn", "relevant": ["vpn"]}), encoding="utf-8")
    s = summarise(read_queries(path), [result("vpn", "answer")])
    assert "by_kind" not in s and "by_lang" not in s and s["deflection"] == 1.0


def test_choices_count_apart_from_first_answers(tmp_path):
    """ "Did you mean": a simulated user picks the right article when it is offered, else asks for a person — counted
    in deflection_with_choices, never in first-answer deflection, and never as a wrong answer."""
    lines = [
        {"query": "vpn drops", "relevant": ["vpn"]},
        {"query": "printer", "relevant": ["printer"]},
        {"query": "wifi", "relevant": ["wifi"]},
        {"query": "weather", "relevant": []},
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")

    def offered(*ids: str) -> RetrievalResult:
        hits = [ArticleHit(a, a, 0.88, "", n) for n, a in enumerate(ids)]
        return RetrievalResult("q", hits, Decision("handoff", 0.88, "ambiguous"), choices=hits)

    s = summarise(
        read_queries(path),
        [result("vpn", "answer"), offered("other", "printer"), offered("a", "b"), offered("vpn", "printer")],
    )
    assert s["deflection"] == round(1 / 3, 4) and s["deflection_with_choices"] == round(2 / 3, 4)
    assert s["false_answer_rate"] == 0.0 and s["out_of_kb_handoff"] == 1.0
    assert s["choices_offered"] == 0.75 and s["out_of_kb_offered_choices"] == 1.0
    assert [row["queries"] for row in s["calibration"]] == [1, 1, 1, 1] and s["calibration"][-1]["answered"] == 1.0
