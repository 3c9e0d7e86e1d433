"""Escalation: a ticket moves up a line (hierarchical: L1 → L2 → L3, with a note), to a skill group
(functional: same line or higher), or by itself when its SLA is breached (automatic, no actor).

The agent who held it stays on as a participant; the ticket waits unassigned (status `escalated`) until
someone of the new line/group takes it. The escalated line answers with `return_to_sender`: the ticket goes
back to the line, group and agent it came from. Escalations form a stack per ticket (L1 → L2 → L3 returns
to L2, then to L1); every step stays in the history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from tickets import notifications, routing, service
from tickets.errors import Conflict, Forbidden, Invalid
from tickets.models import Agent, Conversation, ConversationState, Role, Ticket, TicketStatus
from tickets.ops_models import LINES, Escalation, SkillGroup

KINDS = ("hierarchical", "functional", "automatic")
SYSTEM_ACTOR = "system:sla"


def history(session: Session, number: int) -> list[Escalation]:
    return list(session.scalars(select(Escalation).where(Escalation.ticket_id == number).order_by(Escalation.id)))


def open_escalation(session: Session, number: int) -> Escalation | None:
    """The latest escalation not yet answered: the one a return goes back through."""
    return session.scalar(
        select(Escalation)
        .where(Escalation.ticket_id == number, Escalation.returned_at.is_(None))
        .order_by(Escalation.id.desc())
        .limit(1)
    )


def _locked_ticket(session: Session, number: int) -> Ticket:
    # Row lock (PostgreSQL; SQLite writers are serialised): a claim racing this move waits for it and then
    # sees the new line, instead of the move overwriting a fresh assignment.
    service.lock_ticket(session, number)  # conversation first, like a user's message: no deadlock with it
    ticket = session.scalar(
        select(Ticket).where(Ticket.id == number).with_for_update().execution_options(populate_existing=True)
    )
    return ticket if ticket is not None else service.get_ticket(session, number)  # NotFound


def _next_line(ticket: Ticket) -> str:
    rank = routing.line_rank(ticket.line)
    if rank + 1 >= len(LINES):
        raise Conflict(f"ticket #{ticket.id} is already on {ticket.line}, the highest line; it cannot go higher")
    return LINES[rank + 1]


def escalate(
    session: Session,
    number: int,
    actor: Agent | None,
    *,
    to_line: str | None = None,
    group: str | None = None,
    note: str = "",
    kind: str | None = None,
    now: datetime | None = None,
) -> Escalation:
    """Move the ticket up a line and/or to a group. `actor` None is the system (SLA auto-escalation)."""
    now = now or utcnow()
    ticket = _locked_ticket(session, number)
    service.require_open(ticket)
    if (
        actor is not None
        and not service.is_handler(session, ticket, actor)
        and not (ticket.assignee_id is None and routing.claim_refusal(session, ticket, actor) is None)
    ):
        raise Forbidden(
            f"ticket #{number} is held by another agent; only they, its participants or a manager can escalate it"
        )
    kind = kind or ("automatic" if actor is None else "functional" if group else "hierarchical")
    if kind not in KINDS:
        raise Invalid(f"unknown escalation kind {kind!r}: use {', '.join(KINDS)}")
    if to_line is not None:
        routing.check_line(to_line)
    to_group: SkillGroup | None = routing.group_by_slug(session, group) if group else None
    if kind == "functional":
        if to_group is None:
            raise Invalid("a functional escalation needs a group (the skill group to pass the ticket to)")
        to_line = to_line or ticket.line
        if routing.line_rank(to_line) < routing.line_rank(ticket.line):
            raise Invalid(
                f"ticket #{number} is on {ticket.line}: a functional escalation goes to the same line "
                f"or a higher one, not {to_line}"
            )
        if to_line == ticket.line and to_group.id == ticket.group_id:
            raise Conflict(f"ticket #{number} is already with the group {to_group.slug!r} on {ticket.line}")
    else:
        if to_line is None:
            to_line = _next_line(ticket)
        elif routing.line_rank(to_line) <= routing.line_rank(ticket.line):
            if ticket.line == LINES[-1]:
                _next_line(ticket)  # the clearer message: nothing is above L3
            raise Invalid(f"ticket #{number} is on {ticket.line}: escalate it to a higher line, not {to_line}")
    note = (note or "").strip()
    by = SYSTEM_ACTOR if actor is None else f"agent:{actor.id}"
    previous = ticket.assignee_id
    esc = Escalation(
        ticket_id=ticket.id,
        kind=kind,
        from_line=ticket.line,
        to_line=to_line,
        from_group_id=ticket.group_id,
        to_group_id=to_group.id if to_group else None,
        from_agent_id=previous,
        by=by,
        note=note,
        created_at=now,
    )
    session.add(esc)
    ticket.line, ticket.group_id = to_line, esc.to_group_id
    if previous is not None and session.get_one(Agent, previous).active:
        # The agent who had it keeps following (and may still reply) as a participant.
        service.add_participant(session, ticket, previous, by)
    ticket.assignee_id, ticket.updated_at = None, now
    conv = session.get(Conversation, ticket.conversation_id)
    if conv is not None and conv.state == ConversationState.with_agent.value:
        conv.state = ConversationState.waiting_for_agent.value
    session.flush()
    service.record(
        session,
        ticket,
        by,
        "escalated",
        escalation_id=esc.id,
        kind=kind,
        from_line=esc.from_line,
        to_line=to_line,
        group=to_group.slug if to_group else None,
        note=note,
    )
    service.set_status(session, ticket, TicketStatus.escalated.value, by)
    notifications.escalated(session, ticket, esc)
    return esc


def may_answer(session: Session, ticket: Ticket, agent: Agent) -> bool:
    """The escalated line answers: the ticket's holder, or anyone who could take it there (or a manager)."""
    if agent.role == Role.manager.value or ticket.assignee_id == agent.id:
        return True
    return ticket.assignee_id is None and routing.claim_refusal(session, ticket, agent) is None


def return_to_sender(
    session: Session, number: int, actor: Agent, answer: str, now: datetime | None = None
) -> Escalation:
    """Answer the latest escalation: back to the line, group and agent (if still active) it came from."""
    now = now or utcnow()
    answer = (answer or "").strip()
    if not answer:
        raise Invalid("an answer is required: tell the previous line what you found or what to do")
    ticket = _locked_ticket(session, number)
    service.require_open(ticket)
    esc = open_escalation(session, number)
    if esc is None:
        raise Conflict(f"ticket #{number} has no escalation to answer")
    if not may_answer(session, ticket, actor):
        raise Forbidden(
            f"ticket #{number} is on {ticket.line}; only whoever holds it there or a manager can answer the escalation"
        )
    by = f"agent:{actor.id}"
    esc.returned_at, esc.returned_by, esc.answer = now, by, answer
    back_to = session.get(Agent, esc.from_agent_id) if esc.from_agent_id is not None else None
    if back_to is not None and not back_to.active:
        back_to = None
    answering = ticket.assignee_id
    ticket.line, ticket.group_id = esc.from_line, esc.from_group_id
    ticket.assignee_id = back_to.id if back_to else None
    ticket.updated_at = now
    if back_to is not None:
        ticket.claimed_at = now
        # The original holder holds it again.
        service.remove_participant(session, ticket, back_to.id, by)
    # Whoever worked it on the higher line stays on the team for follow-ups.
    helpers = [answering] + ([actor.id] if actor.role != Role.manager.value else [])
    for helper in dict.fromkeys(h for h in helpers if h is not None and h != ticket.assignee_id):
        if session.get_one(Agent, helper).active:
            service.add_participant(session, ticket, helper, by)
    conv = session.get(Conversation, ticket.conversation_id)
    if conv is not None and conv.state in (
        ConversationState.with_agent.value,
        ConversationState.waiting_for_agent.value,
    ):
        conv.state = (ConversationState.with_agent if back_to else ConversationState.waiting_for_agent).value
    session.flush()
    service.record(
        session,
        ticket,
        by,
        "returned",
        escalation_id=esc.id,
        to_line=esc.from_line,
        assignee_id=ticket.assignee_id,
        answer=answer,
    )
    service.set_status(session, ticket, TicketStatus.open.value, by)
    # A return often changes no status (the next line had taken it: open → open): tell the user and the
    # agent it goes back to explicitly (notifications dedupes against the status notice).
    notifications.returned(session, ticket, esc)
    return esc
