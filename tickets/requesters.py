"""Requesters: the person behind a ticket, as the desk sees and manages them.

What a new ticket takes from its requester (organisation, its first line, the VIP uplift), the requester card an
agent reads, people search, one person's tickets across every channel, and the agent's hand tools: link an
identity to a person, merge two people into one.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from core.inputs import clean_text
from people import link_codes
from people.directory import canonical_phone
from people.identify import canonical_ref, link, person_of
from people.models import IDENTITY_KINDS, Organisation, Person, PersonIdentity
from tickets.models import Conversation, Ticket

PRIORITY_ORDER = ("low", "normal", "high", "critical")
PHONE_LIKE = re.compile(r"\+?[\d ()\-.]{3,30}")
VIP_PRIORITY = "high"  # a VIP's ticket starts at least here


class PersonError(ValueError):
    pass


def apply_to_new_ticket(session: Session, ticket: Ticket, conv: Conversation) -> list[str]:
    """Copy the requester onto a new ticket (before routing and SLA): the person, their organisation, the
    organisation's own first line, the VIP uplift. Returns what changed, for the ticket's audit trail."""
    notes: list[str] = []
    person = session.get(Person, conv.person_id) if conv.person_id is not None else None
    if person is None:
        return notes
    ticket.person_id = person.id
    org = session.get(Organisation, person.organisation_id) if person.organisation_id is not None else None
    ticket.organisation_id = org.id if org else None
    if org is not None and org.l1_group_id is not None and ticket.group_id is None:
        ticket.group_id = org.l1_group_id
        notes.append("organisation_l1_group")
    if (person.vip or (org is not None and org.vip)) and _rank(ticket.priority) < _rank(VIP_PRIORITY):
        ticket.priority = VIP_PRIORITY
        notes.append("vip_uplift")
    return notes


def _rank(priority: str) -> int:
    return PRIORITY_ORDER.index(priority) if priority in PRIORITY_ORDER else 1


def identities(session: Session, person_id: int) -> list[PersonIdentity]:
    return list(
        session.scalars(select(PersonIdentity).where(PersonIdentity.person_id == person_id).order_by(PersonIdentity.id))
    )


def tickets_of(session: Session, person_id: int, limit: int = 200) -> list[Ticket]:
    """Every ticket of this person, from every channel, newest first."""
    return list(
        session.scalars(select(Ticket).where(Ticket.person_id == person_id).order_by(Ticket.id.desc()).limit(limit))
    )


def _facts(person: Person, org: Organisation | None) -> dict[str, Any]:
    """Who the person is, as the API and the console show them."""
    return {
        "name": person.name or None,
        "email": person.email,
        "claimed_email": person.claimed_email,
        "phone": person.phone,
        "department": person.department or None,
        "organisation": org.name if org else None,
        "organisation_id": org.id if org else None,
        "language": person.language,
        "vip": bool(person.vip or (org is not None and org.vip)),
        "active": person.active,
        "provisional": person.provisional,
    }


def card(session: Session, person: Person | None, *, exclude_ticket: int | None = None) -> dict[str, Any] | None:
    """The requester card: who they are, how to reach them, and their earlier tickets across channels."""
    if person is None:
        return None
    org = session.get(Organisation, person.organisation_id) if person.organisation_id is not None else None
    earlier = [t for t in tickets_of(session, person.id, 20) if t.id != exclude_ticket]
    return {
        "id": person.id,
        **_facts(person, org),
        "identities": [{"kind": i.kind, "ref": i.ref, "source": i.source} for i in identities(session, person.id)],
        "tickets": [
            {"number": t.id, "subject": t.subject, "status": t.status, "channel": t.channel, "created_at": t.created_at}
            for t in earlier
        ],
    }


def summaries(session: Session, tickets: list[Ticket]) -> dict[int, dict[str, Any]]:
    """Each ticket's requester (RequesterOut's fields) for a page of tickets, in two queries."""
    person_ids = {t.person_id for t in tickets if t.person_id is not None}
    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(person_ids)))} if person_ids else {}
    org_ids = {p.organisation_id for p in people.values() if p.organisation_id is not None}
    orgs = (
        {o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(org_ids)))} if org_ids else {}
    )
    out: dict[int, dict[str, Any]] = {}
    for t in tickets:
        p = people.get(t.person_id) if t.person_id is not None else None
        org = orgs.get(p.organisation_id) if p is not None and p.organisation_id is not None else None
        out[t.id] = {"ref": t.requester} | ({"person_id": p.id, **_facts(p, org)} if p is not None else {})
    return out


def search(session: Session, q: str, limit: int = 50, organisation_id: int | None = None) -> list[Person]:
    """People whose name, e-mail or any identity (a phone number typed any way, a Telegram id, an address)
    contains `q`; only one organisation's when `organisation_id` is given."""
    q = clean_text(q).strip()
    scope = select(Person)
    if organisation_id is not None:
        scope = scope.where(Person.organisation_id == organisation_id)
    query = scope
    if q:
        like = f"%{q.casefold()}%"
        refs = [func.lower(PersonIdentity.ref).like(like)]
        if PHONE_LIKE.fullmatch(q):  # "600 100", "(495) 123-45": compared as the digits are stored
            refs.append(PersonIdentity.ref.like(f"%{canonical_phone(q)}%"))
        by_identity = select(PersonIdentity.person_id).where(or_(*refs))
        query = query.where(
            or_(func.lower(Person.name).like(like), func.lower(Person.email).like(like), Person.id.in_(by_identity))
        )
    rows = list(session.scalars(query.order_by(Person.name, Person.id).limit(limit)))
    if q and not q.isascii() and session.get_bind().dialect.name == "sqlite":
        # SQLite's lower() folds only ASCII: a Cyrillic name is matched in Python, where casefold() is exact.
        folded = q.casefold()
        named = [p for p in session.scalars(scope.order_by(Person.id).limit(20_000)) if folded in p.name.casefold()]
        rows = list({p.id: p for p in rows + named}.values())
    return rows[:limit]


def link_identity(session: Session, person: Person, kind: str, ref: str) -> PersonIdentity:
    """An agent links a channel identity to a person. An identity a provisional person holds moves over (with
    their tickets: a merge); one a directory person holds is refused — merge the two people instead."""
    if kind not in IDENTITY_KINDS:
        raise PersonError(f"kind must be one of {', '.join(IDENTITY_KINDS)}")
    ref = canonical_ref(kind, ref)
    if not ref:
        raise PersonError("ref must not be empty")
    owner_id = session.scalar(
        select(PersonIdentity.person_id).where(PersonIdentity.kind == kind, PersonIdentity.ref == ref)
    )
    if owner_id is not None and owner_id != person.id:
        owner = session.get_one(Person, owner_id)
        if not owner.provisional:
            raise PersonError(f"{kind} {ref} belongs to {owner.name or owner.email or owner.id}: merge the two people")
        merge(session, keep=person, drop=owner)
    try:
        return link(session, person, kind, ref, "agent")
    except ValueError as exc:
        raise PersonError(str(exc)) from exc


def merge(session: Session, keep: Person, drop: Person) -> Person:
    """`drop` is the same human as `keep`: their identities, conversations and tickets move to `keep`, the empty
    fields of `keep` take `drop`'s values, and `drop` is deleted."""
    if keep.id == drop.id:
        raise PersonError("a person cannot be merged into themselves")
    for attr in ("name", "phone", "department", "organisation_id", "language", "claimed_email"):
        if not getattr(keep, attr) and getattr(drop, attr):
            setattr(keep, attr, getattr(drop, attr))
    if keep.email is None and drop.email is not None:
        address, drop.email = drop.email, None
        session.flush()  # the unique address moves: free it first
        keep.email = address
    keep.vip = keep.vip or drop.vip
    keep.provisional = keep.provisional and drop.provisional
    for model in (Conversation, Ticket):
        session.execute(update(model).where(model.person_id == drop.id).values(person_id=keep.id))
    session.execute(update(PersonIdentity).where(PersonIdentity.person_id == drop.id).values(person_id=keep.id))
    session.flush()
    session.delete(drop)
    session.flush()
    return keep


def redeem_link_code(session: Session, person_id: int | None, code: str) -> str:
    """`/link CODE` sent by the person `person_id`: the identity the code was issued to joins them. Returns what
    happened: linked | already | bad_code | conflict (both are directory people: an agent merges them)."""
    found = link_codes.redeem(session, code)
    me = session.get(Person, person_id) if person_id is not None else None
    if found is None or me is None:
        return "bad_code"
    kind, ref = found
    other = person_of(session, kind, ref)
    if other is None:
        link(session, me, kind, ref, "link_code")
        return "linked"
    if other.id == me.id:
        return "already"
    if other.provisional:
        merge(session, keep=me, drop=other)
    elif me.provisional:
        merge(session, keep=other, drop=me)
    else:
        return "conflict"
    return "linked"
