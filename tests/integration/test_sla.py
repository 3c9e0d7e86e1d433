"""SLA policies and due times on tickets (SQLite and PostgreSQL): policy choice, business-hour due times,
the pause while waiting for the user, breaches on late resolution, sla_state; and the managers' API for
policies and holidays against the running app."""

from __future__ import annotations

import itertools
import time
from datetime import date, datetime, timezone

import httpx
import pytest
from sqlalchemy import select

from core.db import transaction
from tests.support.live import make_agent, running_app
from tickets import conversations, service, sla
from tickets.agents import create_agent
from tickets.models import Agent, Conversation, Ticket, TicketEvent
from tickets.ops_models import Category, Holiday, SLAPolicy
from tickets.sla_clock import parse_dates

UTC = timezone.utc
MON_0900 = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
FRI_1730 = datetime(2027, 1, 8, 17, 30, tzinfo=UTC)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(autouse=True)
def office_calendar(request):
    """The SLA calendar is per process: DB tests use the office default, API tests their app's settings."""
    if "app" in request.fixturenames:
        settings = request.getfixturevalue("app")[1].settings
        sla.configure(settings.timezone, settings.business_hours, parse_dates(settings.holidays))
    else:
        sla.configure("UTC", "Mon-Fri 09:00-18:00", [])
    yield
    sla.configure("UTC", "Mon-Fri 09:00-18:00", [])


@pytest.fixture
def desk(sessions):
    with transaction(sessions) as s:
        assert sla.ensure_default_policies(s)
    return sessions


_users = itertools.count()


def new_ticket(s, created: datetime, priority: str = "normal", category: str | None = None) -> Ticket:
    conv = Conversation(channel="web", user_ref=f"u{next(_users)}", thread_ref="", offered=[])
    s.add(conv)
    s.flush()
    t = Ticket(
        conversation_id=conv.id,
        requester=conv.user_ref,
        channel="web",
        subject="vpn",
        question="vpn down",
        handoff_reason="user_request",
        bot_tried=[],
        priority=priority,
        category=category,
        created_at=created,
    )
    s.add(t)
    s.flush()
    sla.ticket_opened(s, t, now=created)
    return t


def events(s, t: Ticket, action: str) -> list[TicketEvent]:
    return list(s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == t.id, TicketEvent.action == action)))


# -- policies and due times -----------------------------------------------------------------------
def test_default_policies_are_seeded_once(sessions):
    with transaction(sessions) as s:
        assert sla.ensure_default_policies(s) is True
    with transaction(sessions) as s:
        s.get(SLAPolicy, 1).first_response_minutes = 45  # a manager's edit
        assert sla.ensure_default_policies(s) is False
    with sessions() as s:
        rows = {p.priority: p for p in s.scalars(select(SLAPolicy))}
    assert sorted(rows) == ["critical", "high", "low", "normal"]
    assert [rows[p].name for p in ("critical", "high", "normal", "low")] == ["Critical (24x7)", "High", "Normal", "Low"]
    assert (rows["critical"].first_response_minutes, rows["critical"].resolution_minutes) == (45, 240)
    assert rows["critical"].business_hours is False and rows["critical"].auto_escalate is True
    assert (rows["normal"].first_response_minutes, rows["normal"].resolution_minutes) == (240, 27 * 60)
    assert (rows["low"].first_response_minutes, rows["low"].resolution_minutes) == (480, 45 * 60)


def test_due_times_follow_business_hours_per_priority(desk):
    with transaction(desk) as s:
        normal = new_ticket(s, FRI_1730, "normal")
        high = new_ticket(s, FRI_1730, "high")
        critical = new_ticket(s, FRI_1730, "critical")
    # Normal: 4 business hours → Monday 12:30; 27 business hours → Wednesday 17:30.
    assert (normal.first_response_due_at, normal.resolution_due_at) == (
        utc(2027, 1, 11, 12, 30),
        utc(2027, 1, 13, 17, 30),
    )
    # High: 1 business hour → Monday 09:30; 8 business hours (30 min Friday + 7.5 h) → Monday 16:30.
    assert (high.first_response_due_at, high.resolution_due_at) == (utc(2027, 1, 11, 9, 30), utc(2027, 1, 11, 16, 30))
    # Critical is 24x7: 30 minutes and 4 hours of wall-clock time.
    assert (critical.first_response_due_at, critical.resolution_due_at) == (
        utc(2027, 1, 8, 18, 0),
        utc(2027, 1, 8, 21, 30),
    )
    with desk() as s:  # as stored
        assert s.get(Ticket, high.id).first_response_due_at == utc(2027, 1, 11, 9, 30)


def test_holidays_from_the_calendar_and_from_settings_move_due_times(desk):
    with transaction(desk) as s:
        s.add(Holiday(day=date(2027, 1, 11), name="Company day"))
    with transaction(desk) as s:
        assert new_ticket(s, FRI_1730, "high").first_response_due_at == utc(2027, 1, 12, 9, 30)
    sla.configure("UTC", "Mon-Fri 09:00-18:00", [date(2027, 1, 12)])
    with transaction(desk) as s:
        assert new_ticket(s, FRI_1730, "high").first_response_due_at == utc(2027, 1, 13, 9, 30)


def test_a_category_policy_beats_the_priority_default_and_no_policy_means_no_clock(desk):
    with transaction(desk) as s:
        s.add(
            SLAPolicy(
                name="Network outage",
                priority="normal",
                category="network",
                first_response_minutes=15,
                resolution_minutes=120,
            )
        )
    with transaction(desk) as s:
        net = new_ticket(s, MON_0900, "normal", "network")
        other = new_ticket(s, MON_0900, "normal", "printers")
        s.scalar(select(SLAPolicy).where(SLAPolicy.priority == "low")).active = False
        s.flush()
        low = new_ticket(s, MON_0900, "low")
    assert (net.first_response_due_at, net.resolution_due_at) == (utc(2027, 1, 11, 9, 15), utc(2027, 1, 11, 11, 0))
    assert other.first_response_due_at == utc(2027, 1, 11, 13, 0)
    assert low.sla_policy_id is None and low.resolution_due_at is None
    assert sla.sla_state(low, MON_0900) == "none"


def test_a_pause_while_waiting_for_the_user_moves_the_resolution_due_by_the_paused_business_time(desk):
    with transaction(desk) as s:
        t = new_ticket(s, MON_0900, "high")  # resolution due Monday 17:00
        assert t.resolution_due_at == utc(2027, 1, 11, 17, 0)
        t.first_response_at, t.status = utc(2027, 1, 11, 9, 59), "pending_user"  # the agent asked something
        sla.status_changed(s, t, "open", "pending_user", now=utc(2027, 1, 11, 10, 0))
        assert t.sla_paused_at == utc(2027, 1, 11, 10, 0)
        assert sla.sla_state(t, utc(2027, 1, 11, 18, 0)) == "paused"  # past the old due time, but paused
        t.status = "open"
        sla.status_changed(s, t, "pending_user", "open", now=utc(2027, 1, 11, 12, 0))
    # Two business hours paused: due 17:00 + 2 business hours = Tuesday 10:00.
    assert (t.sla_paused_at, t.sla_paused_minutes) == (None, 120)
    assert t.resolution_due_at == utc(2027, 1, 12, 10, 0)
    assert t.first_response_due_at == utc(2027, 1, 11, 10, 0)  # the first-response clock is not paused
    with transaction(desk) as s:  # a pause over the weekend counts only its business time (Fri 17:00 → Mon 10:00)
        t2 = new_ticket(s, utc(2027, 1, 8, 9, 0), "normal")  # resolution due Wednesday 09:00 + 0 → 27 h
        before = t2.resolution_due_at
        sla.status_changed(s, t2, "open", "pending_user", now=utc(2027, 1, 8, 17, 0))
        sla.status_changed(s, t2, "pending_user", "open", now=utc(2027, 1, 11, 10, 0))
        assert t2.sla_paused_minutes == 120 and t2.resolution_due_at == sla.calendar(s, None).add_minutes(before, 120)


def test_a_pause_after_the_deadline_does_not_undo_the_breach(desk):
    with transaction(desk) as s:
        t = new_ticket(s, MON_0900, "high")
        sla.status_changed(s, t, "open", "pending_user", now=utc(2027, 1, 11, 17, 30))
        assert sla.sla_state(t, utc(2027, 1, 11, 17, 45)) == "breached"
        sla.status_changed(s, t, "pending_user", "open", now=utc(2027, 1, 12, 12, 0))
        assert t.resolution_due_at == utc(2027, 1, 11, 17, 0) and t.sla_paused_minutes == 0


def test_resolving_late_marks_the_breach_and_in_time_is_met(desk):
    with transaction(desk) as s:
        late = new_ticket(s, MON_0900, "high")
        late.first_response_at = utc(2027, 1, 11, 9, 45)  # first response was due 10:00: met
        late.status, late.resolved_at = "resolved", utc(2027, 1, 11, 17, 5)
        sla.status_changed(s, late, "open", "resolved", now=utc(2027, 1, 11, 17, 5))
        ok = new_ticket(s, MON_0900, "high")
        ok.first_response_at = utc(2027, 1, 11, 10, 30)  # 30 minutes late
        ok.status, ok.resolved_at = "resolved", utc(2027, 1, 11, 16, 0)
        sla.status_changed(s, ok, "open", "resolved", now=utc(2027, 1, 11, 16, 0))
        assert late.resolution_breached_at == utc(2027, 1, 11, 17, 5) and late.first_response_breached_at is None
        assert ok.resolution_breached_at is None and ok.first_response_breached_at == utc(2027, 1, 11, 16, 0)
        assert [e.detail["clock"] for e in events(s, late, "sla_breach")] == ["resolution"]
        assert [e.detail["clock"] for e in events(s, ok, "sla_breach")] == ["first_response"]
        assert sla.sla_state(late) == "breached" and sla.sla_state(ok) == "breached"
        fine = new_ticket(s, MON_0900, "high")
        fine.first_response_at = utc(2027, 1, 11, 9, 10)
        fine.status, fine.resolved_at = "resolved", utc(2027, 1, 11, 12, 0)
        sla.status_changed(s, fine, "open", "resolved", now=utc(2027, 1, 11, 12, 0))
        assert sla.sla_state(fine, utc(2027, 1, 20)) == "met" and fine.resolution_breached_at is None


def test_resolving_while_paused_counts_the_pause(desk):
    with transaction(desk) as s:
        t = new_ticket(s, MON_0900, "high")  # resolution due 17:00
        sla.status_changed(s, t, "open", "pending_user", now=utc(2027, 1, 11, 10, 0))
        t.status, t.resolved_at = "resolved", utc(2027, 1, 11, 17, 30)
        sla.status_changed(s, t, "pending_user", "resolved", now=utc(2027, 1, 11, 17, 30))
        assert t.sla_paused_at is None and t.sla_paused_minutes == 450
        assert t.resolution_breached_at is None and sla.sla_state(t) == "met"


def test_sla_state_ok_at_risk_breached(desk):
    with transaction(desk) as s:
        t = new_ticket(s, MON_0900, "normal")  # first response due 13:00, warn when 48 business minutes left
        assert sla.sla_state(t, utc(2027, 1, 11, 12, 0)) == "ok"
        assert sla.sla_state(t, utc(2027, 1, 11, 12, 12)) == "at_risk"
        assert sla.sla_state(t, utc(2027, 1, 11, 13, 0)) == "breached"
        t.first_response_at = utc(2027, 1, 11, 12, 30)
        assert sla.sla_state(t, utc(2027, 1, 11, 13, 0)) == "ok"  # now only the resolution clock runs
        # Opened Friday 14:30: first response due Monday 09:30, at risk from Friday 17:42 (48 business minutes
        # left), not from Monday 08:42 as wall-clock time would say.
        f = new_ticket(s, utc(2027, 1, 8, 14, 30), "normal")
        assert f.first_response_due_at == utc(2027, 1, 11, 9, 30)
        assert sla.sla_state(f, utc(2027, 1, 8, 17, 30)) == "ok"
        assert sla.sla_state(f, utc(2027, 1, 9, 12, 0)) == "at_risk"


def test_a_new_priority_recomputes_due_times_from_creation_plus_the_paused_time(desk):
    with transaction(desk) as s:
        t = new_ticket(s, MON_0900, "normal")
        sla.status_changed(s, t, "open", "pending_user", now=utc(2027, 1, 11, 10, 0))
        sla.status_changed(s, t, "pending_user", "open", now=utc(2027, 1, 11, 11, 0))
        t.resolution_warned_at = utc(2027, 1, 11, 11, 0)
        t.priority = "high"
        sla.priority_changed(s, t, "normal", now=utc(2027, 1, 11, 11, 30))
        assert t.sla_policy_id == s.scalar(select(SLAPolicy.id).where(SLAPolicy.priority == "high"))
        assert t.first_response_due_at == utc(2027, 1, 11, 10, 0)
        assert t.resolution_due_at == utc(2027, 1, 11, 18, 0)  # 8 h + the 1 h pause
        assert t.resolution_warned_at is None  # a new target gets its own warning
        t.priority = "critical"
        sla.priority_changed(s, t, "high")
        assert t.resolution_due_at == utc(2027, 1, 11, 14, 0)  # 24x7: 4 h + 1 h pause


def test_the_service_desk_flow_sets_pauses_and_resumes_the_clock(desk):
    """Through the real service functions: opening sets due times, the agent's reply pauses, the user's
    answer resumes."""
    with transaction(desk) as s:
        create_agent(s, "ann", "l1")
        conv = Conversation(channel="web", user_ref="flow", thread_ref="", offered=[])
        s.add(conv)
        s.flush()
        number = service.open_ticket(s, conv, reason="user_request", question="printer jam", bot_tried=[]).id
    with transaction(desk) as s:
        t = s.get(Ticket, number)
        assert t.sla_policy_id is not None and t.first_response_due_at > t.created_at
        assert sla.sla_state(t) == "ok"  # all 4 business hours of the first-response target are left
        ann = s.scalar(select(Agent).where(Agent.name == "ann"))
        service.claim_ticket(s, number, ann)
        service.agent_message(s, number, ann, "Which printer?")
    with transaction(desk) as s:
        t = s.get(Ticket, number)
        assert t.status == "pending_user" and t.sla_paused_at is not None and sla.sla_state(t) == "paused"
        conv = s.get(Conversation, t.conversation_id)
        service.user_message_on_ticket(s, conv, conversations.add_message(s, conv, "user", "2nd floor"))
    with desk() as s:
        t = s.get(Ticket, number)
        assert t.status == "open" and t.sla_paused_at is None


# -- the managers' API ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(module_db_url, tmp_path_factory, embedder):
    with running_app(
        module_db_url,
        tmp_path_factory.mktemp("data"),
        load_sample_kb=False,
        holidays="2027-12-31",
        sla_check_seconds=0.2,
    ) as (base, runtime):
        yield base, runtime


def test_policies_api(app):
    base, runtime = app
    boss, agent = make_agent(runtime, "sla-boss", "manager"), make_agent(runtime, "sla-l1", "l1")
    with transaction(runtime.sessions) as s:
        s.add(Category(slug="vpn", name="VPN", line="L1", tags=[]))
    with httpx.Client(base_url=base, timeout=30) as http:
        r = http.get("/api/v1/admin/sla-policies", headers=agent)
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        policies = http.get("/api/v1/admin/sla-policies", headers=boss).json()
        assert [p["priority"] for p in policies] == ["critical", "high", "normal", "low"]  # seeded at start
        high = policies[1]

        body = {
            "name": "VPN high",
            "priority": "high",
            "category": "vpn",
            "first_response_minutes": 15,
            "resolution_minutes": 120,
        }
        r = http.post("/api/v1/admin/sla-policies", json=body, headers=boss)
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["business_hours"] is True and created["warn_ratio"] == 0.2 and created["category"] == "vpn"
        assert http.post("/api/v1/admin/sla-policies", json=body, headers=boss).status_code == 409
        dup_default = {**body, "category": None, "name": "another high"}
        r = http.post("/api/v1/admin/sla-policies", json=dup_default, headers=boss)
        assert r.status_code == 409 and f"policy #{high['id']}" in r.json()["message"]
        for bad, words in [
            ({**body, "category": "nope"}, "unknown category 'nope'"),
            ({**body, "priority": "urgent"}, "priority"),
            ({**body, "first_response_minutes": 0}, "first_response_minutes"),
            ({**body, "first_response_minutes": 300}, "cannot be longer"),
            ({**body, "warn_ratio": 1.5}, "warn_ratio"),
        ]:
            r = http.post("/api/v1/admin/sla-policies", json=bad, headers=boss)
            assert r.status_code == 422 and words in r.json()["message"], (bad, r.text)

        r = http.put(
            f"/api/v1/admin/sla-policies/{high['id']}",
            json={"first_response_minutes": 90, "auto_escalate": True},
            headers=boss,
        )
        assert r.status_code == 200, r.text
        assert (r.json()["first_response_minutes"], r.json()["resolution_minutes"], r.json()["auto_escalate"]) == (
            90,
            480,
            True,
        )
        assert (
            http.put(
                f"/api/v1/admin/sla-policies/{high['id']}", json={"resolution_minutes": 60}, headers=boss
            ).status_code
            == 422
        )
        assert http.put("/api/v1/admin/sla-policies/99999", json={"name": "x"}, headers=boss).status_code == 404
        assert (
            http.put(f"/api/v1/admin/sla-policies/{high['id']}", json={"name": None}, headers=boss).status_code == 422
        )
    with runtime.sessions() as s:
        assert s.get(SLAPolicy, high["id"]).first_response_minutes == 90


def test_holidays_api_and_open_tickets_follow_the_calendar(app):
    base, runtime = app
    boss, agent = make_agent(runtime, "cal-boss", "manager"), make_agent(runtime, "cal-l2", "l2")
    with transaction(runtime.sessions) as s:  # an open low-priority ticket opened on Friday 17:30, 2027-12-24
        conv = Conversation(channel="web", user_ref="cal", thread_ref="", offered=[])
        s.add(conv)
        s.flush()
        t = Ticket(
            conversation_id=conv.id,
            requester="cal",
            channel="web",
            subject="x",
            question="x",
            handoff_reason="user_request",
            bot_tried=[],
            priority="low",
            created_at=utc(2027, 12, 24, 17, 30),
        )
        s.add(t)
        s.flush()
        sla.ticket_opened(s, t)
        number = t.id
        assert t.first_response_due_at == utc(2027, 12, 27, 16, 30)  # 30 min Fri + 7.5 h Monday
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/api/v1/admin/holidays", headers=agent).status_code == 403
        assert http.get("/api/v1/admin/holidays", headers=boss).json() == [
            {"day": "2027-12-31", "name": "", "source": "settings", "tickets_updated": None}
        ]
        r = http.post("/api/v1/admin/holidays", json={"day": "2027-12-27", "name": "Boxing day (moved)"}, headers=boss)
        assert r.status_code == 201, r.text
        assert r.json()["tickets_updated"] >= 1
        with runtime.sessions() as s:  # Monday is a holiday now: due Tuesday
            assert s.get(Ticket, number).first_response_due_at == utc(2027, 12, 28, 16, 30)
        assert http.post("/api/v1/admin/holidays", json={"day": "2027-12-27"}, headers=boss).status_code == 409
        r = http.post("/api/v1/admin/holidays", json={"day": "27.12.2027"}, headers=boss)
        assert r.status_code == 422 and r.json()["error"] == "invalid_input"
        days = http.get("/api/v1/admin/holidays", params={"year": 2027}, headers=boss).json()
        assert [(d["day"], d["source"]) for d in days] == [("2027-12-27", "calendar"), ("2027-12-31", "settings")]
        assert http.get("/api/v1/admin/holidays", params={"year": 2028}, headers=boss).json() == []

        r = http.delete("/api/v1/admin/holidays/2027-12-31", headers=boss)
        assert r.status_code == 409 and "FIRSTLINE_HOLIDAYS" in r.json()["message"]
        assert http.delete("/api/v1/admin/holidays/2027-12-30", headers=boss).status_code == 404
        assert http.delete("/api/v1/admin/holidays/someday", headers=boss).status_code == 422
        assert http.delete("/api/v1/admin/holidays/2027-12-27", headers=boss).status_code == 204
        with runtime.sessions() as s:
            assert s.get(Ticket, number).first_response_due_at == utc(2027, 12, 27, 16, 30)
        r = http.get(f"/api/v1/tickets/{number}", headers=boss)
        assert r.status_code == 200 and r.json()["first_response_due_at"].startswith("2027-12-27T16:30")


def test_the_server_runs_the_scheduler_overdue_critical_tickets_are_breached_and_escalated(app):
    base, runtime = app
    boss = make_agent(runtime, "sched-boss", "manager")
    with transaction(runtime.sessions) as s:  # opened years ago by the real clock: both targets missed
        conv = Conversation(channel="web", user_ref="old", thread_ref="", offered=[])
        s.add(conv)
        s.flush()
        t = Ticket(
            conversation_id=conv.id,
            requester="old",
            channel="web",
            subject="server room is hot",
            question="server room is hot",
            handoff_reason="user_request",
            bot_tried=[],
            priority="critical",
            created_at=utc(2020, 3, 2, 9, 0),
        )
        s.add(t)
        s.flush()
        sla.ticket_opened(s, t)
        number = t.id
    with httpx.Client(base_url=base, timeout=30) as http:
        deadline = time.monotonic() + 30
        while True:  # the scheduler's background task, not the clock, is what we wait for
            body = http.get(f"/api/v1/tickets/{number}", headers=boss).json()
            if body["resolution_breached_at"] and body["line"] == "L2":
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.1)
        assert body["sla_state"] == "breached" and body["first_response_breached_at"]
        actions = [e["action"] for e in body.get("events", [])]
        assert actions.count("sla_breach") == 2, actions
