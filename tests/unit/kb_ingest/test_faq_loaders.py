"""CSV and JSON FAQ files (question, answer): one article per row, bad rows reported, and ingested
articles answer rephrased questions."""

from __future__ import annotations

from pathlib import Path

from kb_ingest.article import LoadError, ParsedArticle
from kb_ingest.loaders import load_paths
from kb_ingest.service import ingest_paths
from retrieval import Retriever
from tests.support.paths import DATA

FAQ = DATA / "faq"


def test_faq_rows_become_articles_and_bad_rows_are_reported():
    items = list(load_paths([FAQ]))
    arts = {a.id: a for a in items if isinstance(a, ParsedArticle)}
    errors = [e for e in items if isinstance(e, LoadError)]
    assert len(arts) == 4
    room = next(a for a in arts.values() if a.title == "How do I book a meeting room?")
    assert room.id == "helpdesk-faq-how-do-i-book-a-meeting-room" and room.tags == ["rooms", "outlook"]
    assert "Rooms tab" in room.body and room.source.endswith("helpdesk-faq.csv")
    assert arts["travel-roaming"].tags == ["phone", "travel"] and "roaming" in arts["travel-roaming"].body
    assert len(errors) == 1 and "entry 4" in errors[0].reason and "answer" in errors[0].reason


def test_malformed_faq_files(tmp_path):
    (tmp_path / "a.json").write_text('{"faq": 3}')
    (tmp_path / "b.json").write_text('[{"question": "q"')
    (tmp_path / "c.csv").write_text("title,body\nx,y\n")
    errors = {Path(e.source).name: e.reason for e in load_paths([tmp_path]) if isinstance(e, LoadError)}
    assert "list of" in errors["a.json"] and "not valid JSON" in errors["b.json"]
    assert "question and an answer" in errors["c.csv"]


def test_ingested_faq_answers(sessions, embedder):
    retriever = Retriever(embedder)
    report = ingest_paths(sessions, retriever, [FAQ])
    assert len(report.added) == 4 and len(report.failed) == 1
    hit = retriever.answer("where can I get a headset").best
    assert hit.title == "Where do I pick up a new headset?" and "IT counter" in hit.passage
    assert retriever.answer("is roaming on for my work phone when I travel?").best.article_id == "travel-roaming"
