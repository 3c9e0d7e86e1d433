"""Client organisations as the desk manages them: their e-mail domains (automatic membership), their business
calendar (the clocks of their tickets), their own first line and VIP status. Saving checks the calendar, and open
tickets of the organisation get due times under the new calendar at once."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from people.directory import organisation_named
from people.models import Organisation, Person
from tickets import routing, sla
from tickets.models import Ticket
from tickets.sla_clock import CalendarError, parse_hours, zone

_DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class OrganisationError(ValueError):
    pass


def find(session: Session, name: str) -> Organisation | None:
    key = " ".join(name.split()).casefold()
    return session.scalar(select(Organisation).where(Organisation.name_key == key))


def by_name(session: Session, name: str) -> Organisation:
    """The organisation with this name, created the first time it is named."""
    return organisation_named(session, name)


def member_count(session: Session, organisation_id: int) -> int:
    return session.scalar(select(func.count(Person.id)).where(Person.organisation_id == organisation_id)) or 0


def update(session: Session, org: Organisation, **changes: Any) -> None:
    """Apply checked changes (OrganisationError says which value is wrong); an organisation's new calendar moves
    its open tickets' due times."""
    if "email_domains" in changes:
        domains = [str(d).strip().lower().lstrip("@") for d in changes["email_domains"] or []]
        bad = [d for d in domains if not _DOMAIN.match(d)]
        if bad:
            raise OrganisationError(f"not an e-mail domain: {', '.join(bad)}")
        org.email_domains = sorted(set(domains))
    if "timezone" in changes:
        try:
            org.timezone = zone(changes["timezone"]).key if changes["timezone"] else None
        except CalendarError as exc:
            raise OrganisationError(str(exc)) from exc
    if "business_hours" in changes:
        try:
            if changes["business_hours"]:
                parse_hours(changes["business_hours"])
        except CalendarError as exc:
            raise OrganisationError(str(exc)) from exc
        org.business_hours = changes["business_hours"] or None
    if "holidays" in changes:
        try:
            org.holidays = sorted({date.fromisoformat(str(d)).isoformat() for d in changes["holidays"] or []})
        except ValueError as exc:
            raise OrganisationError(f"holidays are ISO dates (2027-01-07): {exc}") from exc
    if "l1_group" in changes:
        org.l1_group_id = routing.group_by_slug(session, changes["l1_group"]).id if changes["l1_group"] else None
    for flag in ("vip", "active"):
        if flag in changes and changes[flag] is not None:
            setattr(org, flag, bool(changes[flag]))
    session.flush()
    if {"timezone", "business_hours", "holidays"} & changes.keys():
        for ticket in session.scalars(
            select(Ticket).where(Ticket.organisation_id == org.id, Ticket.status.in_(sla.OPEN))
        ):
            sla.recompute(session, ticket)
