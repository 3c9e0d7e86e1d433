"""Knowledge-base reading: the article page users are linked to, and semantic search for agents."""

from __future__ import annotations

import html

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse
from markdown_it import MarkdownIt
from pydantic import BaseModel

from api.deps import AgentDep, RuntimeDep, SessionDep
from kb_ingest.models import Article

router = APIRouter(tags=["knowledge base"])
_md = MarkdownIt("commonmark", {"html": False})  # article HTML is escaped, never passed through


class HitOut(BaseModel):
    article_id: str
    title: str
    score: float
    passage: str


class SearchOut(BaseModel):
    query: str
    decision: str
    confidence: float
    hits: list[HitOut]


@router.get("/kb/{article_id}", response_class=HTMLResponse, summary="An article, as a page")
def article_page(article_id: str, session: SessionDep) -> HTMLResponse:
    art = session.get(Article, article_id)
    if art is None or art.status != "published":
        raise HTTPException(404, f"article {article_id!r} does not exist")
    body = _md.render(art.body)
    return HTMLResponse(
        f"<!doctype html><html lang='{html.escape(art.lang)}'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(art.title)}</title>"
        "<link rel='stylesheet' href='/static/style.css'></head>"
        f"<body><main class='article'><p><a href='/'>← Firstline</a></p><h1>{html.escape(art.title)}</h1>"
        f"{body}</main></body></html>"
    )


@router.get("/api/v1/kb/search", response_model=SearchOut, summary="Semantic search (for agents)")
def search(
    rt: RuntimeDep, agent: AgentDep, q: str = Query(min_length=1, max_length=4000), k: int = Query(5, ge=1, le=20)
):
    res = rt.retriever.answer(q, k=k)
    return SearchOut(
        query=q,
        decision=res.decision.action,
        confidence=round(res.decision.confidence, 4),
        hits=[
            HitOut(article_id=h.article_id, title=h.title, score=round(h.score, 4), passage=h.passage) for h in res.hits
        ],
    )
