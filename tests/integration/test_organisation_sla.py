"""Client organisations under their own contracts (SQLite and PostgreSQL): a ticket takes its requester's
organisation's business calendar and SLA policies, its first line and the VIP uplift; the managers' API checks a
calendar before saving it and moves the organisation's open tickets to it."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from core.db import transaction
from people.directory import import_csv
from people.identify import person_of
from tests.support.live import make_agent, running_app
from tickets import conversations, organisations, routing, service, sla
from tickets.ops_models import SLAPolicy

UTC = timezone.utc
# Friday 8 January 2027, 14:00 UTC: 17:00 in Moscow (one business hour left), 09:00 in New York (a full day ahead).
FRI_1400 = datetime(2027, 1, 8, 14, 0, tzinfo=UTC)
DIRECTORY = """email,name,department,organisation,phone,telegram_id,slack_id,language,vip
ivan@acme.example,Ivan Petrov,IT,Acme,,,,ru,no
jane@globex.example,Jane Doe,Sales,Globex,,,,en,no
vera@globex.example,Vera VIP,Board,Globex,,,,en,yes
"""


@pytest.fixture(autouse=True)
def desk_calendar():
    sla.configure("UTC", "Mon-Fri 09:00-18:00", [])
    yield
    sla.configure("UTC", "Mon-Fri 09:00-18:00", [])


@pytest.fixture
def desk(sessions):
    with transaction(sessions) as s:
        sla.ensure_default_policies(s)
        assert not import_csv(s, DIRECTORY).failed
        organisations.update(
            s, organisations.find(s, "Acme"), timezone="Europe/Moscow", business_hours="Mon-Fri 09:00-18:00"
        )
        organisations.update(
            s,
            organisations.find(s, "Globex"),
            timezone="America/New_York",
            business_hours="Mon-Fri 08:00-17:00",
            holidays=["2027-01-11"],  # Monday off
        )
    return sessions


def open_for(s, email: str, when: datetime):
    person = person_of(s, "email", email)
    conv = conversations.get_or_start_conversation(s, "email", email)
    assert conv.person_id == person.id
    ticket = service.open_ticket(s, conv, reason="user_request", question="VPN is down", bot_tried=[])
    ticket.created_at = when
    sla.recompute(s, ticket)
    return ticket


def test_two_organisations_get_different_due_times_for_the_same_ticket_time(desk):
    with transaction(desk) as s:
        acme = open_for(s, "ivan@acme.example", FRI_1400)
        globex = open_for(s, "jane@globex.example", FRI_1400)
        # Normal: first response in 4 business hours.
        # Acme (Moscow 09-18): 1 h left on Friday, 3 h on Monday from 09:00 MSK → Mon 12:00 MSK = 09:00 UTC.
        assert acme.first_response_due_at == datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
        # Globex (New York 08-17, Monday a holiday): Friday 09:00 EST + 4 h → Friday 13:00 EST = 18:00 UTC.
        assert globex.first_response_due_at == datetime(2027, 1, 8, 18, 0, tzinfo=UTC)
        # Resolution, 27 business hours: Globex skips its Monday holiday, Acme works it.
        assert acme.resolution_due_at == datetime(2027, 1, 13, 14, 0, tzinfo=UTC)  # Wed 17:00 MSK
        assert globex.resolution_due_at == datetime(2027, 1, 14, 14, 0, tzinfo=UTC)  # Thu 09:00 EST
        assert acme.organisation_id != globex.organisation_id


def test_an_organisations_own_policy_its_first_line_and_the_vip_uplift(desk):
    with transaction(desk) as s:
        globex = organisations.find(s, "Globex")
        s.add(
            SLAPolicy(
                name="Globex normal",
                priority="normal",
                first_response_minutes=30,
                resolution_minutes=120,
                organisation_id=globex.id,
            )
        )
        routing.create_group(s, "globex-desk", "Globex desk")
        organisations.update(s, globex, l1_group="globex-desk")
        jane = open_for(s, "jane@globex.example", FRI_1400)
        assert sla.ticket_policy(s, jane).name == "Globex normal"
        assert jane.first_response_due_at == datetime(2027, 1, 8, 14, 30, tzinfo=UTC)
        assert jane.group_id == routing.group_by_slug(s, "globex-desk").id
        ivan = open_for(s, "ivan@acme.example", FRI_1400)
        assert sla.ticket_policy(s, ivan).name == "Normal" and ivan.group_id is None  # Acme: the desk's defaults
        vera = open_for(s, "vera@globex.example", FRI_1400)
        assert vera.priority == "high" and sla.ticket_policy(s, vera).priority == "high"
        assert "vip_uplift" in [e.action for e in service.events(s, vera.id)]


@pytest.fixture
def app(db_url, tmp_path):
    with running_app(db_url, tmp_path, load_sample_kb=False) as (base, rt):
        with transaction(rt.sessions) as s:
            assert not import_csv(s, DIRECTORY).failed
        yield base, rt


def test_managers_set_an_organisations_calendar_and_its_open_tickets_follow(app):
    base, rt = app
    manager = make_agent(rt, "org-boss", "manager")
    with httpx.Client(base_url=base, timeout=30) as http:
        orgs = {o["name"]: o for o in http.get("/api/v1/organisations", headers=manager).json()}
        acme = orgs["Acme"]
        assert acme["people"] == 1 and acme["timezone"] is None
        with transaction(rt.sessions) as s:
            ticket = open_for(s, "ivan@acme.example", FRI_1400)
            number = ticket.id
            assert ticket.first_response_due_at == datetime(2027, 1, 8, 18, 0, tzinfo=UTC)  # the desk's UTC day
        bad = http.patch(f"/api/v1/organisations/{acme['id']}", json={"timezone": "Mars/Olympus"}, headers=manager)
        assert bad.status_code == 422 and "time zone" in bad.json()["message"]
        bad = http.patch(f"/api/v1/organisations/{acme['id']}", json={"business_hours": "Mon-Fri 9-6"}, headers=manager)
        assert bad.status_code == 422
        bad = http.patch(
            f"/api/v1/organisations/{acme['id']}", json={"email_domains": ["not a domain"]}, headers=manager
        )
        assert bad.status_code == 422 and "domain" in bad.json()["message"]
        ok = http.patch(
            f"/api/v1/organisations/{acme['id']}",
            json={"timezone": "Europe/Moscow", "email_domains": ["ACME.example"], "vip": True},
            headers=manager,
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["email_domains"] == ["acme.example"] and ok.json()["vip"]
        after = http.get(f"/api/v1/tickets/{number}", headers=manager).json()
        assert after["first_response_due_at"].startswith("2027-01-11T09:00")
        assert after["requester"]["vip"]  # the organisation is VIP now
        created = http.post(
            "/api/v1/organisations", json={"name": "Initech", "email_domains": ["initech.example"]}, headers=manager
        )
        assert created.status_code == 201
        again = http.post("/api/v1/organisations", json={"name": " initech "}, headers=manager)
        assert again.status_code == 409
    # A stranger from the organisation's domain joins it on their first message (provisional, not lost).
    with transaction(rt.sessions) as s:
        conv = conversations.get_or_start_conversation(s, "email", "newbie@initech.example")
        person = person_of(s, "email", "newbie@initech.example")
        assert conv.person_id == person.id and person.provisional
        assert person.organisation_id == organisations.find(s, "Initech").id


def test_managers_give_an_organisation_its_own_policy_through_the_api(app):
    base, rt = app
    manager = make_agent(rt, "policy-boss", "manager")
    with httpx.Client(base_url=base, timeout=30) as http:
        orgs = {o["name"]: o["id"] for o in http.get("/api/v1/organisations", headers=manager).json()}
        body = {"name": "Globex normal", "priority": "normal", "first_response_minutes": 30, "resolution_minutes": 240}
        made = http.post("/api/v1/admin/sla-policies", json=body | {"organisation_id": orgs["Globex"]}, headers=manager)
        assert made.status_code == 201 and made.json()["organisation_id"] == orgs["Globex"]
        twice = http.post(
            "/api/v1/admin/sla-policies", json=body | {"organisation_id": orgs["Globex"]}, headers=manager
        )
        assert twice.status_code == 409
        nowhere = http.post("/api/v1/admin/sla-policies", json=body | {"organisation_id": 999999}, headers=manager)
        assert nowhere.status_code == 422
    with transaction(rt.sessions) as s:
        jane = open_for(s, "jane@globex.example", FRI_1400)
        assert sla.ticket_policy(s, jane).name == "Globex normal"
