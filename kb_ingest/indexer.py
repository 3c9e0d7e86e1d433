"""Keep the in-memory retriever and its FAISS file in step with the article units in the database."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from kb_ingest.models import Article, ArticleUnit, KBState
from retrieval import Retriever, Unit, VectorIndex
from retrieval.index import IndexCorrupt

log = logging.getLogger(__name__)


def to_unit(row: ArticleUnit, title: str) -> Unit:
    return Unit(row.id, row.article_id, title, row.text, row.passage, row.kind)


def vector_bytes(vec: np.ndarray) -> bytes:
    return np.asarray(vec, dtype=np.float32).tobytes()


def bump_kb_version(session: Session) -> int:
    state = session.get(KBState, 1)
    if state is None:
        state = KBState(id=1, version=0)
        session.add(state)
        session.flush()
    session.execute(update(KBState).where(KBState.id == 1).values(version=KBState.version + 1))
    session.flush()
    session.refresh(state)
    return state.version


def kb_version(session: Session) -> int:
    state = session.get(KBState, 1)
    return state.version if state else 0


def load_retriever(factory: sessionmaker[Session], retriever: Retriever, index_path: Path | None) -> str:
    """Fill `retriever` from the DB; reuse the FAISS file when it matches, else rebuild it.

    Returns how it was loaded: "file", "rebuilt" or "empty".
    """
    name = retriever.embedder.name
    with factory() as session:
        version = kb_version(session)
        rows = session.execute(
            select(ArticleUnit, Article.title)
            .join(Article, Article.id == ArticleUnit.article_id)
            .where(Article.status == "published")
            .order_by(ArticleUnit.id)
        ).all()
        stale = [u for u, _ in rows if u.embedder != name]
        if stale:
            # Units embedded by another model (the embedder setting changed): re-encode and store.
            log.info("re-encoding %d units for embedder %s", len(stale), name)
            vecs = retriever.embedder.encode_passages([u.text for u in stale])
            for unit, vec in zip(stale, vecs):
                unit.embedder, unit.vector = name, vector_bytes(vec)
            session.commit()
    units = [to_unit(u, title) for u, title in rows]
    if not units:
        retriever.clear()
        return "empty"
    meta_wanted = {"kb_version": version, "embedder": name, "count": len(units)}
    if index_path is not None and index_path.exists():
        try:
            index, meta = VectorIndex.load(index_path, hnsw_threshold=retriever.index.hnsw_threshold)
            if meta == meta_wanted and set(index.ids().tolist()) == {u.id for u in units}:
                retriever.set_index(index, units)
                return "file"
            log.info("index file %s is stale (%s != %s): rebuilding", index_path, meta, meta_wanted)
        except IndexCorrupt as exc:
            log.warning("%s: rebuilding the index from the database", exc)
    vectors = np.vstack([np.frombuffer(u.vector, dtype=np.float32) for u, _ in rows])
    retriever.clear()
    retriever.add_units(units, vectors)
    if index_path is not None:
        retriever.index.save(index_path, meta_wanted)
    return "rebuilt"


def save_index(factory: sessionmaker[Session], retriever: Retriever, index_path: Path | None) -> None:
    if index_path is None:
        return
    with factory() as session:
        version = kb_version(session)
    meta = {"kb_version": version, "embedder": retriever.embedder.name, "count": len(retriever.index)}
    retriever.index.save(index_path, meta)


def sync_retriever(factory: sessionmaker[Session], retriever: Retriever, chunk: int = 500) -> tuple[int, int]:
    """Bring `retriever` in line with the published units in the DB, incrementally: add the missing ones from
    their stored vectors (no re-encoding), drop the ones gone. For processes that did not make the change
    (another process published, edited or archived). Returns (added, removed).

    The index's ids are read before the DB, so a unit this process adds meanwhile (after its own commit) is
    never taken for a removed one; any remaining race leaves a difference that the next version bump's sync
    corrects."""
    name = retriever.embedder.name
    with retriever._lock:
        have = {i: (u.text, u.passage, u.title) for i, u in retriever.units.items()}
    with factory() as session:
        wanted = {
            i: (text, passage, title)
            for i, text, passage, title in session.execute(
                select(ArticleUnit.id, ArticleUnit.text, ArticleUnit.passage, Article.title)
                .join(Article, Article.id == ArticleUnit.article_id)
                .where(Article.status == "published", ArticleUnit.embedder == name)
            )
        }
        # Missing, or the same id with other content (SQLite may reuse the ids of deleted rows; a new title).
        stale = sorted(i for i, v in wanted.items() if have.get(i) != v)
        rows = []
        for i in range(0, len(stale), chunk):
            rows += session.execute(
                select(ArticleUnit, Article.title)
                .join(Article, Article.id == ArticleUnit.article_id)
                .where(ArticleUnit.id.in_(stale[i : i + chunk]))
            ).all()
    gone = set(have) - set(wanted)
    if gone:
        retriever.remove_units(gone)
    if rows:  # add_units replaces a unit with the same id
        retriever.add_units(
            [to_unit(u, title) for u, title in rows],
            np.vstack([np.frombuffer(u.vector, dtype=np.float32) for u, _ in rows]),
        )
    return len(rows), len(gone)
