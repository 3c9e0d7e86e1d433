"""The wiki side of the knowledge base, for agents: create / edit / publish / archive articles, revisions
with diffs, the review queue of drafts proposed from resolved tickets, and learned phrasings (undoable).

Drafts are open to every agent; whatever changes what the bot tells everyone — publishing, archiving, approving or
rejecting a draft, editing a published article — needs the KB-editor permission (managers have it)."""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from api.deps import AgentDep, KbEditorDep, RuntimeDep, SessionDep, require_kb_editor
from kb_ingest.learning import KBError, Learner, _slug
from kb_ingest.models import Article, ArticleRevision, ArticleUnit

router = APIRouter(prefix="/api/v1/kb", tags=["knowledge base (agents)"])
STATUSES = ("draft", "published", "archived")


class ArticleIn(BaseModel):
    id: str | None = Field(None, max_length=120, pattern=r"^[\w-]+$")
    title: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=100_000)
    tags: list[str] = Field(default_factory=list, max_length=30)
    lang: str = Field("en", max_length=8)
    status: str = Field("draft", pattern="^(draft|published)$")
    # Example questions users ask that this article answers: each is matched on its own (docs/retrieval.md).
    questions: list[str] = Field(default_factory=list, max_length=50)


class ArticleEdit(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=100_000)
    tags: list[str] | None = Field(None, max_length=30)
    lang: str | None = Field(None, max_length=8)
    questions: list[str] | None = Field(None, max_length=50, description="replaces the list; omitted: kept")


class ArticleOut(BaseModel):
    id: str
    title: str
    body: str
    tags: list[str]
    questions: list[str]
    lang: str
    status: str
    origin: str | None
    helped: int
    not_helped: int
    phrasings: int
    updated_at: datetime


class RevisionOut(BaseModel):
    id: int
    title: str
    author: str
    created_at: datetime


class DiffOut(BaseModel):
    article_id: str
    from_revision: int
    to_revision: int
    diff: str


class PhrasingOut(BaseModel):
    id: int
    # phrasing: the article answered this question; rejected: a user said it didn't help for it
    kind: Literal["phrasing", "rejected"] = "phrasing"
    text: str
    origin: str | None
    created_at: datetime | None


def _learner(rt) -> Learner:
    return rt.learner


def _out(session, art: Article) -> ArticleOut:
    n = session.scalar(
        select(func.count())
        .select_from(ArticleUnit)
        .where(ArticleUnit.article_id == art.id, ArticleUnit.kind == "phrasing")
    )
    return ArticleOut(
        id=art.id,
        title=art.title,
        body=art.body,
        tags=list(art.tags or []),
        questions=list(art.questions or []),
        lang=art.lang,
        status=art.status,
        origin=art.origin,
        helped=art.helped or 0,
        not_helped=art.not_helped or 0,
        phrasings=n or 0,
        updated_at=art.updated_at,
    )


def _questions(questions: list[str]) -> list[str]:
    cleaned = [" ".join(q.split()) for q in questions]
    if any(len(q) > 500 for q in cleaned):
        raise HTTPException(422, "a question is longer than 500 characters")
    return [q for q in dict.fromkeys(cleaned) if q]


def _get(session, article_id: str) -> Article:
    art = session.get(Article, article_id)
    if art is None:
        raise HTTPException(404, f"article {article_id!r} does not exist")
    return art


def _run(fn):
    try:
        return fn()
    except KBError as exc:
        raise HTTPException(exc.status_code, str(exc)) from exc


@router.get("/articles", response_model=list[ArticleOut], summary="Articles, by status (drafts = review queue)")
def list_articles(
    session: SessionDep,
    agent: AgentDep,
    status: str | None = Query(None, pattern="^(draft|published|archived)$"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[ArticleOut]:
    q = select(Article).order_by(Article.updated_at.desc()).limit(limit)
    if status:
        q = q.where(Article.status == status)
    return [_out(session, a) for a in session.scalars(q)]


@router.get("/drafts", response_model=list[ArticleOut], summary="The review queue: drafts proposed from tickets")
def list_drafts(session: SessionDep, agent: AgentDep) -> list[ArticleOut]:
    return list_articles(session, agent, "draft", 1000)


@router.post("/articles", response_model=ArticleOut, status_code=201, summary="Create an article")
def create_article(body: ArticleIn, rt: RuntimeDep, session: SessionDep, agent: AgentDep) -> ArticleOut:
    if body.status == "published":
        require_kb_editor(agent)
    article_id = body.id or _slug(body.title)
    art = _run(
        lambda: _learner(rt).save_article(
            session,
            article_id,
            body.title,
            body.body,
            f"agent:{agent.id}",
            tags=body.tags,
            lang=body.lang,
            status=body.status,
            create=True,
            questions=_questions(body.questions),
        )
    )
    session.commit()
    return _out(session, art)


@router.get("/articles/{article_id}", response_model=ArticleOut, summary="An article with its feedback counts")
def get_article(article_id: str, session: SessionDep, agent: AgentDep) -> ArticleOut:
    return _out(session, _get(session, article_id))


@router.put("/articles/{article_id}", response_model=ArticleOut, summary="Edit (writes a revision, re-indexes)")
def edit_article(
    article_id: str, body: ArticleEdit, rt: RuntimeDep, session: SessionDep, agent: AgentDep
) -> ArticleOut:
    if _get(session, article_id).status == "published":  # the bot serves it: the edit is a publication
        require_kb_editor(agent)
    art = _run(
        lambda: _learner(rt).save_article(
            session,
            article_id,
            body.title,
            body.body,
            f"agent:{agent.id}",
            tags=body.tags,
            lang=body.lang,
            questions=None if body.questions is None else _questions(body.questions),
        )
    )
    session.commit()
    return _out(session, art)


def _status(article_id: str, status: str, rt, session, agent, only_draft: bool = False) -> ArticleOut:
    if only_draft and _get(session, article_id).status != "draft":
        raise HTTPException(409, f"article {article_id!r} is not a draft waiting for review")
    art = _run(lambda: _learner(rt).set_status(session, article_id, status, f"agent:{agent.id}"))
    session.commit()
    return _out(session, art)


@router.post("/articles/{article_id}/publish", response_model=ArticleOut, summary="Publish: the bot answers with it")
def publish(article_id: str, rt: RuntimeDep, session: SessionDep, agent: KbEditorDep) -> ArticleOut:
    return _status(article_id, "published", rt, session, agent)


@router.post("/articles/{article_id}/archive", response_model=ArticleOut, summary="Archive: out of answers")
def archive(article_id: str, rt: RuntimeDep, session: SessionDep, agent: KbEditorDep) -> ArticleOut:
    return _status(article_id, "archived", rt, session, agent)


@router.post("/drafts/{article_id}/approve", response_model=ArticleOut, summary="Approve a draft (publishes it)")
def approve(article_id: str, rt: RuntimeDep, session: SessionDep, agent: KbEditorDep) -> ArticleOut:
    return _status(article_id, "published", rt, session, agent, only_draft=True)


@router.post("/drafts/{article_id}/reject", status_code=204, summary="Reject a draft (deletes it)")
def reject(article_id: str, rt: RuntimeDep, session: SessionDep, agent: KbEditorDep) -> None:
    _run(lambda: _learner(rt).reject_draft(session, article_id))
    session.commit()


@router.get("/articles/{article_id}/revisions", response_model=list[RevisionOut], summary="Revisions, newest first")
def revisions(article_id: str, session: SessionDep, agent: AgentDep) -> list[RevisionOut]:
    _get(session, article_id)
    rows = session.scalars(
        select(ArticleRevision).where(ArticleRevision.article_id == article_id).order_by(ArticleRevision.id.desc())
    )
    return [RevisionOut(id=r.id, title=r.title, author=r.author, created_at=r.created_at) for r in rows]


@router.get("/articles/{article_id}/diff", response_model=DiffOut, summary="Unified diff between two revisions")
def diff(
    article_id: str, session: SessionDep, agent: AgentDep, from_: int = Query(..., alias="from"), to: int = Query(...)
) -> DiffOut:
    revs = {
        r.id: r
        for r in session.scalars(
            select(ArticleRevision).where(ArticleRevision.article_id == article_id, ArticleRevision.id.in_((from_, to)))
        )
    }
    if from_ not in revs or to not in revs:
        raise HTTPException(404, f"article {article_id!r} has no revision {from_ if from_ not in revs else to}")
    a, b = revs[from_], revs[to]
    text = "".join(
        difflib.unified_diff(
            f"# {a.title}\n\n{a.body}\n".splitlines(keepends=True),
            f"# {b.title}\n\n{b.body}\n".splitlines(keepends=True),
            fromfile=f"{article_id}@{from_}",
            tofile=f"{article_id}@{to}",
        )
    )
    return DiffOut(article_id=article_id, from_revision=from_, to_revision=to, diff=text)


@router.get("/articles/{article_id}/phrasings", response_model=list[PhrasingOut], summary="Learned phrasings")
def phrasings(article_id: str, rt: RuntimeDep, session: SessionDep, agent: AgentDep) -> list[PhrasingOut]:
    _get(session, article_id)
    return [
        PhrasingOut(id=u.id, kind=u.kind, text=u.text, origin=u.origin, created_at=u.created_at)
        for u in _learner(rt).phrasings(session, article_id)
    ]


@router.delete("/articles/{article_id}/phrasings/{unit_id}", status_code=204, summary="Undo a learned phrasing")
def delete_phrasing(article_id: str, unit_id: int, rt: RuntimeDep, session: SessionDep, agent: AgentDep) -> None:
    _run(lambda: _learner(rt).delete_phrasing(session, article_id, unit_id))
    session.commit()
