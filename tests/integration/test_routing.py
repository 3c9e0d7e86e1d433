"""Lines, skill groups and categories: who may claim what, routing at opening from the tried articles'
tags, PATCH (priority, category, group), the queue's filters and SLA sort, the admin API, and developer
requests sent to the configured webhook. Domain on `sessions`; HTTP on one running app; both databases."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from tests.support.live import ChatUser, make_agent, running_app
from tests.support.ops import agent, group, ticket
from tickets import routing, service, sla
from tickets.models import Agent, OutboxItem


def categories(s, *, accounts_group=None):
    routing.save_category(s, "accounts", "Accounts & passwords", "L1", accounts_group, ["password", "lockout"])
    routing.save_category(s, "printing", "Printers", "L2", None, ["printer", "printing"])
    routing.save_category(s, "erp", "ERP", "L3", None, ["1c", "accounting"])


# -- domain ---------------------------------------------------------------------------------------
def test_claims_follow_line_and_group(sessions):
    with sessions.begin() as s:
        l1, l2, l3, mgr = agent(s, "l1a", "l1"), agent(s, "l2a", "l2"), agent(s, "l3a", "l3"), agent(s, "m", "manager")
        member = agent(s, "l1b", "l1")
        group(s, "accounts", member)
        categories(s, accounts_group="accounts")
        erp = ticket(s, "u1", tags=["1c"]).id
        erp2 = ticket(s, "u2", tags=["accounting"]).id
        acc = ticket(s, "u3", tags=["password"]).id
        plain = ticket(s, "u4").id
    with sessions.begin() as s:
        for who in (l1, l2):
            with pytest.raises(service.Forbidden, match=r"is on L3; as an L\d agent"):
                service.claim_ticket(s, erp, s.get(Agent, who.id))
        with pytest.raises(service.Forbidden, match="group 'accounts'"):
            service.claim_ticket(s, acc, s.get(Agent, l1.id))
        assert service.claim_ticket(s, erp, s.get(Agent, l3.id)).assignee_id == l3.id
        assert service.claim_ticket(s, erp2, s.get(Agent, mgr.id)).assignee_id == mgr.id
        assert service.claim_ticket(s, acc, s.get(Agent, member.id)).assignee_id == member.id
        assert service.claim_ticket(s, plain, s.get(Agent, l2.id)).assignee_id == l2.id  # a lower line is fine


def test_category_at_opening_only_when_exactly_one_matches(sessions):
    with sessions.begin() as s:
        group(s, "accounts")
        categories(s, accounts_group="accounts")
        one = ticket(s, "u1", tags=["password", "self-service"])
        two = ticket(s, "u2", tags=["password", "printer"])
        none = ticket(s, "u3", tags=["vpn"])
        l3 = ticket(s, "u4", tags=["1c", "license"])
        got = [(t.category, t.line, t.group_id is not None) for t in (one, two, none, l3)]
        assert got == [("accounts", "L1", True), (None, "L1", False), (None, "L1", False), ("erp", "L3", False)]
        assert any(e.action == "routed" for e in service.events(s, one.id))
        # The suggestion ranks by shared tags; two equally good candidates are left to the agent.
        found = routing.matching_categories(s, ["password", "printer", "printing"])
        assert [(c.slug, shared) for c, shared in found] == [
            ("printing", ["printer", "printing"]),
            ("accounts", ["password"]),
        ]


def test_patch_reroutes_only_while_waiting_on_l1(sessions):
    with sessions.begin() as s:
        l1, mgr, other = agent(s, "l1a", "l1"), agent(s, "m", "manager"), agent(s, "l1b", "l1")
        group(s, "accounts")
        categories(s)
        waiting = ticket(s, "u1").id
        taken = ticket(s, "u2").id
        service.claim_ticket(s, taken, l1)
    with sessions.begin() as s:
        t = service.update_ticket(s, waiting, s.get(Agent, l1.id), category="printing")
        assert (t.category, t.line) == ("printing", "L2")  # triage by any L1 agent re-routes it
        t = service.update_ticket(s, taken, s.get(Agent, l1.id), category="printing", priority="high")
        assert (t.category, t.line, t.assignee_id, t.priority) == ("printing", "L1", l1.id, "high")
        with pytest.raises(service.Forbidden, match="held by another agent"):
            service.update_ticket(s, taken, s.get(Agent, other.id), priority="low")
        with pytest.raises(service.Invalid, match="unknown priority"):
            service.update_ticket(s, taken, s.get(Agent, l1.id), priority="urgent")
        with pytest.raises(service.TicketError, match="unknown category 'nope'"):
            service.update_ticket(s, taken, s.get(Agent, l1.id), category="nope")
        t = service.update_ticket(s, taken, s.get(Agent, mgr.id), group="accounts")
        assert t.group_id == routing.group_by_slug(s, "accounts").id
        t = service.update_ticket(s, taken, s.get(Agent, mgr.id), group=None, category=None)
        assert (t.group_id, t.category) == (None, None)
        actions = [e.action for e in service.events(s, taken)]
        assert actions.count("category") == 2 and "priority" in actions and actions.count("group") == 2


def test_queue_filters_and_sla_sort(sessions):
    with sessions.begin() as s:
        group(s, "accounts")
        categories(s, accounts_group="accounts")
        no_policy = ticket(s, "u0").id  # opened before any SLA policy exists: no due time
        sla.ensure_default_policies(s)
        low = ticket(s, "u1", priority="low").id
        crit = ticket(s, "u2", priority="critical", channel="telegram").id
        normal = ticket(s, "u3", tags=["password"]).id
        high = ticket(s, "u4", priority="high", channel="slack").id
        opened = service.get_ticket(s, crit).created_at

    def q(**kw):
        with sessions() as s:
            return [t.id for t in service.list_tickets(s, **kw)]

    assert q(sort="sla") == [crit, high, normal, low, no_policy]
    assert q() == [high, normal, crit, low, no_policy]  # newest first
    assert q(channel="telegram") == [crit]
    assert q(priority="high") == [high]
    assert q(category="accounts") == q(group="accounts") == [normal]
    assert q(sort="sla", channel="web") == [normal, low, no_policy]
    # Critical answers within 30 minutes, 24x7: at risk in its last 20 %, breached after.
    assert q(sla_state="at_risk", now=opened + timedelta(minutes=25)) == [crit]
    assert q(sla_state="breached", now=opened + timedelta(minutes=25)) == []
    assert q(sla_state="breached", now=opened + timedelta(minutes=31)) == [crit]
    with sessions() as s, pytest.raises(service.TicketError, match="unknown group"):
        service.list_tickets(s, group="nope")


# -- HTTP -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(module_db_url, tmp_path_factory, embedder):
    # The webhook receiver is not reachable: delivery is the outbox's job; here we check what is queued.
    with running_app(
        module_db_url, tmp_path_factory.mktemp("data"), dev_webhook_url="http://127.0.0.1:9/dev-requests"
    ) as (base, runtime):
        yield base, runtime


def test_admin_routing_and_auto_category_over_http(app):
    base, runtime = app
    mgr, l1 = make_agent(runtime, "r-max", "manager"), make_agent(runtime, "r-anna", "l1")
    member = make_agent(runtime, "r-nina", "l1")
    with runtime.sessions() as s:
        nina_id = s.scalar(select(Agent.id).where(Agent.name == "r-nina"))
    with httpx.Client(base_url=base, timeout=30) as http:
        r = http.post("/api/v1/admin/groups", json={"slug": "acc", "name": "Accounts"}, headers=l1)
        assert r.status_code == 403 and "manager" in r.json()["message"]
        r = http.post("/api/v1/admin/groups", json={"slug": "acc", "name": "Accounts"}, headers=mgr)
        assert r.status_code == 201, r.text
        acc_id = r.json()["id"]
        assert http.post("/api/v1/admin/groups", json={"slug": "acc", "name": "Again"}, headers=mgr).status_code == 409
        r = http.post("/api/v1/admin/groups", json={"slug": "Bad Slug!", "name": "x"}, headers=mgr)
        assert r.status_code == 422 and "slug" in r.json()["message"]
        r = http.post("/api/v1/admin/groups/acc/members", json={"agent_id": nina_id}, headers=mgr)
        assert [m["name"] for m in r.json()["members"]] == ["r-nina"]
        assert (
            http.post("/api/v1/admin/groups/nope/members", json={"agent_id": nina_id}, headers=mgr).status_code == 422
        )
        r = http.post(
            "/api/v1/admin/categories",
            json={"slug": "accounts", "name": "Accounts", "line": "L1", "group": "ghost", "tags": ["password"]},
            headers=mgr,
        )
        assert r.status_code == 422 and "ghost" in r.json()["message"]
        for body in (
            {"slug": "accounts", "name": "Accounts", "line": "L1", "group": "acc", "tags": ["Password", "lockout"]},
            {"slug": "printing", "name": "Printers", "line": "L2", "tags": ["printer"]},
        ):
            r = http.post("/api/v1/admin/categories", json=body, headers=mgr)
            assert r.status_code == 201, r.text
        cats = http.get("/api/v1/admin/categories", headers=l1).json()  # any agent reads them
        assert [(c["slug"], c["line"], c["group"], c["tags"]) for c in cats] == [
            ("accounts", "L1", "acc", ["lockout", "password"]),
            ("printing", "L2", None, ["printer"]),
        ]

        # A password question the bot could not settle lands in "accounts" with its group.
        user = ChatUser(http, "r-bob")
        assert (
            user.send("I forgot my password, how can I reset it?").json()["replies"][0]["article"]["id"]
            == "it-password-reset"
        )
        user.send(action="not_helped")
        number = user.send(action="not_helped").json()["ticket"]
        t = http.get(f"/api/v1/tickets/{number}", headers=l1).json()
        assert (t["category"], t["line"], t["group_id"]) == ("accounts", "L1", acc_id)
        sug = http.get(f"/api/v1/tickets/{number}/suggested-category", headers=l1).json()
        assert sug["category"]["slug"] == "accounts" and "password" in sug["category"]["matched_tags"]
        assert "password" in sug["tags"]

        r = http.post(f"/api/v1/tickets/{number}/claim", headers=l1)
        assert r.status_code == 403 and "acc" in r.json()["message"]
        assert http.post(f"/api/v1/tickets/{number}/claim", headers=member).status_code == 200

        r = http.patch(f"/api/v1/tickets/{number}", json={"priority": "urgent"}, headers=member)
        assert r.status_code == 422
        r = http.patch(f"/api/v1/tickets/{number}", json={"priority": "high"}, headers=member)
        assert r.status_code == 200 and r.json()["priority"] == "high"
        r = http.patch(f"/api/v1/tickets/{number}", json={"category": "printing"}, headers=member)
        assert (r.json()["category"], r.json()["line"]) == ("printing", "L1")  # held: recorded, not moved
        r = http.patch(f"/api/v1/tickets/{number}", json={"group": None}, headers=member)
        assert r.json()["group_id"] is None and r.json()["priority"] == "high"
        assert http.patch(f"/api/v1/tickets/{number}", json={"category": "nope"}, headers=member).status_code == 422

        # A fresh, unclaimed ticket re-routes with its category.
        other = ChatUser(http, "r-carol").send("I need to talk to a human").json()["ticket"]
        r = http.patch(f"/api/v1/tickets/{other}", json={"category": "printing"}, headers=l1)
        assert (r.json()["line"], r.json()["category"]) == ("L2", "printing")

        # The queue's filters.
        def queue(**params):
            r = http.get("/api/v1/tickets", params=params, headers=mgr)
            assert r.status_code == 200, r.text
            return [t["number"] for t in r.json()]

        assert number in queue(priority="high") and other not in queue(priority="high")
        assert queue(category="printing", line="L2") == [other]
        assert set(queue(category="printing")) == {number, other}
        assert number not in queue(group="acc")  # its group was cleared
        assert set(queue(channel="web")) >= {number, other} and queue(channel="telegram") == []
        assert queue(sla="breached") == []
        by_due = http.get("/api/v1/tickets", params={"sort": "sla"}, headers=mgr).json()
        dues = [t["resolution_due_at"] for t in by_due]
        assert dues == sorted(dues, key=lambda d: (d is None, d or ""))
        for bad in ({"group": "ghost"}, {"sla": "late"}, {"sort": "oldest"}, {"priority": "urgent"}):
            assert http.get("/api/v1/tickets", params=bad, headers=mgr).status_code == 422, bad


def test_developer_request_is_queued_for_the_webhook(app):
    base, runtime = app
    l1 = make_agent(runtime, "w-anna", "l1")
    with httpx.Client(base_url=base, timeout=30) as http:
        bob = ChatUser(http, "w-bob")
        number = bob.send("I need to talk to a human").json()["ticket"]
        bob.send("ERP export crashes on big invoices")  # what it is about: it becomes the ticket's question
        http.post(f"/api/v1/tickets/{number}/claim", headers=l1).raise_for_status()
        r = http.post(
            f"/api/v1/tickets/{number}/external-refs",
            json={
                "system": "ERP",
                "ref": "ERP-77",
                "url": "https://tracker.example/ERP-77",
                "note": "export crashes on invoices over 1000 lines",
            },
            headers=l1,
        )
        assert r.status_code == 201, r.text
        assert r.json()["webhook"] is True
        refs = http.get(f"/api/v1/tickets/{number}/external-refs", headers=l1).json()
        assert [(x["ref"], x["webhook"]) for x in refs] == [("ERP-77", True)]
    with runtime.sessions() as s:
        items = s.scalars(
            select(OutboxItem).where(OutboxItem.ticket_id == number, OutboxItem.audience == "webhook")
        ).all()
        assert len(items) == 1
        item = items[0]
        assert (item.channel, item.event) == ("webhook", "dev_request")
        p = item.payload
        assert (p["ticket"], p["system"], p["ref"], p["url"], p["created_by"]) == (
            number,
            "ERP",
            "ERP-77",
            "https://tracker.example/ERP-77",
            "w-anna",
        )
        assert p["question"] == "ERP export crashes on big invoices" and p["note"].startswith("export crashes")
        assert p["subject"]
