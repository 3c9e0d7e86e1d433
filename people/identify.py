"""Who sent a message: a channel identity → a person, on every channel, the same way.

A known identity finds its person. An unknown one is linked by what the channel vouches for — an e-mail sender
by their address, a Slack user by the address Slack holds for them (`users.info`), an SMS or call by the number —
and otherwise becomes a **provisional** person: kept, never blocked, completed later by a directory import,
an LDAP sync, a `/link` code or an agent's merge.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.inputs import normalize_ref
from people.directory import canonical_phone
from people.models import Organisation, Person, PersonIdentity

# A channel's user refs are identities of this kind (SMS and phone calls both come from a number).
KIND_OF_CHANNEL = {
    "web": "web",
    "telegram": "telegram",
    "slack": "slack",
    "email": "email",
    "sms": "phone",
    "phone": "phone",
}


def identity_kind(channel: str) -> str:
    return KIND_OF_CHANNEL.get(channel, channel)


def canonical_ref(kind: str, ref: str) -> str:
    if kind == "phone":
        return canonical_phone(ref)
    return normalize_ref(kind, ref)


def person_of(session: Session, kind: str, ref: str) -> Person | None:
    ref = canonical_ref(kind, ref)
    person_id = session.scalar(
        select(PersonIdentity.person_id).where(PersonIdentity.kind == kind, PersonIdentity.ref == ref)
    )
    return session.get(Person, person_id) if person_id is not None else None


def person_by_email(session: Session, email: str) -> Person | None:
    address = normalize_ref("email", email)
    found = session.scalar(select(Person).where(Person.email == address))
    return found if found is not None else person_of(session, "email", address)


def organisation_for_email(session: Session, email: str | None) -> Organisation | None:
    """The organisation whose e-mail domains include this address's domain (exact domain match)."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].casefold()
    for org in session.scalars(select(Organisation).where(Organisation.active.is_(True))):
        if domain in {str(d).casefold() for d in org.email_domains or ()}:
            return org
    return None


def link(session: Session, person: Person, kind: str, ref: str, source: str) -> PersonIdentity:
    """Give `person` this identity; ValueError if it already belongs to someone else."""
    ref = canonical_ref(kind, ref)
    row = session.scalar(select(PersonIdentity).where(PersonIdentity.kind == kind, PersonIdentity.ref == ref))
    if row is not None:
        if row.person_id != person.id:
            raise ValueError(f"{kind} {ref} already belongs to another person")
        return row
    row = PersonIdentity(person_id=person.id, kind=kind, ref=ref, source=source)
    session.add(row)
    session.flush()
    return row


def provisional_person(session: Session, name: str) -> Person:
    """Someone known only by a name (a phone call without a callback number)."""
    person = Person(name=name, provisional=True, source="message")
    session.add(person)
    session.flush()
    return person


def person_for_sender(
    session: Session, channel: str, ref: str, *, name: str | None = None, email: str | None = None
) -> Person:
    """The person behind (channel, ref), linking or creating them as the module docstring says.

    `email` is an address the platform itself vouches for (Slack's profile, a signed web-chat embed, an SSO
    claim) — never one a user merely typed: that would let anyone read someone else's tickets.
    """
    kind = identity_kind(channel)
    found = person_of(session, kind, ref)
    if found is not None:
        return found
    if kind == "email":
        email = ref
    vouched = person_by_email(session, email) if email else None
    if vouched is None and kind == "phone":
        vouched = session.scalar(select(Person).where(Person.phone == canonical_phone(ref)).order_by(Person.id))
    try:
        with session.begin_nested():  # two first messages at once: the loser re-reads the winner's identity
            person = vouched
            if person is None:
                org = organisation_for_email(session, email)
                person = Person(
                    name=name or "",
                    email=normalize_ref("email", email) if email else None,
                    phone=canonical_phone(ref) if kind == "phone" else None,
                    organisation_id=org.id if org else None,
                    provisional=True,
                    source="message",
                )
                session.add(person)
                session.flush()
                if kind != "email" and person.email:
                    link(session, person, "email", person.email, "message")
            link(session, person, kind, ref, "message")
    except IntegrityError:
        again = person_of(session, kind, ref)
        if again is None:
            raise
        return again
    if person.provisional and name and not person.name:
        person.name = name
    return person
