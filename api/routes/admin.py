"""Manager administration: skill groups and their members, categories (routing).

Any agent may read groups and categories (the console's escalate and category pickers need them); only a
manager changes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.deps import ManagerDep, SessionDep, ViewerDep
from api.schemas import AgentIdIn, CategoryIn, CategoryOut, GroupIn, GroupOut, MemberOut
from bot import outbox
from core.inputs import normalize_ref
from tickets import chat_identities, routing
from tickets.models import Agent
from tickets.ops_models import Category, SkillGroup

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


def group_out(session: Session, group: SkillGroup) -> GroupOut:
    members = [session.get(Agent, i) for i in routing.member_ids(session, group.id)]
    return GroupOut(
        id=group.id,
        slug=group.slug,
        name=group.name,
        members=[MemberOut(agent_id=a.id, name=a.name, role=a.role) for a in members],
    )


def category_out(cat: Category, slugs: dict[int, str]) -> CategoryOut:
    return CategoryOut(
        id=cat.id,
        slug=cat.slug,
        name=cat.name,
        line=cat.line,
        group=slugs.get(cat.group_id) if cat.group_id else None,
        tags=list(cat.tags or []),
    )


@router.get("/groups", response_model=list[GroupOut], summary="Skill groups with their members")
def list_groups(session: SessionDep, agent: ViewerDep) -> list[GroupOut]:
    return [group_out(session, g) for g in routing.groups(session)]


@router.post("/groups", response_model=GroupOut, status_code=201, summary="Create a skill group (manager)")
def create_group(body: GroupIn, session: SessionDep, manager: ManagerDep) -> GroupOut:
    group = routing.create_group(session, body.slug, body.name)
    session.commit()
    return group_out(session, group)


@router.post("/groups/{slug}/members", response_model=GroupOut, summary="Add an agent to a group (manager)")
def add_member(slug: str, body: AgentIdIn, session: SessionDep, manager: ManagerDep) -> GroupOut:
    group = routing.add_member(session, slug, body.agent_id)
    session.commit()
    return group_out(session, group)


@router.delete(
    "/groups/{slug}/members/{agent_id}", response_model=GroupOut, summary="Remove an agent from a group (manager)"
)
def remove_member(slug: str, agent_id: int, session: SessionDep, manager: ManagerDep) -> GroupOut:
    group = routing.remove_member(session, slug, agent_id)
    session.commit()
    return group_out(session, group)


@router.get("/categories", response_model=list[CategoryOut], summary="Categories and where they route")
def list_categories(session: SessionDep, agent: ViewerDep) -> list[CategoryOut]:
    slugs = routing.group_slugs(session)
    return [category_out(c, slugs) for c in routing.categories(session)]


@router.post("/categories", response_model=CategoryOut, status_code=201, summary="Create a category (manager)")
def create_category(body: CategoryIn, session: SessionDep, manager: ManagerDep) -> CategoryOut:
    cat = routing.save_category(session, body.slug, body.name, body.line, body.group, body.tags)
    session.commit()
    return category_out(cat, routing.group_slugs(session))


@router.put("/categories/{slug}", response_model=CategoryOut, summary="Change a category (manager)")
def update_category(slug: str, body: CategoryIn, session: SessionDep, manager: ManagerDep) -> CategoryOut:
    cat = routing.save_category(session, slug, body.name, body.line, body.group, body.tags, create=False)
    session.commit()
    return category_out(cat, routing.group_slugs(session))


class DeliveryOut(BaseModel):
    id: int
    audience: str
    channel: str
    event: str
    status: str
    attempts: int
    last_error: str | None
    message_id: int | None
    ticket_id: int | None
    created_at: datetime
    sent_at: datetime | None


def delivery_out(item) -> DeliveryOut:
    return DeliveryOut(
        id=item.id,
        audience=item.audience,
        channel=item.channel,
        event=item.event,
        status=item.status,
        attempts=item.attempts,
        last_error=item.last_error,
        message_id=item.message_id,
        ticket_id=item.ticket_id,
        created_at=item.created_at,
        sent_at=item.sent_at,
    )


@router.get(
    "/deliveries",
    response_model=list[DeliveryOut],
    summary="Outbound deliveries by status (default: failed for good), newest first (manager)",
)
def list_deliveries(
    session: SessionDep,
    manager: ManagerDep,
    status: Literal["pending", "sending", "sent", "failed"] = "failed",
    limit: int = Query(100, ge=1, le=1000),
) -> list[DeliveryOut]:
    return [delivery_out(i) for i in outbox.list_items(session, status, limit)]


@router.post(
    "/deliveries/{item_id}/retry", response_model=DeliveryOut, summary="Send a failed delivery again (manager)"
)
def retry_delivery(item_id: int, session: SessionDep, manager: ManagerDep) -> DeliveryOut:
    item = outbox.retry(session, item_id)
    session.commit()
    return delivery_out(item)


class ChatUserIn(BaseModel):
    user: str = Field(min_length=1, max_length=200, description="the web-chat identity (the ticket's requester)")


class ChatUserOut(BaseModel):
    user: str
    created_at: datetime
    tokens_valid_after: datetime


@router.post(
    "/chat-users/revoke",
    response_model=ChatUserOut,
    summary="End a web-chat user's access: every token issued to them stops working (manager)",
)
def revoke_chat_user(body: ChatUserIn, session: SessionDep, manager: ManagerDep) -> ChatUserOut:
    user = normalize_ref("web", body.user)
    row = chat_identities.revoke(session, "web", user)
    if row is None:
        raise HTTPException(404, f"no web-chat user {body.user!r}")
    session.commit()
    return ChatUserOut(user=row.user_ref, created_at=row.created_at, tokens_valid_after=row.tokens_valid_after)
