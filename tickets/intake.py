"""Requests that reach the desk through a person rather than a chat: a phone call registered by the agent
who took it. The call becomes a conversation on channel `phone` (the caller's summary as their message) and a
ticket already held by that agent, so it is counted, timed and reported like any other request."""

from __future__ import annotations

import re
import uuid

from sqlalchemy.orm import Session

from core.db import utcnow
from people.identify import person_for_sender, provisional_person
from tickets import conversations, service, sla
from tickets.models import Agent, Conversation, Ticket
from tickets.ops_models import PRIORITIES

PHONE_CHANNEL = "phone"
_NUMBER = re.compile(r"^\+?[0-9][0-9 ()-]{4,30}$")


class IntakeError(service.TicketError):
    status_code = 422


def register_call(
    session: Session,
    agent: Agent,
    *,
    caller: str,
    callback_number: str,
    summary: str,
    lang: str = "en",
    priority: str | None = None,
) -> tuple[Ticket, Conversation]:
    caller, summary = " ".join(caller.split()), summary.strip()
    number = re.sub(r"[ ()-]", "", callback_number or "")
    if not caller:
        raise IntakeError("who called? `caller` is required")
    if callback_number and not _NUMBER.match(callback_number):
        raise IntakeError(f"{callback_number!r} is not a phone number")
    if not summary:
        raise IntakeError("`summary` is required: what the caller needs")
    # Each call is its own conversation (one caller may call twice about different things). The callback number
    # finds the caller's person; a call without one is a provisional person of its own (kept, completed by hand).
    if number:
        person = person_for_sender(session, PHONE_CHANNEL, number, name=caller)
    else:
        person = provisional_person(session, caller)
    conv = Conversation(
        channel=PHONE_CHANNEL,
        user_ref=number or caller,
        thread_ref=f"call-{uuid.uuid4().hex[:12]}",
        user_name=caller,
        person_id=person.id,
        lang=lang if lang in ("en", "ru") else "en",
        state="bot",
        offered=[],
    )
    session.add(conv)
    session.flush()
    conversations.add_message(
        session,
        conv,
        "user",
        summary,
        payload={"call": {"caller": caller, "callback_number": number or None, "taken_by": agent.name}},
    )
    conv.last_question = summary
    ticket = service.open_ticket(session, conv, reason="phone_call", question=summary, bot_tried=[])
    if priority and priority != ticket.priority:
        if priority not in PRIORITIES:
            raise IntakeError(f"unknown priority {priority!r}: use {', '.join(PRIORITIES)}")
        old, ticket.priority = ticket.priority, priority
        sla.priority_changed(session, ticket, old)
    service.record(
        session, ticket, f"agent:{agent.id}", "call_registered", caller=caller, callback_number=number or None
    )
    service.claim_ticket(session, ticket.id, agent)
    ticket.first_response_at = utcnow()  # the caller has spoken to a person already
    return ticket, conv
