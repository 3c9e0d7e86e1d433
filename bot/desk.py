"""The agent side of a handoff: claim, reply, hand back, resolve — each also tells the user, in
their language and their channel (the message is stored; push channels deliver it via the outbox)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from bot.texts import t
from tickets import service
from tickets.models import Agent, Conversation, Message, Ticket


def _notify(session: Session, conv: Conversation, text: str, kind: str) -> Message:
    return service.add_message(session, conv, "system", text, payload={"kind": kind})


def claim(session: Session, number: int, agent: Agent) -> Ticket:
    before = service.get_ticket(session, number).assignee_id
    ticket = service.claim_ticket(session, number, agent)
    if before is None:
        conv = session.get(Conversation, ticket.conversation_id)
        _notify(session, conv, t(conv.lang, "agent_joined", agent=agent.name), "agent_joined")
    return ticket


def reply(session: Session, number: int, agent: Agent, text: str) -> Message:
    _, msg = service.agent_message(session, number, agent, text)
    return msg


def resolve(session: Session, number: int, agent: Agent, resolution: str, articles: list[str] | None = None) -> Ticket:
    ticket, conv = service.resolve_ticket(session, number, agent, resolution, articles)
    text = f"{t(conv.lang, 'resolved', number=ticket.id, resolution=resolution)}\n{t(conv.lang, 'resolved_footer')}"
    _notify(session, conv, text, "resolved")
    return ticket


def hand_back(session: Session, number: int, agent: Agent, note: str = "") -> Ticket:
    ticket, conv = service.hand_back(session, number, agent, note)
    _notify(session, conv, t(conv.lang, "handed_back"), "handed_back")
    return ticket
