"""Requests to the developers of a faulty business application: their tracker's reference on the ticket.

With a developer webhook configured, each new reference is also queued for an HTTP POST in the same
transaction (outbox audience "webhook"; the outbox delivers it with retries and an HMAC signature).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.inputs import http_url
from tickets import service
from tickets.errors import Forbidden, Invalid
from tickets.models import Agent, OutboxItem
from tickets.ops_models import ExternalRef


def add(
    session: Session,
    number: int,
    agent: Agent,
    *,
    system: str,
    ref: str,
    url: str | None = None,
    note: str = "",
    webhook: bool = False,
) -> tuple[ExternalRef, bool]:
    """Record the reference; returns it and whether a webhook delivery was queued."""
    system, ref, note = system.strip(), ref.strip(), (note or "").strip()
    if not system or not ref:
        raise Invalid("both the system (e.g. the application's name or tracker) and its reference are required")
    ticket = service.get_ticket(session, number)
    if not service.is_handler(session, ticket, agent):
        raise Forbidden(
            f"only the agent holding ticket #{number}, its participants or a manager can add a developer request to it"
        )
    try:
        url = http_url(url) if url and url.strip() else None
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    row = ExternalRef(ticket_id=ticket.id, system=system, ref=ref, url=url, note=note, created_by=agent.name)
    session.add(row)
    session.flush()
    service.record(
        session,
        ticket,
        f"agent:{agent.id}",
        "external_ref",
        id=row.id,
        system=system,
        ref=ref,
        url=row.url,
        webhook=webhook,
    )
    if webhook:
        session.add(
            OutboxItem(
                audience="webhook",
                channel="webhook",
                event="dev_request",
                ticket_id=ticket.id,
                payload={
                    "ticket": ticket.id,
                    "subject": ticket.subject,
                    "question": ticket.question,
                    "system": system,
                    "ref": ref,
                    "url": row.url,
                    "note": note,
                    "created_by": agent.name,
                    "external_ref_id": row.id,
                },
            )
        )
    return row, webhook


def for_ticket(session: Session, number: int) -> list[tuple[ExternalRef, bool]]:
    """The ticket's references, each with whether it was sent to the developers' webhook."""
    service.get_ticket(session, number)
    sent = {
        (item.payload or {}).get("external_ref_id")
        for item in session.scalars(
            select(OutboxItem).where(
                OutboxItem.ticket_id == number, OutboxItem.audience == "webhook", OutboxItem.event == "dev_request"
            )
        )
    }
    rows = session.scalars(select(ExternalRef).where(ExternalRef.ticket_id == number).order_by(ExternalRef.id))
    return [(row, row.id in sent) for row in rows]
