"""Each process's retriever follows the KB in the database (several processes share one PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.orm import Session, sessionmaker

from core.relay import Relay
from kb_ingest.indexer import kb_version, sync_retriever
from retrieval import Retriever

log = logging.getLogger(__name__)


async def follow_kb(
    relay: Relay, read_sessions: sessionmaker[Session], retriever: Retriever, poll: float = 3.0
) -> None:
    """Keep this process's retriever in step with the KB in the database: on a "kb" event (any process)
    and every `poll` seconds, compare the KB version; when it moved, add/remove units incrementally from
    their stored vectors (kb_ingest.indexer.sync_retriever). The FAISS file is not written here: the process
    that made the change saves it, and a stale file is rebuilt from the DB vectors on start."""

    def version() -> int:
        with read_sessions() as s:
            return kb_version(s)

    try:
        seen = await asyncio.to_thread(version)
    except Exception:  # the DB is not reachable right now: sync at the first successful look
        seen = -1
    with relay.subscribe(lambda e: e.topic == "kb") as sub:
        while True:
            await sub.wait(poll)
            sub.clear()
            try:
                now = await asyncio.to_thread(version)
                if now != seen:
                    added, removed = await asyncio.to_thread(sync_retriever, read_sessions, retriever)
                    seen = now
                    if added or removed:
                        log.info("index follows KB version %d: +%d −%d units", now, added, removed)
            except asyncio.CancelledError:
                raise
            except Exception:  # the DB may be restarting: try again at the next event or poll
                log.exception("following the KB failed; retrying")
