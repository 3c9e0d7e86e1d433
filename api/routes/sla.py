"""Manager administration of SLA policies and the holiday calendar.

A change applies at once: open tickets get due times under the new policies/calendar (recorded breaches
stay recorded). Holidays from FIRSTLINE_HOLIDAYS are listed too (source "settings") but are changed there.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import ManagerDep, SessionDep
from api.schemas import Day
from people.models import Organisation
from tickets import sla
from tickets.ops_models import PRIORITIES, Category, Holiday, SLAPolicy

router = APIRouter(prefix="/api/v1/admin", tags=["sla"])

Priority = Literal["low", "normal", "high", "critical"]
MAX_MINUTES = 366 * 24 * 60  # a target longer than a year is a typo


class PolicyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    priority: Priority
    category: str | None = Field(None, max_length=64, description="category slug; null = every category")
    first_response_minutes: int = Field(gt=0, le=MAX_MINUTES)
    resolution_minutes: int = Field(gt=0, le=MAX_MINUTES)
    business_hours: bool = Field(True, description="count business time (false: wall-clock, 24x7)")
    warn_ratio: float = Field(0.2, ge=0, lt=1, description="warn when this share of the target is left")
    auto_escalate: bool = Field(False, description="a missed resolution target moves the ticket up a line")
    active: bool = True
    organisation_id: int | None = Field(None, description="a client organisation's own contract; null = the desk's")


class PolicyPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    priority: Priority | None = None
    category: str | None = Field(None, max_length=64)
    first_response_minutes: int | None = Field(None, gt=0, le=MAX_MINUTES)
    resolution_minutes: int | None = Field(None, gt=0, le=MAX_MINUTES)
    business_hours: bool | None = None
    warn_ratio: float | None = Field(None, ge=0, lt=1)
    auto_escalate: bool | None = None
    active: bool | None = None


class PolicyOut(BaseModel):
    id: int
    name: str
    priority: str
    category: str | None
    first_response_minutes: int
    resolution_minutes: int
    business_hours: bool
    warn_ratio: float
    auto_escalate: bool
    active: bool
    organisation_id: int | None = None
    tickets_updated: int | None = None  # on a change: open tickets whose due times moved


class HolidayIn(BaseModel):
    day: Day
    name: str = Field("", max_length=200)


class HolidayOut(BaseModel):
    day: date
    name: str
    source: Literal["calendar", "settings"]
    tickets_updated: int | None = None


def policy_out(p: SLAPolicy, moved: int | None = None) -> PolicyOut:
    return PolicyOut(
        id=p.id,
        name=p.name,
        priority=p.priority,
        category=p.category,
        first_response_minutes=p.first_response_minutes,
        resolution_minutes=p.resolution_minutes,
        business_hours=p.business_hours,
        warn_ratio=p.warn_ratio,
        auto_escalate=p.auto_escalate,
        active=p.active,
        organisation_id=p.organisation_id,
        tickets_updated=moved,
    )


def _check(session: Session, p: SLAPolicy | PolicyIn, policy_id: int | None = None) -> None:
    if p.first_response_minutes > p.resolution_minutes:
        raise HTTPException(
            422,
            f"first_response_minutes ({p.first_response_minutes}) cannot be longer than "
            f"resolution_minutes ({p.resolution_minutes})",
        )
    if p.category is not None and session.scalar(select(Category.id).where(Category.slug == p.category)) is None:
        raise HTTPException(422, f"unknown category {p.category!r}: create it first (POST /api/v1/admin/categories)")
    org_id = getattr(p, "organisation_id", None)
    if org_id is not None and session.get(Organisation, org_id) is None:
        raise HTTPException(422, f"organisation {org_id} does not exist")
    # Checked here, not only by the unique constraint: PostgreSQL lets two NULL categories through it.
    q = select(SLAPolicy.id).where(
        SLAPolicy.priority == p.priority,
        SLAPolicy.category.is_(None) if p.category is None else SLAPolicy.category == p.category,
        SLAPolicy.organisation_id.is_(None) if org_id is None else SLAPolicy.organisation_id == org_id,
    )
    other = session.scalar(q.where(SLAPolicy.id != policy_id) if policy_id is not None else q)
    if other is not None:
        where = f"category {p.category!r}" if p.category else "all categories"
        where += f" of organisation {org_id}" if org_id is not None else ""
        raise HTTPException(
            409,
            f"policy #{other} already covers priority {p.priority!r} for {where}: "
            f"change that one (PUT /api/v1/admin/sla-policies/{other})",
        )


def _ordered(policies: list[SLAPolicy]) -> list[SLAPolicy]:
    rank = {p: i for i, p in enumerate(reversed(PRIORITIES))}  # critical first
    return sorted(policies, key=lambda p: (rank.get(p.priority, 9), p.category or "", p.id))


@router.get("/sla-policies", response_model=list[PolicyOut], summary="SLA policies (manager)")
def list_policies(session: SessionDep, manager: ManagerDep) -> list[PolicyOut]:
    return [policy_out(p) for p in _ordered(list(session.scalars(select(SLAPolicy))))]


@router.post("/sla-policies", response_model=PolicyOut, status_code=201, summary="Create an SLA policy (manager)")
def create_policy(body: PolicyIn, session: SessionDep, manager: ManagerDep) -> PolicyOut:
    _check(session, body)
    policy = SLAPolicy(**body.model_dump())
    session.add(policy)
    session.flush()
    moved = sla.recompute_open(session)
    session.commit()
    return policy_out(policy, moved)


@router.put(
    "/sla-policies/{policy_id}",
    response_model=PolicyOut,
    summary="Change an SLA policy (manager; send only the fields to change)",
)
def update_policy(policy_id: int, body: PolicyPatch, session: SessionDep, manager: ManagerDep) -> PolicyOut:
    policy = session.get(SLAPolicy, policy_id)
    if policy is None:
        raise HTTPException(404, f"SLA policy #{policy_id} does not exist")
    changes = body.model_dump(exclude_unset=True)
    for key in (
        "name",
        "priority",
        "first_response_minutes",
        "resolution_minutes",
        "business_hours",
        "warn_ratio",
        "auto_escalate",
        "active",
    ):
        if key in changes and changes[key] is None:
            raise HTTPException(422, f"{key} cannot be null")
    try:
        candidate = PolicyIn(**{**policy_out(policy).model_dump(exclude={"id", "tickets_updated"}), **changes})
    except ValidationError as exc:
        raise HTTPException(422, f"the policy would be invalid: {exc.errors()[0].get('msg')}") from None
    _check(session, candidate, policy_id)
    for key, value in changes.items():
        setattr(policy, key, value)
    session.flush()
    moved = sla.recompute_open(session)
    session.commit()
    return policy_out(policy, moved)


@router.get("/holidays", response_model=list[HolidayOut], summary="The holiday calendar (manager)")
def list_holidays(session: SessionDep, manager: ManagerDep, year: int | None = None) -> list[HolidayOut]:
    rows = {h.day: HolidayOut(day=h.day, name=h.name, source="calendar") for h in session.scalars(select(Holiday))}
    for day in sla.configured_holidays():
        rows.setdefault(day, HolidayOut(day=day, name="", source="settings"))
    return [h for d, h in sorted(rows.items()) if year is None or d.year == year]


@router.post("/holidays", response_model=HolidayOut, status_code=201, summary="Add a holiday (manager)")
def add_holiday(body: HolidayIn, session: SessionDep, manager: ManagerDep) -> HolidayOut:
    if session.scalar(select(Holiday.id).where(Holiday.day == body.day)) is not None:
        raise HTTPException(409, f"{body.day.isoformat()} is already a holiday")
    session.add(Holiday(day=body.day, name=body.name.strip()))
    session.flush()
    moved = sla.recompute_open(session)
    session.commit()
    return HolidayOut(day=body.day, name=body.name.strip(), source="calendar", tickets_updated=moved)


@router.delete("/holidays/{day}", status_code=204, summary="Remove a holiday (manager)")
def remove_holiday(day: Day, session: SessionDep, manager: ManagerDep) -> Response:
    row = session.scalar(select(Holiday).where(Holiday.day == day))
    if row is None:
        if day in sla.configured_holidays():
            raise HTTPException(409, f"{day.isoformat()} comes from the FIRSTLINE_HOLIDAYS setting: remove it there")
        raise HTTPException(404, f"{day.isoformat()} is not a holiday")
    session.delete(row)
    session.flush()
    sla.recompute_open(session)
    session.commit()
    return Response(status_code=204)
