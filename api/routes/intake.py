"""Intake by agents: register a phone call as a ticket, with KB suggestions for the call in progress."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import AgentDep, RuntimeDep, SessionDep
from api.routes.tickets import ticket_out
from api.schemas import TicketOut
from tickets.intake import register_call

router = APIRouter(prefix="/api/v1", tags=["intake"])


class CallIn(BaseModel):
    caller: str = Field(min_length=1, max_length=200, description="who called (name, department)")
    callback_number: str = Field("", max_length=40)
    summary: str = Field(min_length=1, max_length=4000, description="what the caller needs, in their words")
    lang: Literal["en", "ru"] = "en"
    priority: Literal["low", "normal", "high", "critical"] | None = None


class Suggestion(BaseModel):
    article_id: str
    title: str
    score: float
    passage: str


class CallOut(BaseModel):
    ticket: TicketOut
    suggestions: list[Suggestion]


@router.post("/calls", response_model=CallOut, status_code=201, summary="Register a phone call as a ticket")
async def register(body: CallIn, rt: RuntimeDep, session: SessionDep, agent: AgentDep) -> CallOut:
    # KB search first (encoding must not run inside the write transaction): what might solve it during the call.
    hits = await run_in_threadpool(rt.retriever.search, body.summary, 3)

    def write():
        ticket, _ = register_call(
            session,
            agent,
            caller=body.caller,
            callback_number=body.callback_number,
            summary=body.summary,
            lang=body.lang,
            priority=body.priority,
        )
        session.commit()
        return ticket_out(ticket)

    out = await run_in_threadpool(write)
    return CallOut(
        ticket=out,
        suggestions=[
            Suggestion(article_id=h.article_id, title=h.title, score=round(h.score, 4), passage=h.passage) for h in hits
        ],
    )
