"""The agent API: the queue, a ticket with its transcript, and the actions that take a conversation over."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy.orm import object_session

from api.deps import AgentDep, DeskDep, ManagerDep, ReadSessionDep, SessionDep, ViewerDep, visible_organisation
from api.routes.chat import message_out
from api.schemas import (
    AgentCreatedOut,
    AgentIn,
    AgentOut,
    AgentPatchIn,
    EventOut,
    HandbackIn,
    IdentityOut,
    MessageOut,
    PasswordIn,
    PersonTicketOut,
    RequesterOut,
    ResolveIn,
    TextIn,
    TicketDetailOut,
    TicketOut,
)
from people.models import Organisation, Person
from tickets import agents as agent_accounts
from tickets import conversations, requesters, service, sla
from tickets.models import Agent, Ticket, TicketStatus

router = APIRouter(prefix="/api/v1", tags=["agents"])
STATUSES = {s.value for s in TicketStatus}


def ticket_out(tk: Ticket, requester: dict | None = None) -> TicketOut:
    """A ticket as the API shows it; `requester`: its requesters.summaries() entry (looked up if not given)."""
    if requester is None:
        requester = requesters.summaries(object_session(tk), [tk])[tk.id]
    fields = {k: getattr(tk, k) for k in TicketOut.model_fields if k not in ("number", "sla_state", "requester")}
    return TicketOut(number=tk.id, sla_state=sla.sla_state(tk), requester=RequesterOut(**requester), **fields)


def tickets_out(session, rows: list[Ticket]) -> list[TicketOut]:
    found = requesters.summaries(session, rows)  # one query for a page of tickets, not one per row
    return [ticket_out(t, found[t.id]) for t in rows]


@router.get(
    "/tickets",
    response_model=list[TicketOut],
    summary="The queue: filter by status, line, assignee, text, channel, group, priority, category, SLA",
)
def list_tickets(
    session: ReadSessionDep,
    agent: ViewerDep,
    status: str | None = Query(None, description="comma-separated, e.g. new,open"),
    line: str | None = Query(None, pattern="^L[123]$"),
    mine: bool = False,
    unassigned: bool = False,
    q: str | None = Query(None, max_length=200),
    limit: int = Query(100, ge=1, le=500),
    channel: str | None = Query(None, max_length=32),
    group: str | None = Query(None, max_length=64, description="skill group slug"),
    priority: str | None = Query(None, pattern="^(low|normal|high|critical)$"),
    category: str | None = Query(None, max_length=64, description="category slug"),
    sla: str | None = Query(None, pattern="^(at_risk|breached)$"),
    person: int | None = Query(None, description="one requester's tickets (a person id), from every channel"),
    organisation: int | None = Query(None, description="one client organisation's tickets (its id)"),
    sort: str = Query(
        "newest", pattern="^(newest|sla)$", description="sla: soonest resolution due first, tickets without one last"
    ),
) -> list[TicketOut]:
    wanted = [s.strip() for s in status.split(",") if s.strip()] if status else None
    bad = set(wanted or []) - STATUSES
    if bad:
        raise HTTPException(422, f"unknown status {', '.join(sorted(bad))}: use {', '.join(sorted(STATUSES))}")
    rows = service.list_tickets(
        session,
        status=wanted,
        line=line,
        assignee_id=agent.id if mine else None,
        unassigned=unassigned,
        text=q,
        limit=limit,
        channel=channel,
        group=group,
        priority=priority,
        category=category,
        sla_state=sla,
        sort=sort,
        person_id=person,
        # A client manager sees their organisation's tickets only, whatever the query asks for.
        organisation_id=visible_organisation(agent) or organisation,
    )
    return tickets_out(session, rows)


@router.get("/tickets/{number}", response_model=TicketDetailOut, summary="A ticket with transcript and audit trail")
def get_ticket(number: int, session: ReadSessionDep, agent: ViewerDep) -> TicketDetailOut:
    tk = service.get_ticket(session, number)
    scope = visible_organisation(agent)
    if scope is not None and tk.organisation_id != scope:
        raise HTTPException(404, f"ticket #{number} does not exist")
    messages = conversations.transcript(session, tk.conversation_id)
    sent = conversations.deliveries(session, [m.id for m in messages])
    transcript: list[MessageOut] = [message_out(m, sent.get(m.id)) for m in messages]
    events = [
        EventOut(actor=e.actor, action=e.action, detail=e.detail, created_at=e.created_at)
        for e in service.events(session, number)
    ]
    out = ticket_out(tk)
    person = requesters.card(session, session.get(Person, tk.person_id) if tk.person_id else None, exclude_ticket=tk.id)
    if person is not None:
        out.requester.identities = [IdentityOut(**i) for i in person["identities"]]
        out.requester.tickets = [PersonTicketOut(**t) for t in person["tickets"]]
    return TicketDetailOut(**out.model_dump(), transcript=transcript, events=events)


@router.post("/tickets/{number}/claim", response_model=TicketOut, summary="Take the conversation over")
def claim(number: int, desk: DeskDep, session: SessionDep, agent: AgentDep) -> TicketOut:
    ticket = desk.claim(session, number, agent)
    session.commit()
    return ticket_out(ticket)


@router.post("/tickets/{number}/reply", response_model=MessageOut, summary="Reply to the user in their channel")
def reply(number: int, desk: DeskDep, body: TextIn, session: SessionDep, agent: AgentDep) -> MessageOut:
    msg = desk.reply(session, number, agent, body.text, source="api")
    session.commit()
    return message_out(msg)


@router.post("/tickets/{number}/handback", response_model=TicketOut, summary="Return the user to the bot")
def handback(number: int, desk: DeskDep, body: HandbackIn, session: SessionDep, agent: AgentDep) -> TicketOut:
    ticket = desk.hand_back(session, number, agent, body.note)
    session.commit()
    return ticket_out(ticket)


@router.post("/tickets/{number}/resolve", response_model=TicketOut, summary="Resolve with a resolution text")
def resolve(number: int, desk: DeskDep, body: ResolveIn, session: SessionDep, agent: AgentDep) -> TicketOut:
    ticket = desk.resolve(session, number, agent, body.resolution, body.articles)
    session.commit()
    return ticket_out(ticket)


def agent_out(a) -> AgentOut:
    return AgentOut(
        id=a.id,
        name=a.name,
        role=a.role,
        active=a.active,
        kb_editor=a.kb_editor,
        email=a.email,
        organisation_id=a.organisation_id,
        sso=a.oidc_subject is not None,
        password=a.password_hash is not None,
    )


def _account(session, agent_id: int):
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise HTTPException(404, f"agent {agent_id} does not exist")
    return agent


def _change(session, fn):
    try:
        result = fn()
    except agent_accounts.AgentError as exc:
        raise HTTPException(409, str(exc)) from exc
    session.commit()
    return result


@router.get("/agents/me", response_model=AgentOut)
def me(agent: AgentDep) -> AgentOut:
    return agent_out(agent)


@router.put("/agents/me/password", response_model=AgentOut, summary="Set my console password (argon2)")
def set_my_password(body: PasswordIn, session: SessionDep, agent: ViewerDep) -> AgentOut:
    account = session.get(Agent, agent.id)
    if account.password_hash and not (
        body.current and agent_accounts.authenticate_password(session, account.name, body.current)
    ):
        raise HTTPException(403, "the current password is wrong")
    _change(session, lambda: agent_accounts.set_password(session, account, body.new))
    return agent_out(account)


@router.get("/agents", response_model=list[AgentOut], summary="All agents (manager)")
def list_agents(session: SessionDep, manager: ManagerDep) -> list[AgentOut]:
    return [agent_out(a) for a in agent_accounts.list_agents(session)]


@router.post("/agents", response_model=AgentCreatedOut, status_code=201, summary="Create an agent (manager)")
def create_agent(body: AgentIn, session: SessionDep, manager: ManagerDep) -> AgentCreatedOut:
    if body.organisation_id is not None and session.get(Organisation, body.organisation_id) is None:
        raise HTTPException(422, f"organisation {body.organisation_id} does not exist")
    token = _change(
        session,
        lambda: agent_accounts.create_agent(
            session,
            body.name,
            body.role,
            kb_editor=body.kb_editor,
            email=body.email,
            organisation_id=body.organisation_id,
        ),
    )
    a = agent_accounts.by_name(session, body.name)
    return AgentCreatedOut(**agent_out(a).model_dump(), token=token)


@router.patch(
    "/agents/{agent_id}",
    response_model=AgentOut,
    summary="Change an agent's role or KB-editor permission (manager; effective at once)",
)
def update_agent(agent_id: int, body: AgentPatchIn, session: SessionDep, manager: ManagerDep) -> AgentOut:
    agent = _account(session, agent_id)

    def change():
        if body.role is not None:
            agent_accounts.set_role(session, agent, body.role)
        if body.kb_editor is not None:
            agent_accounts.set_kb_editor(session, agent, body.kb_editor)

    _change(session, change)
    return agent_out(agent)


@router.post(
    "/agents/{agent_id}/disable",
    response_model=AgentOut,
    summary="Disable an agent: their token and console sessions stop working at once (manager)",
)
def disable_agent(agent_id: int, session: SessionDep, manager: ManagerDep) -> AgentOut:
    agent = _account(session, agent_id)
    _change(session, lambda: agent_accounts.disable(session, agent))
    return agent_out(agent)


@router.post("/agents/{agent_id}/enable", response_model=AgentOut, summary="Enable a disabled agent (manager)")
def enable_agent(agent_id: int, session: SessionDep, manager: ManagerDep) -> AgentOut:
    agent = _account(session, agent_id)
    _change(session, lambda: agent_accounts.enable(session, agent))
    return agent_out(agent)


@router.post(
    "/agents/{agent_id}/rotate-token",
    response_model=AgentCreatedOut,
    summary="Issue a new token (shown once); the old one and the agent's console sessions stop (manager)",
)
def rotate_token(agent_id: int, session: SessionDep, manager: ManagerDep) -> AgentCreatedOut:
    agent = _account(session, agent_id)
    token = _change(session, lambda: agent_accounts.rotate_token(session, agent))
    return AgentCreatedOut(**agent_out(agent).model_dump(), token=token)
