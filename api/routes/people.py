"""People and organisations: find a requester, see everything they asked, link and merge them; the outsourcer's
client organisations with their own contract (domains, calendar, first line, VIP)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from api.deps import AgentDep, ManagerDep, ReadSessionDep, SessionDep, ViewerDep, visible_organisation
from api.schemas import (
    IdentityIn,
    MergeIn,
    OrganisationIn,
    OrganisationOut,
    OrganisationPatchIn,
    PersonOut,
    PersonPatchIn,
)
from people.models import Organisation, Person
from tickets import organisations, requesters, routing
from tickets.errors import NotFound

router = APIRouter(prefix="/api/v1", tags=["people"])


def person_out(session, person: Person) -> PersonOut:
    card = requesters.card(session, person)
    assert card is not None
    return PersonOut(
        **{k: v for k, v in card.items() if k != "organisation_id"}, organisation_id=card["organisation_id"]
    )


def _person(session, person_id: int, viewer=None) -> Person:
    person = session.get(Person, person_id)
    scope = visible_organisation(viewer) if viewer is not None else None
    if person is None or (scope is not None and person.organisation_id != scope):
        raise HTTPException(404, f"person {person_id} does not exist")
    return person


@router.get("/people", response_model=list[PersonOut], summary="Find people by name, e-mail, phone or chat id")
def search_people(
    session: ReadSessionDep,
    viewer: ViewerDep,
    q: str = Query("", max_length=200, description="part of a name, an e-mail address, a number or a chat id"),
    limit: int = Query(50, ge=1, le=200),
) -> list[PersonOut]:
    found = requesters.search(session, q, limit, organisation_id=visible_organisation(viewer))
    return [person_out(session, p) for p in found]


@router.get("/people/{person_id}", response_model=PersonOut, summary="A person, their channels and every ticket")
def get_person(person_id: int, session: ReadSessionDep, viewer: ViewerDep) -> PersonOut:
    return person_out(session, _person(session, person_id, viewer))


@router.patch("/people/{person_id}", response_model=PersonOut, summary="Correct a person's details")
def update_person(person_id: int, body: PersonPatchIn, session: SessionDep, agent: AgentDep) -> PersonOut:
    person = _person(session, person_id)
    changes = body.model_dump(exclude_unset=True)
    if ("vip" in changes or "active" in changes) and agent.role != "manager":
        raise HTTPException(403, "VIP and active are a manager's decision")
    if "organisation" in changes:
        name = changes.pop("organisation")
        person.organisation_id = organisations.by_name(session, name).id if name else None
    for attr, value in changes.items():
        setattr(person, attr, value)
    person.provisional = False if changes.get("name") else person.provisional
    session.commit()
    return person_out(session, person)


@router.post("/people/{person_id}/identities", response_model=PersonOut, summary="Link a channel identity by hand")
def link_identity(person_id: int, body: IdentityIn, session: SessionDep, agent: AgentDep) -> PersonOut:
    person = _person(session, person_id)
    try:
        requesters.link_identity(session, person, body.kind, body.ref)
    except requesters.PersonError as exc:
        raise HTTPException(409, str(exc)) from exc
    session.commit()
    return person_out(session, person)


@router.post("/people/{person_id}/merge", response_model=PersonOut, summary="Merge another person into this one")
def merge_people(person_id: int, body: MergeIn, session: SessionDep, agent: AgentDep) -> PersonOut:
    keep, drop = _person(session, person_id), _person(session, body.other_id)
    try:
        requesters.merge(session, keep, drop)
    except requesters.PersonError as exc:
        raise HTTPException(409, str(exc)) from exc
    session.commit()
    return person_out(session, keep)


def organisation_out(session, org: Organisation) -> OrganisationOut:
    group = routing.group_slugs(session).get(org.l1_group_id) if org.l1_group_id is not None else None
    return OrganisationOut(
        id=org.id,
        name=org.name,
        active=org.active,
        email_domains=list(org.email_domains or []),
        timezone=org.timezone,
        business_hours=org.business_hours,
        holidays=list(org.holidays or []),
        l1_group=group,
        vip=org.vip,
        people=organisations.member_count(session, org.id),
    )


@router.get("/organisations", response_model=list[OrganisationOut], summary="Client organisations")
def list_organisations(session: ReadSessionDep, viewer: ViewerDep) -> list[OrganisationOut]:
    scope = visible_organisation(viewer)
    q = select(Organisation).order_by(Organisation.name)
    if scope is not None:
        q = q.where(Organisation.id == scope)
    return [organisation_out(session, o) for o in session.scalars(q)]


def _apply(session, org: Organisation, changes: dict) -> None:
    try:
        organisations.update(session, org, **changes)
    except organisations.OrganisationError as exc:
        raise HTTPException(422, str(exc)) from exc
    except NotFound as exc:
        raise HTTPException(422, str(exc)) from exc


@router.post("/organisations", response_model=OrganisationOut, status_code=201, summary="Add a client organisation")
def create_organisation(body: OrganisationIn, session: SessionDep, manager: ManagerDep) -> OrganisationOut:
    if organisations.find(session, body.name) is not None:
        raise HTTPException(409, f"an organisation named {body.name!r} already exists")
    org = organisations.by_name(session, body.name)
    _apply(session, org, body.model_dump(exclude={"name"}, exclude_unset=True))
    session.commit()
    return organisation_out(session, org)


@router.patch(
    "/organisations/{organisation_id}", response_model=OrganisationOut, summary="Change an organisation's contract"
)
def update_organisation(
    organisation_id: int, body: OrganisationPatchIn, session: SessionDep, manager: ManagerDep
) -> OrganisationOut:
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise HTTPException(404, f"organisation {organisation_id} does not exist")
    _apply(session, org, body.model_dump(exclude_unset=True))
    session.commit()
    return organisation_out(session, org)
