"""Request and response bodies of the public API."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ChatIn(BaseModel):
    user: str = Field(min_length=1, max_length=200, description="The web-chat user's identity")
    text: str = Field("", description="The message; up to the configured limit (4,000 characters)")
    action: Literal["helped", "not_helped", "human"] | None = None
    client_msg_id: str | None = Field(None, max_length=200, description="Idempotency key: a retry is processed once")
    locale: str | None = Field(None, max_length=20)


class ReplyOut(BaseModel):
    id: int
    text: str
    kind: str
    article: dict | None = None
    actions: list[str] = []


class ChatOut(BaseModel):
    conversation_id: int
    state: str
    lang: str
    ticket: int | None
    replies: list[ReplyOut]
    duplicate: bool = False
    user_token: str


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    author: str
    text: str
    kind: str | None = None
    article: dict | None = None
    actions: list[str] = []
    agent: str | None = None
    created_at: datetime


class TicketOut(BaseModel):
    number: int
    subject: str
    question: str
    status: str
    priority: str
    line: str
    channel: str
    requester: str
    assignee_id: int | None
    handoff_reason: str
    bot_tried: list[dict]
    resolution: str | None
    linked_articles: list[str]
    conversation_id: int
    created_at: datetime
    updated_at: datetime
    claimed_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None


class UserTicketOut(BaseModel):
    number: int
    subject: str
    status: str
    created_at: datetime
    resolution: str | None


class EventOut(BaseModel):
    actor: str
    action: str
    detail: dict
    created_at: datetime


class TicketDetailOut(TicketOut):
    transcript: list[MessageOut]
    events: list[EventOut]


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class ResolveIn(BaseModel):
    resolution: str = Field(min_length=1, max_length=4000)
    articles: list[str] = Field(default_factory=list, max_length=20)


class HandbackIn(BaseModel):
    note: str = Field("", max_length=2000)


class AgentIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["l1", "l2", "l3", "manager"]


class AgentOut(BaseModel):
    id: int
    name: str
    role: str
    active: bool


class AgentCreatedOut(AgentOut):
    token: str = Field(description="Shown once; only its hash is stored")
