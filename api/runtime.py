"""Build the long-lived parts (DB, embedder, retriever) from settings, once per process."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from core import migrate
from core.db import make_engine, make_read_session_factory, make_session_factory, transaction
from core.relay import Watch
from core.settings import Settings
from kb_ingest.indexer import load_retriever
from kb_ingest.learning import MATCH_SCORE, MATCH_SCORES, Learner
from kb_ingest.models import Article, KBState
from kb_ingest.service import SAMPLE_KB, ingest_paths
from retrieval import Retriever, make_embedder
from retrieval.batching import BatchingEmbedder
from retrieval.decision import policy_for
from retrieval.retriever import PHRASING_MIN_SCORE, REJECTED_PENALTIES, REJECTED_PENALTY, TITLE_LEAD
from tickets import sla
from tickets.models import Message, OutboxItem, Ticket
from tickets.sla_clock import parse_dates

log = logging.getLogger(__name__)
# What wakes whom (core.relay): a new message wakes its conversation's streams, a ticket change the console, a
# queued outbox item the dispatcher, a KB version bump every process's retriever.
RELAY_WATCHES = (
    Watch(Message, "message", key=lambda m: m.conversation_id),
    Watch(Ticket, "ticket", key=lambda t: t.id, changed=True, bulk=True),
    Watch(OutboxItem, "outbox"),  # only new items: a delivered one must not wake the dispatcher
    Watch(KBState, "kb", inserted=False, changed=True, bulk=True),
)

_embedders: dict[str, object] = {}


def get_embedder(spec: str, batch_queries: bool = True, glossary: Path | None = None):
    """Models take seconds to load: one instance per process and spec. Query encodings from concurrent
    requests are micro-batched (retrieval.batching) unless `batch_queries` is off."""
    key = f"{spec}|{glossary}|{'batched' if batch_queries else 'plain'}"
    if key not in _embedders:
        plain_key = f"{spec}|{glossary}|plain"
        if plain_key not in _embedders:
            _embedders[plain_key] = make_embedder(spec, glossary)
        if batch_queries:
            _embedders[key] = BatchingEmbedder(_embedders[plain_key])
    return _embedders[key]


def build_retriever(settings: Settings) -> Retriever:
    policy = policy_for(
        settings.embedder,
        min_score=settings.answer_min_score,
        min_margin=settings.answer_min_margin,
        sure_score=settings.answer_sure_score,
    )
    return Retriever(
        get_embedder(settings.embedder, settings.batch_queries, settings.glossary),
        policy,
        hnsw_threshold=settings.hnsw_threshold,
        keyword_weight=settings.keyword_weight,
        phrasing_min_score=settings.phrasing_min_score
        if settings.phrasing_min_score is not None
        else PHRASING_MIN_SCORE.get(settings.embedder, 0.9),
        title_lead=TITLE_LEAD.get(settings.embedder),
        rejected_penalty=REJECTED_PENALTIES.get(settings.embedder, REJECTED_PENALTY),
    )


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    retriever: Retriever
    read_sessions: sessionmaker[Session]
    learner: Learner | None = None

    def close(self) -> None:
        self.engine.dispose()


def open_database(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    migrate.upgrade(engine)
    return engine, make_session_factory(engine)


def build_runtime(settings: Settings, *, load_sample: bool | None = None) -> Runtime:
    # The SLA calendar first: a bad FIRSTLINE_BUSINESS_HOURS/TIMEZONE/HOLIDAYS stops the start with its reason.
    sla.configure(settings.timezone, settings.business_hours, parse_dates(settings.holidays))
    engine, sessions = open_database(settings)
    with transaction(sessions) as s:
        sla.ensure_default_policies(s)
    retriever = build_retriever(settings)
    how = load_retriever(sessions, retriever, settings.index_path)
    log.info("index loaded (%s): %d units", how, len(retriever.index))
    if load_sample if load_sample is not None else settings.load_sample_kb:
        with sessions() as s:
            empty = s.scalar(select(func.count()).select_from(Article)) == 0
        if empty and SAMPLE_KB.is_dir():  # a first start (`firstline kb remove-sample` archives them later)
            report = ingest_paths(sessions, retriever, [SAMPLE_KB], index_path=settings.index_path)
            log.info("sample KB ingested: %s", report.summary())
    learner = Learner(
        sessions,
        retriever,
        settings.index_path,
        auto_publish=settings.auto_publish_resolutions,
        match_score=MATCH_SCORES.get(settings.embedder, MATCH_SCORE),
    )
    return Runtime(settings, engine, sessions, retriever, make_read_session_factory(engine), learner)
