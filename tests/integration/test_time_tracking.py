"""Work time: manual entries, one running timer per agent and ticket, entries keep the ticket's line and
category of the moment, totals per agent/line/category/ticket over a date range. Domain on `sessions` with
an explicit clock; the HTTP API on one running app; both databases."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import httpx
import pytest

from tests.support.live import ChatUser, make_agent, running_app
from tests.support.ops import agent, ticket
from tickets import escalation, routing, service, timetracking
from tickets.models import Agent

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)  # a Monday


def test_manual_entries_timers_and_totals(sessions):
    with sessions.begin() as s:
        anna, boris, olga = agent(s, "anna", "l1"), agent(s, "boris", "l2"), agent(s, "olga", "l1")
        routing.save_category(s, "printing", "Printers", "L1", None, ["printer"])
        printer = ticket(s, "u1", tags=["printer"]).id
        other = ticket(s, "u2").id
        service.claim_ticket(s, printer, anna)
        service.claim_ticket(s, other, anna)

    with sessions.begin() as s:
        a = s.get(Agent, anna.id)
        e = timetracking.add_manual(s, printer, a, 30, "replaced the toner", now=T0)
        assert (e.source, e.minutes, e.line, e.category, e.note) == (
            "manual",
            30,
            "L1",
            "printing",
            "replaced the toner",
        )
        for bad in (0, 1441, -5):
            with pytest.raises(service.Invalid, match="1 to 1440"):
                timetracking.add_manual(s, printer, a, bad, now=T0)
        with pytest.raises(service.Forbidden):
            timetracking.add_manual(s, printer, s.get(Agent, olga.id), 10, now=T0)  # never worked on it

        timetracking.start_timer(s, printer, a, now=T0 + timedelta(hours=1))
        with pytest.raises(service.Conflict, match="already running"):
            timetracking.start_timer(s, printer, a, now=T0 + timedelta(hours=1, minutes=1))
        timetracking.start_timer(s, other, a, now=T0 + timedelta(hours=1))  # another ticket: its own timer
        assert timetracking.ticket_total(s, printer) == 30  # a running timer counts once stopped
        stopped = timetracking.stop_timer(s, printer, a, now=T0 + timedelta(hours=1, minutes=12, seconds=59))
        assert (stopped.source, stopped.minutes) == ("timer", 12)  # whole minutes
        with pytest.raises(service.Conflict, match="no running timer"):
            timetracking.stop_timer(s, printer, a, now=T0 + timedelta(hours=2))
        timetracking.start_timer(s, printer, a, now=T0 + timedelta(hours=2))
        assert timetracking.stop_timer(s, printer, a, now=T0 + timedelta(hours=2, seconds=10)).minutes == 1
        assert timetracking.stop_timer(s, other, a, now=T0 + timedelta(hours=3)).minutes == 120

    with sessions.begin() as s:
        # After the escalation work on the ticket counts for L2; what was done before stays on L1.
        escalation.escalate(s, printer, s.get(Agent, anna.id), to_line="L2")
        service.claim_ticket(s, printer, s.get(Agent, boris.id))
        timetracking.add_manual(s, printer, s.get(Agent, boris.id), 45, now=T0 + timedelta(days=1))
        timetracking.add_manual(
            s, printer, s.get(Agent, anna.id), 5, "follow-up as participant", now=T0 + timedelta(days=1)
        )
        assert timetracking.ticket_total(s, printer) == 30 + 12 + 1 + 45 + 5

    with sessions() as s:
        assert timetracking.totals(s, "agent") == [("anna", 168), ("boris", 45)]
        assert timetracking.totals(s, "line") == [("L1", 163), ("L2", 50)]  # anna's follow-up was L2 work
        assert timetracking.totals(s, "category") == [(None, 120), ("printing", 93)]
        assert timetracking.totals(s, "ticket") == [(str(other), 120), (str(printer), 93)]
        day1, day2 = T0.date(), T0.date() + timedelta(days=1)
        assert timetracking.totals(s, "agent", day2, day2) == [("boris", 45), ("anna", 5)]
        assert timetracking.totals(s, "line", day1, day1) == [("L1", 163)]
        assert timetracking.totals(s, "agent", date(2026, 12, 1)) == []
        with pytest.raises(service.Invalid, match="before it starts"):
            timetracking.totals(s, "agent", day2, day1)
        with pytest.raises(service.Invalid, match="unknown grouping"):
            timetracking.totals(s, "weekday")


@pytest.fixture(scope="module")
def app(module_db_url, tmp_path_factory, embedder):
    with running_app(module_db_url, tmp_path_factory.mktemp("data")) as (base, runtime):
        yield base, runtime


def test_time_over_http(app):
    base, runtime = app
    l1, l2 = make_agent(runtime, "t-anna", "l1"), make_agent(runtime, "t-boris", "l2")
    with httpx.Client(base_url=base, timeout=30) as http:
        number = ChatUser(http, "t-bob").send("I need to talk to a human").json()["ticket"]
        assert http.post(f"/api/v1/tickets/{number}/time", json={"minutes": 5}, headers=l1).status_code == 403
        http.post(f"/api/v1/tickets/{number}/claim", headers=l1).raise_for_status()
        r = http.post(f"/api/v1/tickets/{number}/time", json={"minutes": 25, "note": "remote session"}, headers=l1)
        assert r.status_code == 201, r.text
        assert r.json()["total_minutes"] == 25 and r.json()["running"] is None
        for bad in (0, 2000, "ten"):
            r = http.post(f"/api/v1/tickets/{number}/time", json={"minutes": bad}, headers=l1)
            assert r.status_code == 422 and "minutes" in r.json()["message"], bad

        r = http.post(f"/api/v1/tickets/{number}/timer/start", headers=l1)
        assert r.status_code == 200 and r.json()["running"]["source"] == "timer"
        r = http.post(f"/api/v1/tickets/{number}/timer/start", headers=l1)
        assert r.status_code == 409 and "already running" in r.json()["message"]
        # The running timer is the caller's own: another agent sees none of theirs.
        assert http.get(f"/api/v1/tickets/{number}/time", headers=l2).json()["running"] is None
        r = http.post(f"/api/v1/tickets/{number}/timer/stop", headers=l1)
        assert r.status_code == 200 and r.json()["running"] is None
        assert r.json()["total_minutes"] == 26  # a started timer counts at least one minute
        assert http.post(f"/api/v1/tickets/{number}/timer/stop", headers=l1).status_code == 409

        t = http.get(f"/api/v1/tickets/{number}/time", headers=l2).json()
        assert [(e["agent"], e["source"], e["minutes"], e["note"]) for e in t["entries"]] == [
            ("t-anna", "manual", 25, "remote session"),
            ("t-anna", "timer", 1, ""),
        ]

        today = datetime.now(timezone.utc).date()
        r = http.get(
            "/api/v1/time",
            params={"group_by": "agent", "start": str(today - timedelta(days=1)), "end": str(today)},
            headers=l1,
        )
        assert {"key": "t-anna", "minutes": 26} in r.json()
        r = http.get("/api/v1/time", params={"group_by": "ticket"}, headers=l1)
        assert {"key": str(number), "minutes": 26} in r.json()
        assert http.get("/api/v1/time", params={"group_by": "weekday"}, headers=l1).status_code == 422
        assert http.get("/api/v1/time", params={"start": "yesterday"}, headers=l1).status_code == 422
