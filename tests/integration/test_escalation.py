"""Escalation L1 → L2 → L3 and back with answers, functional escalation to a skill group, automatic
escalation, the team on a ticket (participants) and requests to application developers.

Domain paths on the `sessions` fixture; the HTTP API against one running app per module; both databases."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from tests.support.live import ChatUser, make_agent, running_app
from tests.support.ops import agent, group, ticket
from tickets import escalation, service
from tickets.models import Agent, Conversation, OutboxItem, TicketEvent
from tickets.ops_models import Escalation


def holder(s, number: int) -> tuple[str, str, str | None, list[str]]:
    """(status, line, assignee name, participant names) — who holds the ticket where."""
    t = service.get_ticket(s, number)
    s.refresh(t)
    assignee = s.get(Agent, t.assignee_id).name if t.assignee_id else None
    return t.status, t.line, assignee, sorted(a.name for a in service.participants(s, number))


# -- domain ---------------------------------------------------------------------------------------
def test_up_two_lines_and_back_with_answers(sessions):
    with sessions.begin() as s:
        anna, boris, vera = agent(s, "anna", "l1"), agent(s, "boris", "l2"), agent(s, "vera", "l3")
        number = ticket(s, "u1", "The ERP export crashes").id
        service.claim_ticket(s, number, anna)

    with sessions.begin() as s:
        esc = escalation.escalate(s, number, s.get(Agent, anna.id), to_line="L2", note="tried a reinstall")
        assert (esc.kind, esc.from_line, esc.to_line, esc.from_agent_id, esc.by) == (
            "hierarchical",
            "L1",
            "L2",
            anna.id,
            f"agent:{anna.id}",
        )
    with sessions() as s:
        # Nobody holds it on L2 yet; the L1 agent follows as a participant; the user waits for a person.
        assert holder(s, number) == ("escalated", "L2", None, ["anna"])
        conv = s.get(Conversation, service.get_ticket(s, number).conversation_id)
        assert conv.state == "waiting_for_agent"
        assert any(
            e.action == "escalated" and e.detail["note"] == "tried a reinstall" for e in service.events(s, number)
        )

    with sessions.begin() as s:
        with pytest.raises(service.Forbidden, match="on L2"):
            service.claim_ticket(s, number, s.get(Agent, anna.id))
    with sessions.begin() as s:
        service.claim_ticket(s, number, s.get(Agent, boris.id))
        assert holder(s, number) == ("open", "L2", "boris", ["anna"])
        # A participant may still talk to the user.
        _, msg = service.agent_message(s, number, s.get(Agent, anna.id), "L2 is looking at it now")
        assert msg.agent_id == anna.id

    with sessions.begin() as s:
        escalation.escalate(s, number, s.get(Agent, boris.id), note="needs a code fix")  # next line: L3
    with sessions.begin() as s:
        assert holder(s, number) == ("escalated", "L3", None, ["anna", "boris"])
        service.claim_ticket(s, number, s.get(Agent, vera.id))
        with pytest.raises(service.Forbidden):  # the L1 participant cannot answer for L3
            escalation.return_to_sender(s, number, s.get(Agent, anna.id), "done")

    with sessions.begin() as s:
        back = escalation.return_to_sender(s, number, s.get(Agent, vera.id), "patched in 2.4.1")
        assert (back.from_line, back.to_line, back.returned_by, back.answer) == (
            "L2",
            "L3",
            f"agent:{vera.id}",
            "patched in 2.4.1",
        )
    with sessions() as s:
        assert holder(s, number) == ("open", "L2", "boris", ["anna", "vera"])

    with sessions.begin() as s:
        escalation.return_to_sender(s, number, s.get(Agent, boris.id), "fixed by L3; ask the user to update")
    with sessions.begin() as s:
        assert holder(s, number) == ("open", "L1", "anna", ["boris", "vera"])
        rows = escalation.history(s, number)
        assert [(e.from_line, e.to_line, e.answer) for e in rows] == [
            ("L1", "L2", "fixed by L3; ask the user to update"),
            ("L2", "L3", "patched in 2.4.1"),
        ]
        assert all(e.returned_at is not None for e in rows)
        with pytest.raises(service.Conflict, match="no escalation"):
            escalation.return_to_sender(s, number, s.get(Agent, anna.id), "again")
        service.resolve_ticket(s, number, s.get(Agent, anna.id), "Updated to 2.4.1")
        assert holder(s, number)[0] == "resolved"


def test_invalid_escalations_are_refused(sessions):
    with sessions.begin() as s:
        anna, other, mgr = agent(s, "anna", "l1"), agent(s, "olga", "l1"), agent(s, "max", "manager")
        number = ticket(s, "u1").id
        service.claim_ticket(s, number, anna)
    with sessions.begin() as s:
        with pytest.raises(service.Forbidden, match="held by another agent"):
            escalation.escalate(s, number, s.get(Agent, other.id), to_line="L2")
        with pytest.raises(service.TicketError, match="unknown group 'nope'") as exc:
            escalation.escalate(s, number, s.get(Agent, anna.id), group="nope")
        assert exc.value.status_code == 422
        with pytest.raises(service.TicketError, match="unknown line"):
            escalation.escalate(s, number, s.get(Agent, anna.id), to_line="L9")
        with pytest.raises(service.Invalid, match="higher line, not L1"):
            escalation.escalate(s, number, s.get(Agent, anna.id), to_line="L1")
    with sessions.begin() as s:
        escalation.escalate(s, number, s.get(Agent, mgr.id), to_line="L3", note="straight to the developers")
    with sessions.begin() as s:
        m = s.get(Agent, mgr.id)
        with pytest.raises(service.Conflict, match="highest line"):
            escalation.escalate(s, number, m)
        with pytest.raises(service.Conflict, match="highest line"):
            escalation.escalate(s, number, m, to_line="L3")
        with pytest.raises(service.Conflict, match="highest line"):
            escalation.escalate(s, number, m, to_line="L2")
        group(s, "network")
        with pytest.raises(service.Invalid, match="same line or a higher one"):
            escalation.escalate(s, number, m, to_line="L2", group="network")
        service.resolve_ticket(s, number, m, "done")
    with sessions.begin() as s:
        with pytest.raises(service.Conflict, match="already resolved"):
            escalation.escalate(s, number, s.get(Agent, mgr.id), to_line="L2")
        assert len(escalation.history(s, number)) == 1


def test_functional_escalation_only_group_members_claim(sessions):
    with sessions.begin() as s:
        anna, oleg, nina = agent(s, "anna", "l1"), agent(s, "oleg", "l1"), agent(s, "nina", "l1")
        boris, petr = agent(s, "boris", "l2"), agent(s, "petr", "l2")
        group(s, "network", nina, boris)
        number = ticket(s, "u1", "VPN drops every hour").id
        service.claim_ticket(s, number, anna)
    with sessions.begin() as s:
        esc = escalation.escalate(s, number, s.get(Agent, anna.id), group="network", note="routing issue?")
        assert (esc.kind, esc.from_line, esc.to_line) == ("functional", "L1", "L1")
    with sessions.begin() as s:
        with pytest.raises(service.Forbidden, match="group 'network'"):
            service.claim_ticket(s, number, s.get(Agent, oleg.id))
        with pytest.raises(service.Forbidden, match="group 'network'"):
            service.claim_ticket(s, number, s.get(Agent, petr.id))  # a higher line is not enough
    with sessions.begin() as s:
        service.claim_ticket(s, number, s.get(Agent, nina.id))
        assert holder(s, number) == ("open", "L1", "nina", ["anna"])
        with pytest.raises(service.Conflict, match="already with the group"):
            escalation.escalate(s, number, s.get(Agent, nina.id), group="network")
        # Up a line within the group: only its L2 members may take it now.
        escalation.escalate(s, number, s.get(Agent, nina.id), to_line="L2", group="network")
    with sessions.begin() as s:
        with pytest.raises(service.Forbidden, match="on L2"):
            service.claim_ticket(s, number, s.get(Agent, nina.id))
        with pytest.raises(service.Forbidden, match="group 'network'"):
            service.claim_ticket(s, number, s.get(Agent, petr.id))
        service.claim_ticket(s, number, s.get(Agent, boris.id))
        escalation.return_to_sender(s, number, s.get(Agent, boris.id), "MTU fixed on the concentrator")
    with sessions() as s:
        t = service.get_ticket(s, number)
        assert holder(s, number) == ("open", "L1", "nina", ["anna", "boris"])
        assert t.group_id is not None  # back with the network group on L1


def test_automatic_escalation_and_return_to_a_deactivated_agent(sessions):
    with sessions.begin() as s:
        anna, boris = agent(s, "anna", "l1"), agent(s, "boris", "l2")
        number = ticket(s, "u1").id
        service.claim_ticket(s, number, anna)
    with sessions.begin() as s:
        esc = escalation.escalate(s, number, None, note="resolution SLA breached")
        assert (esc.kind, esc.by, esc.to_line) == ("automatic", "system:sla", "L2")
    with sessions.begin() as s:
        service.claim_ticket(s, number, s.get(Agent, boris.id))
        s.get(Agent, anna.id).active = False  # anna left the company meanwhile
    with sessions.begin() as s:
        escalation.return_to_sender(s, number, s.get(Agent, boris.id), "reset the profile")
    with sessions() as s:
        status, line, assignee, _ = holder(s, number)
        assert (status, line, assignee) == ("open", "L1", None)  # any L1 agent may take it again
        actors = [
            e.actor
            for e in s.scalars(
                select(TicketEvent).where(TicketEvent.ticket_id == number, TicketEvent.action == "escalated")
            )
        ]
        assert actors == ["system:sla"]


# -- HTTP -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(module_db_url, tmp_path_factory, embedder):
    with running_app(module_db_url, tmp_path_factory.mktemp("data")) as (base, runtime):
        yield base, runtime


def _id(runtime, name: str) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(Agent.id).where(Agent.name == name))


def test_escalation_over_http(app):
    base, runtime = app
    l1, l2, l3 = (
        make_agent(runtime, "h-anna", "l1"),
        make_agent(runtime, "h-boris", "l2"),
        make_agent(runtime, "h-vera", "l3"),
    )
    mgr = make_agent(runtime, "h-max", "manager")
    with httpx.Client(base_url=base, timeout=30) as http:
        user = ChatUser(http, "emp-1")
        number = user.send("I need to talk to a human").json()["ticket"]
        assert http.post(f"/api/v1/tickets/{number}/claim", headers=l1).status_code == 200

        r = http.post(f"/api/v1/tickets/{number}/escalate", json={"to_line": "L2", "note": "ERP crash"}, headers=l1)
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["line"], r.json()["assignee_id"]) == ("escalated", "L2", None)
        mine = http.get("/api/v1/chat/tickets", params={"user": user.user}, headers=user.headers).json()
        assert [(t["number"], t["status"]) for t in mine] == [(number, "escalated")]  # what the user sees

        r = http.post(f"/api/v1/tickets/{number}/claim", headers=l1)
        assert r.status_code == 403 and "L2" in r.json()["message"]
        assert http.post(f"/api/v1/tickets/{number}/claim", headers=l2).json()["assignee_id"] == _id(runtime, "h-boris")
        # The L1 agent is on the team and may still reply to the user.
        team = http.get(f"/api/v1/tickets/{number}/participants", headers=l2).json()
        assert team == [{"agent_id": _id(runtime, "h-anna"), "name": "h-anna", "role": "l1"}]
        r = http.post(f"/api/v1/tickets/{number}/reply", json={"text": "Our L2 team has it."}, headers=l1)
        assert r.status_code == 200, r.text
        assert any(m["text"] == "Our L2 team has it." for m in user.messages())

        assert (
            http.post(f"/api/v1/tickets/{number}/escalate", json={"to_line": None}, headers=l2).json()["line"] == "L3"
        )
        http.post(f"/api/v1/tickets/{number}/claim", headers=l3).raise_for_status()
        r = http.post(f"/api/v1/tickets/{number}/escalate", json={}, headers=l3)
        assert r.status_code == 409 and "highest line" in r.json()["message"]
        r = http.post(f"/api/v1/tickets/{number}/escalate", json={"to_line": "L4"}, headers=l3)
        assert r.status_code == 422
        r = http.post(f"/api/v1/tickets/{number}/escalate", json={"group": "no-such-team"}, headers=l3)
        assert r.status_code == 422 and "no-such-team" in r.json()["message"]
        r = http.post(f"/api/v1/tickets/{number}/return", json={"answer": ""}, headers=l3)
        assert r.status_code == 422

        r = http.post(f"/api/v1/tickets/{number}/return", json={"answer": "Hotfix deployed"}, headers=l3)
        assert r.status_code == 200, r.text
        assert (r.json()["line"], r.json()["assignee_id"], r.json()["status"]) == (
            "L2",
            _id(runtime, "h-boris"),
            "open",
        )
        history = http.get(f"/api/v1/tickets/{number}/escalations", headers=l1).json()
        assert [(h["from_line"], h["to_line"], h["by"], h["note"]) for h in history] == [
            ("L1", "L2", "h-anna", "ERP crash"),
            ("L2", "L3", "h-boris", ""),
        ]
        assert history[0]["returned_at"] is None
        assert (history[1]["returned_by"], history[1]["answer"]) == ("h-vera", "Hotfix deployed")

        r = http.post(f"/api/v1/tickets/{number}/return", json={"answer": "Hotfix by L3"}, headers=l2)
        assert (r.json()["line"], r.json()["assignee_id"]) == ("L1", _id(runtime, "h-anna"))

        # The team: the manager adds and removes someone; unknown agents are a 404.
        vera_id = _id(runtime, "h-vera")
        r = http.post(f"/api/v1/tickets/{number}/participants", json={"agent_id": 99999}, headers=mgr)
        assert r.status_code == 404
        r = http.delete(f"/api/v1/tickets/{number}/participants/{vera_id}", headers=l2)
        assert r.status_code == 403  # not the holder: cannot remove others
        r = http.delete(f"/api/v1/tickets/{number}/participants/{vera_id}", headers=mgr)
        assert vera_id not in [p["agent_id"] for p in r.json()]

        http.post(f"/api/v1/tickets/{number}/resolve", json={"resolution": "updated"}, headers=l1).raise_for_status()
        r = http.post(f"/api/v1/tickets/{number}/escalate", json={"to_line": "L2"}, headers=l1)
        assert r.status_code == 409 and "resolved" in r.json()["message"]
        r = http.post("/api/v1/tickets/999999/escalate", json={"to_line": "L2"}, headers=l1)
        assert r.status_code == 404


def test_developer_request_without_webhook_is_only_recorded(app):
    base, runtime = app
    l1 = make_agent(runtime, "x-anna", "l1")
    with httpx.Client(base_url=base, timeout=30) as http:
        number = ChatUser(http, "emp-2").send("I need to talk to a human").json()["ticket"]
        r = http.post(f"/api/v1/tickets/{number}/external-refs", json={"system": "1C", "ref": "SUP-1"}, headers=l1)
        assert r.status_code == 403  # claim it first
        http.post(f"/api/v1/tickets/{number}/claim", headers=l1).raise_for_status()
        r = http.post(
            f"/api/v1/tickets/{number}/external-refs",
            json={"system": "1C", "ref": "SUP-1", "url": "https://support.example/SUP-1"},
            headers=l1,
        )
        assert r.status_code == 201, r.text
        assert (r.json()["ref"], r.json()["created_by"], r.json()["webhook"]) == ("SUP-1", "x-anna", False)
        assert (
            http.post(f"/api/v1/tickets/{number}/external-refs", json={"system": "1C"}, headers=l1).status_code == 422
        )
        refs = http.get(f"/api/v1/tickets/{number}/external-refs", headers=l1).json()
        assert [(x["system"], x["ref"], x["webhook"]) for x in refs] == [("1C", "SUP-1", False)]
    with runtime.sessions() as s:
        assert (
            s.scalars(select(OutboxItem).where(OutboxItem.ticket_id == number, OutboxItem.audience == "webhook")).all()
            == []
        )
        assert s.scalars(select(Escalation).where(Escalation.ticket_id == number)).all() == []
