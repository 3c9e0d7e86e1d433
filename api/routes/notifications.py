"""A staff member's notification preferences: what they are told (escalations, SLA warnings and breaches,
status changes, the daily digest) and where (their linked Telegram / Slack accounts)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AgentDep, ReadSessionDep, SessionDep
from tickets import notifications

router = APIRouter(prefix="/api/v1/me", tags=["notifications"])


class NotificationPrefsOut(BaseModel):
    escalations: bool
    breaches: bool
    status_changes: bool
    daily_digest: bool
    channels: list[str] = Field(description="where notices go; empty = every linked account")
    linked: list[str] = Field(
        description="the accounts linked to you (firstline agents link NAME --telegram/--slack);"
        " with none, nothing is sent and the console is where you see tickets"
    )


class NotificationPrefsIn(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    escalations: bool | None = None
    breaches: bool | None = None
    status_changes: bool | None = None
    daily_digest: bool | None = None
    channels: list[str] | None = Field(
        None,
        max_length=len(notifications.STAFF_ACCOUNTS),
        description=f"subset of {sorted(notifications.STAFF_ACCOUNTS)}",
    )


def _out(pref, agent) -> NotificationPrefsOut:
    return NotificationPrefsOut(
        escalations=pref.escalations,
        breaches=pref.breaches,
        status_changes=pref.status_changes,
        daily_digest=pref.daily_digest,
        channels=list(pref.channels or []),
        linked=list(notifications.linked_channels(agent)),
    )


@router.get("/notifications", response_model=NotificationPrefsOut, summary="My notification preferences")
def get_preferences(session: ReadSessionDep, agent: AgentDep) -> NotificationPrefsOut:
    return _out(notifications.preferences(session, agent.id), agent)


@router.put("/notifications", response_model=NotificationPrefsOut, summary="Change my notification preferences")
def put_preferences(body: NotificationPrefsIn, session: SessionDep, agent: AgentDep) -> NotificationPrefsOut:
    pref = notifications.save_preferences(session, agent.id, **body.model_dump(exclude_unset=True))
    session.commit()
    return _out(pref, agent)
