"""Reports for KB owners on a small hand-built history: unanswered questions clustered by similarity,
articles most often marked "didn't help", and stale published articles — numbers checked exactly, on
SQLite and PostgreSQL, as functions and through the agents' API."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from kb_ingest import reports
from kb_ingest.models import Article
from tests.support.live import make_agent, running_app
from tickets.models import Conversation, Message, Ticket

NOW = datetime.now(timezone.utc).replace(microsecond=0)
PRINTER = [
    "how do I install a printer on my laptop",
    "how to install the printer on my laptop",
    "how can I add a printer to my laptop",
]
MONITOR = ["my monitor keeps flickering", "the monitor is flickering"]


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def build_history(factory) -> dict:
    """Articles with feedback counts, bot answers offering some of them, and handed-off questions."""
    ids: dict = {"tickets": {}}
    with factory() as s, s.begin():

        def art(id_, status="published", helped=0, not_helped=0):
            s.add(
                Article(
                    id=id_,
                    title=f"Article {id_}",
                    body="text",
                    tags=[],
                    lang="en",
                    status=status,
                    content_hash="x",
                    helped=helped,
                    not_helped=not_helped,
                    updated_at=ago(400),
                )
            )

        art("fresh", helped=5, not_helped=1)  # offered 10 days ago
        art("old-shown", helped=1, not_helped=3)  # last offered 150 days ago
        art("never-shown")  # never offered
        art("draft-bad", status="draft", not_helped=2)
        art("archived", status="archived")  # never offered, but not published: not stale
        s.flush()

        n = 0

        def conv(question, at, reason="low_confidence", ticket=True, ticket_reason=None):
            nonlocal n
            n += 1
            c = Conversation(
                channel="web",
                user_ref=f"u{n}",
                thread_ref="",
                handoff_reason=reason,
                last_question=question,
                created_at=at,
                closed_at=at,
            )
            s.add(c)
            s.flush()
            if ticket:
                t = Ticket(
                    conversation_id=c.id,
                    requester=f"u{n}",
                    channel="web",
                    subject=question[:50],
                    question=question,
                    handoff_reason=ticket_reason or reason,
                    created_at=at,
                )
                s.add(t)
                s.flush()
                ids["tickets"][question] = t.id
            return c

        # Bot answers: which article was offered, when. A user message quoting an article does not count.
        c0 = conv("unrelated chat", ago(1), reason=None, ticket=False)
        for article_id, days in (("fresh", 10), ("old-shown", 200), ("old-shown", 150), ("archived", 300)):
            s.add(
                Message(
                    conversation_id=c0.id,
                    channel="web",
                    author="bot",
                    text="Try this",
                    payload={"kind": "answer", "article": {"id": article_id, "title": "t"}},
                    created_at=ago(days),
                )
            )
        s.add(
            Message(
                conversation_id=c0.id,
                channel="web",
                author="user",
                text="x",
                payload={"article": {"id": "never-shown"}},
                created_at=ago(1),
            )
        )
        s.add(
            Message(
                conversation_id=c0.id,
                channel="web",
                author="bot",
                text="Hi",
                payload={"kind": "info"},
                created_at=ago(1),
            )
        )

        # Unanswered: three printer phrasings (one without a ticket: the conversation's last question), two
        # monitor ones, one business-cards; excluded: a user_request handoff and one older than the window.
        conv(PRINTER[0], ago(5))
        conv(PRINTER[1], ago(4), ticket=False)
        conv(PRINTER[2], ago(3))
        conv(MONITOR[0], ago(6))
        conv(MONITOR[1], ago(2))
        conv("where can I order business cards", ago(7))
        conv("I want to talk to a person about my printer install", ago(2), reason="user_request")
        conv("how do I install a printer on my laptop please", ago(60))
    return ids


def test_reports_numbers(sessions, embedder):
    ids = build_history(sessions)
    with sessions() as s:
        clusters = reports.unanswered_questions(s, embedder, days=30)
        assert [c["count"] for c in clusters] == [3, 2, 1]
        printer, monitor, cards = clusters
        assert printer["question"] in PRINTER and sorted(printer["examples"]) == sorted(PRINTER)
        assert printer["examples"][0] == PRINTER[2]  # newest first
        assert printer["tickets"] == sorted([ids["tickets"][PRINTER[0]], ids["tickets"][PRINTER[2]]])
        assert sorted(monitor["examples"]) == sorted(MONITOR) and monitor["last_asked"] == ago(2)
        assert cards["examples"] == ["where can I order business cards"]
        # A wider window takes in the 60-day-old printer question too.
        wide = reports.unanswered_questions(s, embedder, days=90)
        assert [c["count"] for c in wide] == [4, 2, 1]
        # A strict threshold splits paraphrases apart.
        assert len(reports.unanswered_questions(s, embedder, days=30, threshold=0.999)) == 6

        assert reports.not_helped_articles(s) == [
            {
                "id": "old-shown",
                "title": "Article old-shown",
                "status": "published",
                "helped": 1,
                "not_helped": 3,
                "ratio": 0.75,
            },
            {
                "id": "draft-bad",
                "title": "Article draft-bad",
                "status": "draft",
                "helped": 0,
                "not_helped": 2,
                "ratio": 1.0,
            },
            {
                "id": "fresh",
                "title": "Article fresh",
                "status": "published",
                "helped": 5,
                "not_helped": 1,
                "ratio": 0.167,
            },
        ]

        assert reports.last_offered(s) == {"fresh": ago(10), "old-shown": ago(150), "archived": ago(300)}
        stale = reports.stale_articles(s, days=90, now=NOW)
        assert [(r["id"], r["last_offered"]) for r in stale] == [("never-shown", None), ("old-shown", ago(150))]
        assert [r["id"] for r in reports.stale_articles(s, days=5, now=NOW)] == ["never-shown", "old-shown", "fresh"]
        assert [r["id"] for r in reports.stale_articles(s, days=200, now=NOW)] == ["never-shown"]


@pytest.fixture(scope="module")
def app(module_db_url, tmp_path_factory, embedder):
    with running_app(module_db_url, tmp_path_factory.mktemp("data")) as (base, runtime):
        yield base, runtime


def test_reports_api(app):
    base, runtime = app
    with runtime.sessions() as s, s.begin():  # the app loads a sample KB: start from an empty one
        for a in s.query(Article).all():
            s.delete(a)
    build_history(runtime.sessions)
    agent = make_agent(runtime, "kb-owner")
    with httpx.Client(base_url=base, timeout=60) as http:
        assert http.get("/api/v1/kb/reports").status_code == 401
        r = http.get("/api/v1/kb/reports", params={"days": 30}, headers=agent)
        assert r.status_code == 200, r.text
        body = r.json()
        assert [c["count"] for c in body["unanswered"]] == [3, 2, 1]
        assert [(a["id"], a["not_helped"], a["ratio"]) for a in body["not_helped"]] == [
            ("old-shown", 3, 0.75),
            ("draft-bad", 2, 1.0),
            ("fresh", 1, 0.167),
        ]
        assert [(a["id"], a["last_offered"] is None) for a in body["stale"]] == [
            ("never-shown", True),
            ("old-shown", False),
        ]
        stale = http.get("/api/v1/kb/reports/stale", params={"days": 5}, headers=agent).json()
        assert [a["id"] for a in stale] == ["never-shown", "old-shown", "fresh"]
        assert len(http.get("/api/v1/kb/reports/unanswered", params={"days": 90}, headers=agent).json()) == 3
        assert (
            http.get("/api/v1/kb/reports/not-helped", params={"limit": 1}, headers=agent).json()[0]["id"] == "old-shown"
        )
