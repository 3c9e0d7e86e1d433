"""Ticket operations for agents: escalation and return, priority/category changes, team members, external
references (requests to application developers) and time tracking."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from api.deps import AgentDep, ReadSessionDep, RuntimeDep, SessionDep
from api.routes.tickets import ticket_out
from api.schemas import (
    AgentIdIn,
    CategoryMatchOut,
    Day,
    EscalateIn,
    EscalationOut,
    ExternalRefIn,
    ExternalRefOut,
    MemberOut,
    ReturnIn,
    SuggestedCategoryOut,
    TicketOut,
    TicketPatchIn,
    TicketTimeOut,
    TimeEntryOut,
    TimeIn,
    TimeTotalOut,
)
from kb_ingest.service import article_tags
from tickets import escalation, external_refs, routing, service, timetracking
from tickets.models import Agent
from tickets.ops_models import Category, Escalation, ExternalRef, TimeEntry

router = APIRouter(prefix="/api/v1", tags=["ticket operations"])


def _who(session: Session, actor: str | None) -> str | None:
    """ "agent:3" → the agent's name (what people read); other actors ("system:sla") as they are."""
    if actor and actor.startswith("agent:") and actor[6:].isdigit():
        agent = session.get(Agent, int(actor[6:]))
        return agent.name if agent else actor
    return actor


def escalation_out(session: Session, e: Escalation, slugs: dict[int, str]) -> EscalationOut:
    return EscalationOut(
        id=e.id,
        kind=e.kind,
        from_line=e.from_line,
        to_line=e.to_line,
        from_group=slugs.get(e.from_group_id) if e.from_group_id else None,
        to_group=slugs.get(e.to_group_id) if e.to_group_id else None,
        by=_who(session, e.by),
        note=e.note,
        created_at=e.created_at,
        returned_at=e.returned_at,
        returned_by=_who(session, e.returned_by),
        answer=e.answer,
    )


def ref_out(r: ExternalRef, webhook: bool) -> ExternalRefOut:
    return ExternalRefOut(
        id=r.id,
        system=r.system,
        ref=r.ref,
        url=r.url,
        note=r.note,
        created_by=r.created_by,
        created_at=r.created_at,
        webhook=webhook,
    )


def entry_out(session: Session, e: TimeEntry) -> TimeEntryOut:
    agent = session.get(Agent, e.agent_id)
    return TimeEntryOut(
        id=e.id,
        agent_id=e.agent_id,
        agent=agent.name if agent else str(e.agent_id),
        source=e.source,
        minutes=e.minutes,
        note=e.note,
        started_at=e.started_at,
        ended_at=e.ended_at,
    )


def match_out(cat: Category, shared: list[str], slugs: dict[int, str]) -> CategoryMatchOut:
    return CategoryMatchOut(
        id=cat.id,
        slug=cat.slug,
        name=cat.name,
        line=cat.line,
        group=slugs.get(cat.group_id) if cat.group_id else None,
        tags=list(cat.tags or []),
        matched_tags=shared,
    )


# -- escalation ---------------------------------------------------------------------------------
@router.post(
    "/tickets/{number}/escalate",
    response_model=TicketOut,
    summary="Escalate to a higher line (hierarchical) or a skill group (functional)",
)
def escalate(number: int, body: EscalateIn, session: SessionDep, agent: AgentDep) -> TicketOut:
    escalation.escalate(session, number, agent, to_line=body.to_line, group=body.group, note=body.note)
    session.commit()
    return ticket_out(service.get_ticket(session, number))


@router.post(
    "/tickets/{number}/return",
    response_model=TicketOut,
    summary="Answer the escalation: the ticket returns to the line and agent it came from",
)
def return_to_sender(number: int, body: ReturnIn, session: SessionDep, agent: AgentDep) -> TicketOut:
    escalation.return_to_sender(session, number, agent, body.answer)
    session.commit()
    return ticket_out(service.get_ticket(session, number))


@router.get("/tickets/{number}/escalations", response_model=list[EscalationOut], summary="Escalation history")
def escalations(number: int, session: ReadSessionDep, agent: AgentDep) -> list[EscalationOut]:
    service.get_ticket(session, number)
    slugs = routing.group_slugs(session)
    return [escalation_out(session, e, slugs) for e in escalation.history(session, number)]


# -- priority, category, group -----------------------------------------------------------------
@router.patch("/tickets/{number}", response_model=TicketOut, summary="Change priority, category or group")
def patch_ticket(number: int, body: TicketPatchIn, session: SessionDep, agent: AgentDep) -> TicketOut:
    sent = body.model_fields_set
    if "priority" in sent and body.priority is None:
        raise service.Invalid("priority cannot be empty: use low, normal, high or critical")
    changes = {k: getattr(body, k) for k in ("priority", "category", "group") if k in sent}
    ticket = service.update_ticket(session, number, agent, **changes)
    session.commit()
    return ticket_out(ticket)


@router.get(
    "/tickets/{number}/suggested-category",
    response_model=SuggestedCategoryOut,
    summary="Categories suggested by the tags of the KB articles the bot tried",
)
def suggested_category(number: int, session: ReadSessionDep, agent: AgentDep) -> SuggestedCategoryOut:
    ticket = service.get_ticket(session, number)
    tags = article_tags(session, routing.bot_tried_ids(ticket))
    found = routing.matching_categories(session, tags)
    slugs = routing.group_slugs(session)
    candidates = [match_out(c, shared, slugs) for c, shared in found]
    # One best: the only candidate, or the one sharing strictly the most tags.
    best = candidates[0] if len(found) == 1 or (len(found) > 1 and len(found[0][1]) > len(found[1][1])) else None
    return SuggestedCategoryOut(category=best, candidates=candidates, tags=sorted(tags))


# -- team ---------------------------------------------------------------------------------------
@router.get(
    "/tickets/{number}/participants",
    response_model=list[MemberOut],
    summary="Agents working on the ticket besides its assignee",
)
def participants(number: int, session: ReadSessionDep, agent: AgentDep) -> list[MemberOut]:
    service.get_ticket(session, number)
    return [MemberOut(agent_id=a.id, name=a.name, role=a.role) for a in service.participants(session, number)]


@router.post(
    "/tickets/{number}/participants",
    response_model=list[MemberOut],
    status_code=201,
    summary="Bring another agent onto the ticket",
)
def add_participant(number: int, body: AgentIdIn, session: SessionDep, agent: AgentDep) -> list[MemberOut]:
    service.add_team_member(session, number, agent, body.agent_id)
    session.commit()
    return [MemberOut(agent_id=a.id, name=a.name, role=a.role) for a in service.participants(session, number)]


@router.delete(
    "/tickets/{number}/participants/{agent_id}",
    response_model=list[MemberOut],
    summary="Take an agent off the ticket (or leave it yourself)",
)
def remove_participant(number: int, agent_id: int, session: SessionDep, agent: AgentDep) -> list[MemberOut]:
    service.remove_team_member(session, number, agent, agent_id)
    session.commit()
    return [MemberOut(agent_id=a.id, name=a.name, role=a.role) for a in service.participants(session, number)]


# -- requests to application developers ----------------------------------------------------------
@router.post(
    "/tickets/{number}/external-refs",
    response_model=ExternalRefOut,
    status_code=201,
    summary="Record a request to the application's developers (and send it to their webhook)",
)
def add_external_ref(
    number: int, body: ExternalRefIn, session: SessionDep, agent: AgentDep, rt: RuntimeDep
) -> ExternalRefOut:
    row, queued = external_refs.add(
        session,
        number,
        agent,
        system=body.system,
        ref=body.ref,
        url=body.url,
        note=body.note,
        webhook=bool(rt.settings.dev_webhook_url),
    )
    session.commit()
    return ref_out(row, queued)


@router.get("/tickets/{number}/external-refs", response_model=list[ExternalRefOut])
def list_external_refs(number: int, session: ReadSessionDep, agent: AgentDep) -> list[ExternalRefOut]:
    return [ref_out(r, sent) for r, sent in external_refs.for_ticket(session, number)]


# -- time tracking --------------------------------------------------------------------------------
def _ticket_time(session: Session, number: int, agent: Agent) -> TicketTimeOut:
    running = timetracking.running_timer(session, number, agent.id)
    return TicketTimeOut(
        total_minutes=timetracking.ticket_total(session, number),
        running=entry_out(session, running) if running else None,
        entries=[entry_out(session, e) for e in timetracking.entries(session, number)],
    )


@router.post("/tickets/{number}/time", response_model=TicketTimeOut, status_code=201, summary="Log work time")
def log_time(number: int, body: TimeIn, session: SessionDep, agent: AgentDep) -> TicketTimeOut:
    timetracking.add_manual(session, number, agent, body.minutes, body.note)
    session.commit()
    return _ticket_time(session, number, agent)


@router.post("/tickets/{number}/timer/start", response_model=TicketTimeOut, summary="Start your timer")
def start_timer(number: int, session: SessionDep, agent: AgentDep) -> TicketTimeOut:
    timetracking.start_timer(session, number, agent)
    session.commit()
    return _ticket_time(session, number, agent)


@router.post("/tickets/{number}/timer/stop", response_model=TicketTimeOut, summary="Stop your timer")
def stop_timer(number: int, session: SessionDep, agent: AgentDep) -> TicketTimeOut:
    timetracking.stop_timer(session, number, agent)
    session.commit()
    return _ticket_time(session, number, agent)


@router.get("/tickets/{number}/time", response_model=TicketTimeOut, summary="Work time on the ticket")
def ticket_time(number: int, session: ReadSessionDep, agent: AgentDep) -> TicketTimeOut:
    service.get_ticket(session, number)
    return _ticket_time(session, number, agent)


@router.get("/time", response_model=list[TimeTotalOut], summary="Work time totals")
def time_totals(
    session: ReadSessionDep,
    agent: AgentDep,
    group_by: str = Query("agent", pattern="^(agent|line|category|ticket)$"),
    start: Day | None = None,
    end: Day | None = None,
) -> list[TimeTotalOut]:
    return [TimeTotalOut(key=k, minutes=m) for k, m in timetracking.totals(session, group_by, start, end)]
