"""Reports for KB owners (agents): top unanswered questions clustered by similarity, articles with the most
"didn't help", and stale published articles the bot has not shown to anyone in N days."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import AgentDep, RuntimeDep, SessionDep
from kb_ingest import reports

router = APIRouter(prefix="/api/v1/kb/reports", tags=["knowledge base (agents)"])


def _iso(d):
    return d.isoformat() if d is not None else None


@router.get("/unanswered", summary="Top unanswered questions (low-confidence handoffs), clustered by similarity")
def unanswered(
    session: SessionDep,
    agent: AgentDep,
    rt: RuntimeDep,
    days: int = Query(90, ge=1, le=3650),
    threshold: float | None = Query(
        None, gt=0, le=1, description="similarity that makes two questions one (default: per embedder)"
    ),
    limit: int = Query(20, ge=1, le=200),
) -> list[dict]:
    rows = reports.unanswered_questions(session, rt.retriever.embedder, days=days, threshold=threshold, limit=limit)
    return [{**r, "last_asked": _iso(r["last_asked"])} for r in rows]


@router.get("/not-helped", summary='Articles users most often marked "didn\'t help"')
def not_helped(session: SessionDep, agent: AgentDep, limit: int = Query(20, ge=1, le=200)) -> list[dict]:
    return reports.not_helped_articles(session, limit=limit)


@router.get("/stale", summary="Published articles not offered to any user in N days (or never)")
def stale(
    session: SessionDep, agent: AgentDep, days: int = Query(90, ge=1, le=3650), limit: int = Query(100, ge=1, le=1000)
) -> list[dict]:
    return [
        {**r, "last_offered": _iso(r["last_offered"]), "updated_at": _iso(r["updated_at"])}
        for r in reports.stale_articles(session, days=days, limit=limit)
    ]


@router.get("", summary="All three KB owner reports at once")
def all_reports(
    session: SessionDep,
    agent: AgentDep,
    rt: RuntimeDep,
    days: int = Query(90, ge=1, le=3650),
    stale_days: int = Query(90, ge=1, le=3650),
    limit: int = Query(20, ge=1, le=200),
) -> dict:
    return {
        "unanswered": unanswered(session, agent, rt, days, None, limit),
        "not_helped": not_helped(session, agent, limit),
        "stale": stale(session, agent, stale_days, limit),
    }
