"""Ingest articles into the store and the index: only what changed is re-encoded."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from kb_ingest.article import LoadError, ParsedArticle
from kb_ingest.indexer import bump_kb_version, save_index, to_unit, vector_bytes
from kb_ingest.loaders import load_paths
from kb_ingest.models import LEARNED_KINDS, Article, ArticleRevision, ArticleUnit
from kb_ingest.splitter import split_article
from retrieval import Retriever

ENCODE_CHUNK = 256  # units per encode call: big enough for full batches, small enough for a live progress bar


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[LoadError] = field(default_factory=list)
    units_encoded: int = 0
    encode_seconds: float = 0.0

    def summary(self) -> dict:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "deleted": len(self.deleted),
            "failed": len(self.failed),
            "units_encoded": self.units_encoded,
        }


def content_hash(art: ParsedArticle) -> str:
    # Questions join the hash only when there are some: articles without them keep the hash they always had.
    fields = [art.title, art.body, sorted(art.tags), art.lang] + ([art.questions] if art.questions else [])
    data = json.dumps(fields, ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


def store_article(
    session: Session,
    embedder_name: str,
    art: ParsedArticle,
    h: str,
    units: list,
    vectors: np.ndarray,
    *,
    author: str,
    status: str = "published",
    origin: str | None = None,
) -> tuple[list[int], list[tuple], bool]:
    """Write one article (new or changed) with its freshly encoded units and a revision, in `session`.

    The article's title/section units are replaced; its learned phrasings are kept (their passage follows
    the new opening). Returns (replaced unit ids, [(Unit, vector)] to index, whether the article is new).
    The caller commits, then updates the live index (only for published articles).
    """
    old_ids = list(
        session.scalars(
            select(ArticleUnit.id).where(ArticleUnit.article_id == art.id, ArticleUnit.kind.not_in(LEARNED_KINDS))
        )
    )
    session.execute(delete(ArticleUnit).where(ArticleUnit.article_id == art.id, ArticleUnit.kind.not_in(LEARNED_KINDS)))
    row = session.get(Article, art.id)
    added = row is None
    if row is None:
        row = Article(id=art.id, origin=origin)
        session.add(row)
    row.title, row.body, row.tags, row.lang = art.title, art.body, art.tags, art.lang
    row.questions = list(art.questions)
    row.source, row.content_hash, row.status = art.source, h, status
    session.add(ArticleRevision(article_id=art.id, title=art.title, body=art.body, author=author, content_hash=h))
    session.flush()
    new_rows = []
    for d, vec in zip(units, vectors):
        unit = ArticleUnit(
            article_id=art.id,
            kind=d.kind,
            position=d.position,
            text=d.text,
            passage=d.passage,
            embedder=embedder_name,
            vector=vector_bytes(vec),
        )
        session.add(unit)
        new_rows.append(unit)
    session.flush()
    opening = next((u.passage for u in new_rows if u.kind == "title"), None)
    phrasings = list(
        session.scalars(
            select(ArticleUnit).where(ArticleUnit.article_id == art.id, ArticleUnit.kind.in_(LEARNED_KINDS))
        )
    )
    for p in phrasings:  # learned phrasings stay with the article; shown passage follows the new opening
        if opening is not None:
            p.passage = opening
    session.flush()
    new = [(to_unit(u, art.title), np.asarray(vec, dtype=np.float32)) for u, vec in zip(new_rows, vectors)]
    new += [(to_unit(p, art.title), np.frombuffer(p.vector, dtype=np.float32)) for p in phrasings]
    return old_ids, new, added


def ingest_paths(
    factory: sessionmaker[Session],
    retriever: Retriever,
    paths: Iterable[str | Path],
    *,
    prune: bool = False,
    index_path: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Load, diff against the DB, encode changed articles' units, store them and update the index."""
    import time

    paths = [Path(p) for p in paths]
    report = IngestReport()
    parsed: list[ParsedArticle] = []
    for item in load_paths(paths):
        (report.failed if isinstance(item, LoadError) else parsed).append(item)

    with factory() as session:
        existing = {a.id: a for a in session.scalars(select(Article))}
    changed: list[tuple[ParsedArticle, str]] = []
    for art in parsed:
        h = content_hash(art)
        old = existing.get(art.id)
        if old is not None and old.content_hash == h and old.status == "published":
            report.unchanged.append(art.id)
        else:
            changed.append((art, h))

    # Encode every changed article's units in large batches: this is where ingest spends its time.
    drafts = [(art, h, split_article(art.title, art.body, art.questions)) for art, h in changed]
    texts = [d.text for _, _, units in drafts for d in units]
    vectors = np.zeros((0, retriever.embedder.dim), dtype=np.float32)
    if texts:
        started = time.perf_counter()
        # Longest first across the whole run, so each batch pads to similar lengths.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.zeros((len(texts), retriever.embedder.dim), dtype=np.float32)
        for i in range(0, len(order), ENCODE_CHUNK):
            idx = order[i : i + ENCODE_CHUNK]
            vectors[idx] = retriever.embedder.encode_passages([texts[j] for j in idx])
            if progress:
                progress(min(i + ENCODE_CHUNK, len(texts)), len(texts))
        report.encode_seconds = time.perf_counter() - started
        report.units_encoded = len(texts)

    touched_units: list[tuple[list[int], list]] = []
    seen_ids = {a.id for a in parsed}
    with factory() as session, session.begin():
        offset = 0
        for art, h, units in drafts:
            old_ids, new, added = store_article(
                session,
                retriever.embedder.name,
                art,
                h,
                units,
                vectors[offset : offset + len(units)],
                author=f"ingest:{art.source}",
            )
            offset += len(units)
            (report.added if added else report.updated).append(art.id)
            touched_units.append((old_ids, new))
        removed_ids: list[int] = []
        if prune:
            roots = [p.resolve() for p in paths]
            # A file that is still there but failed to load (a typo in its front matter) is not gone:
            # its article stays until the file is fixed or removed.
            still_there = {Path(f.source).resolve() for f in report.failed if os.path.lexists(f.source)}
            for art_id, old in existing.items():
                if art_id in seen_ids or not old.source:
                    continue
                src = Path(old.source).resolve()
                if src in still_there:
                    continue
                if any(src == r or r in src.parents for r in roots):
                    removed_ids += list(session.scalars(select(ArticleUnit.id).where(ArticleUnit.article_id == art_id)))
                    session.execute(delete(ArticleUnit).where(ArticleUnit.article_id == art_id))
                    session.execute(delete(ArticleRevision).where(ArticleRevision.article_id == art_id))
                    session.execute(delete(Article).where(Article.id == art_id))
                    report.deleted.append(art_id)
        if changed or report.deleted:
            bump_kb_version(session)

    # The DB has committed; now the live index follows (it can always be rebuilt from the DB).
    for old_ids, new in touched_units:
        retriever.remove_units(old_ids)
        if new:
            retriever.add_units([u for u, _ in new], np.vstack([v for _, v in new]))
    retriever.remove_units(removed_ids)
    if changed or report.deleted:
        save_index(factory, retriever, index_path)
    return report


def article_tags(session: Session, article_ids: list[str]) -> set[str]:
    """The tags of these articles together (ticket routing suggests a category from them)."""
    if not article_ids:
        return set()
    return {
        str(tag)
        for tags in session.scalars(select(Article.tags).where(Article.id.in_(article_ids)))
        for tag in (tags or [])
    }


def popular_articles(session: Session, lang: str, limit: int = 4) -> list[Article]:
    """What the chat's greeting offers as quick topics: the published articles that helped most, in the user's
    language first (a KB in the other language only fills the rest)."""
    rows = list(
        session.scalars(
            select(Article).where(Article.status == "published").order_by(Article.helped.desc(), Article.title)
        )
    )
    return ([a for a in rows if a.lang == lang] + [a for a in rows if a.lang != lang])[:limit]


SAMPLE_KB = Path(__file__).resolve().parent / "sample_kb"
SAMPLE_REMOVED = "sample_kb_removed"  # an article id prefix is not enough: the marker is a revision author


def remove_sample(session: Session) -> list[str]:
    """Archive the bundled sample articles (ingested from kb_ingest/sample_kb on a first start): the bot stops
    answering with them, their history stays, and an otherwise empty KB is not filled with them again."""
    root = str(SAMPLE_KB)
    removed: list[str] = []
    for art in session.scalars(select(Article).where(Article.status != "archived")):
        if art.source and Path(art.source).resolve().is_relative_to(root):
            art.status = "archived"
            session.add(
                ArticleRevision(
                    article_id=art.id,
                    title=art.title,
                    body=art.body,
                    author=SAMPLE_REMOVED,
                    content_hash=art.content_hash,
                )
            )
            removed.append(art.id)
    if removed:
        bump_kb_version(session)  # every process's index follows (kb_ingest.follower); a start rebuilds from the DB
    session.flush()
    return removed


def sample_removed(session: Session) -> bool:
    return (
        session.scalar(select(ArticleRevision.id).where(ArticleRevision.author == SAMPLE_REMOVED).limit(1)) is not None
    )
