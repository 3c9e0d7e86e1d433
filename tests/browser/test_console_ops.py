"""The console's service-desk operations in headless Chromium against the real running app (SQLite): an L1 agent
claims a handoff, raises its priority, escalates it to L2 with a note; an L2 agent finds it by line, claims it
and returns it with an answer; the queue filters by channel and marks breached SLAs (icon + words, not colour
only) and sorts by SLA; the manager dashboard charts SLA risk by line; time is logged by hand and by timer;
requests to developers are saved; the queue fits a phone. Screenshots land in tests/artifacts/ on failure."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from tests.support.browser import browser, expect, new_page, sign_in  # noqa: F401  (fixtures; skips without Chromium)
from tests.support.live import ChatUser, make_agent, running_app


def test_dashboard_sla_numbers(sessions):
    """Open tickets by SLA state and line; the breached/at-risk list is soonest-due first, done tickets left out."""
    from core.db import utcnow
    from tickets import conversations, service, sla
    from tickets.dashboard import sla_overview

    now = utcnow()
    with sessions.begin() as s:
        sla.ensure_default_policies(s)
        made = []
        for i, text in enumerate(["late L1", "later L2", "fine", "done"]):
            conv = conversations.get_or_start_conversation(s, "web", f"u{i}")
            made.append(service.open_ticket(s, conv, reason="user_request", question=text, bot_tried=[]))
        late, later, fine, done = made
        late.first_response_due_at = late.resolution_due_at = now - timedelta(hours=3)
        later.line, later.first_response_due_at = "L2", now - timedelta(hours=1)
        done.resolution_due_at = now - timedelta(hours=5)
        done.status = "resolved"
        s.flush()
        assert sla.sla_state(fine, now) == "ok"
        states, by_line, risky = sla_overview(s, now)
    assert states["breached"] == 2 and states["ok"] == 1 and sum(states.values()) == 3
    assert by_line == {
        "L1": {"at_risk": 0, "breached": 1},
        "L2": {"at_risk": 0, "breached": 1},
        "L3": {"at_risk": 0, "breached": 0},
    }
    assert [r["subject"] for r in risky] == ["late L1", "later L2"]
    assert risky[0]["due_at"] == late.first_response_due_at and risky[0]["sla_state"] == "breached"


@pytest.fixture(scope="module")
def app(tmp_path_factory, embedder):
    folder = tmp_path_factory.mktemp("console_ops")
    with running_app(f"sqlite:///{folder / 'firstline.db'}", folder / "data") as (base, runtime):
        tokens = {}
        for name, role in [("alice", "l1"), ("bob", "l2"), ("maria", "manager")]:
            tokens[name] = make_agent(runtime, name, role)["Authorization"].split(" ", 1)[1]
        yield base, runtime, tokens


def handoff(base: str, user: str, text: str) -> int:
    with httpx.Client(base_url=base, timeout=30) as http:
        number = ChatUser(http, user).send(text).json()["ticket"]
    assert number, "the bot should hand this over to a person"
    return number


def api(base: str, token: str, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30, **kw)


def test_escalate_to_l2_and_return_with_answer(app, new_page):
    base, _, tokens = app
    number = handoff(base, "olga", "I need a person: VPN certificate rejected")
    row = f".q-item[data-number='{number}']"

    alice = new_page()
    sign_in(alice, base, "alice", tokens["alice"])
    alice.goto(f"{base}/console/tickets/{number}")
    alice.get_by_role("button", name="Claim").click()
    expect(alice.get_by_role("button", name="Claim")).to_be_hidden()
    alice.get_by_label("Priority").select_option("high")
    expect(alice.locator("#toast")).to_contain_text("Priority changed")
    alice.get_by_role("link", name="← Queue").click()
    expect(alice.locator(f"{row} .prio")).to_contain_text("high")

    alice.locator(f"{row} a").click()
    alice.locator("summary", has_text="Escalate").click()
    targets = alice.get_by_label("Escalate to")
    assert "Line 1 (L1)" not in targets.inner_text()  # only up the lines
    targets.select_option(label="Line 2 (L2)")
    alice.get_by_label(re.compile("Note for the next line")).fill(
        "VPN client logs show an expired certificate; please reissue it."
    )
    alice.locator("#escalate-form button[type=submit]").click()
    history = alice.locator("#escalations")
    expect(history).to_contain_text("L1 → L2")
    expect(history).to_contain_text("please reissue it.")
    expect(alice.locator("#t-meta .line")).to_have_text("L2")
    expect(alice.locator("#escalate-box")).to_be_hidden()  # no longer hers to act on
    alice.goto(f"{base}/console")
    alice.get_by_label("Assignee").select_option("mine")
    expect(alice.locator("#queue")).to_have_attribute("aria-busy", "false")
    expect(alice.locator(row)).to_have_count(0)  # left her "mine" view

    bob = new_page()
    sign_in(bob, base, "bob", tokens["bob"])
    bob.get_by_label("Line").select_option("L2")
    expect(bob.locator(row)).to_be_visible()
    expect(bob.locator(".q-item .badge.line").first).to_contain_text("L2")
    bob.locator(f"{row} a").click()
    expect(bob.locator("#return-question")).to_contain_text("please reissue it.")
    bob.get_by_role("button", name="Claim").click()
    bob.locator("summary", has_text="Return with answer").click()
    bob.get_by_label(re.compile("Answer for the line")).fill("Certificate reissued; tell the user to reconnect.")
    bob.locator("#return-form button[type=submit]").click()
    expect(bob.locator("#escalations .esc-answer")).to_contain_text("Certificate reissued")
    expect(bob.locator("#return-box")).to_be_hidden()

    escalations = api(base, tokens["bob"], "GET", f"/api/v1/tickets/{number}/escalations").json()
    assert len(escalations) == 1 and escalations[0]["to_line"] == "L2"
    assert escalations[0]["returned_at"] and escalations[0]["answer"].startswith("Certificate reissued")


def test_channel_filter_sla_marks_and_dashboard(app, new_page):
    base, runtime, tokens = app
    from core.db import utcnow
    from tickets import conversations, service
    from tickets.models import Ticket

    web = handoff(base, "pavel", "I need a person: shared mailbox lost folders")
    with runtime.sessions.begin() as s:  # a Telegram handoff (its channel is tested in test_telegram.py)
        conv = conversations.get_or_start_conversation(s, "telegram", "tg:4242", lang="en")
        tg = service.open_ticket(
            s, conv, reason="user_request", question="Telegram: my badge does not open the door", bot_tried=[]
        ).id
    with runtime.sessions.begin() as s:  # the web one's deadlines have passed
        past = utcnow() - timedelta(hours=2)
        s.execute(update(Ticket).where(Ticket.id == web).values(first_response_due_at=past, resolution_due_at=past))

    page = new_page()
    sign_in(page, base, "alice", tokens["alice"])
    expect(page.locator(f".q-item[data-number='{tg}'] .chan")).to_have_text("Telegram")
    page.get_by_label("Channel").select_option("web")
    expect(page.locator(f".q-item[data-number='{tg}']")).to_have_count(0)
    expect(page.locator(f".q-item[data-number='{web}']")).to_be_visible()
    channels = page.locator(".q-item .chan").all_inner_texts()
    assert channels and set(channels) == {"Web chat"}

    breached = page.locator(f".q-item[data-number='{web}']")
    expect(breached).to_have_class(re.compile("sla-breached"))
    expect(breached.locator(".sla")).to_contain_text("✖")  # an icon and words, not colour only
    expect(breached.locator(".sla")).to_contain_text("breached")
    page.get_by_label("Channel").select_option("")
    expect(page.locator(".q-item").first).to_have_attribute("data-number", str(tg))  # newest first
    page.get_by_label("SLA first").check()
    expect(page.locator(".q-item").first).to_have_attribute("data-number", str(web))  # overdue first

    numbers = api(base, tokens["maria"], "GET", "/api/v1/dashboard").json()
    assert numbers["sla"]["breached"] >= 1 and numbers["sla_by_line"]["L1"]["breached"] >= 1
    assert any(r["number"] == web and r["sla_state"] == "breached" for r in numbers["sla_risk"])
    manager = new_page()
    sign_in(manager, base, "maria", tokens["maria"])
    manager.goto(f"{base}/console/dashboard")
    chart = manager.locator("#c-sla-lines svg[role=img]")
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute("aria-label", re.compile(r"L1: ⚠ at risk \d+, ✖ breached [1-9]"))
    expect(manager.locator("#c-sla svg[role=img]")).to_be_visible()
    expect(manager.locator("#sla-risk")).to_contain_text(f"#{web}")


def test_time_tracking_and_request_to_developers(app, new_page):
    base, runtime, tokens = app
    from core.db import utcnow
    from tickets.ops_models import TimeEntry

    number = handoff(base, "ivan", "I need a human: 1C payroll export crashes")
    assert api(base, tokens["alice"], "POST", f"/api/v1/tickets/{number}/claim").status_code == 200
    page = new_page()
    sign_in(page, base, "alice", tokens["alice"])
    page.goto(f"{base}/console/tickets/{number}")
    expect(page.locator("#time-total")).to_have_text("0 min")
    page.get_by_label("Minutes").fill("15")
    page.get_by_role("button", name="Log time").click()
    expect(page.locator("#time-total")).to_have_text("15 min")

    page.get_by_role("button", name="Start timer").click()
    expect(page.get_by_role("button", name="Stop timer")).to_be_visible()
    expect(page.locator("#timer-state")).to_contain_text("Timer running since")
    with runtime.sessions.begin() as s:  # 25 minutes of work pass (instead of waiting for them)
        s.execute(
            update(TimeEntry)
            .where(TimeEntry.ticket_id == number, TimeEntry.ended_at.is_(None))
            .values(started_at=utcnow() - timedelta(minutes=25))
        )
    page.get_by_role("button", name="Stop timer").click()
    expect(page.locator("#time-total")).to_have_text(re.compile(r"^4[01] min$"))
    expect(page.get_by_role("button", name="Start timer")).to_be_visible()
    expect(page.locator("#time-entries li")).to_have_count(2)

    page.locator("summary", has_text="Request to developers").click()
    form = page.locator("#ext-form")
    form.get_by_label(re.compile("^System")).fill("1C:ERP")
    form.get_by_label("Reference / issue ID").fill("ERP-4711")
    form.get_by_label("Link (optional)").fill("https://tracker.example/ERP-4711")
    form.get_by_label("Note for the developers (optional)").fill("Payroll export crashes for > 500 people")
    form.get_by_role("button", name="Save the request").click()
    link = page.locator("#ext-refs a", has_text="ERP-4711")
    expect(link).to_have_attribute("href", "https://tracker.example/ERP-4711")
    refs = api(base, tokens["alice"], "GET", f"/api/v1/tickets/{number}/external-refs").json()
    assert [(r["system"], r["ref"]) for r in refs] == [("1C:ERP", "ERP-4711")]


def test_queue_and_ticket_fit_a_phone(app, new_page):
    base, _, tokens = app
    number = handoff(base, "nina", "I need a person: loud laptop fan")
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    sign_in(page, base, "alice", tokens["alice"])
    page.get_by_label("Status").select_option(label="All")
    expect(page.locator(f".q-item[data-number='{number}'] .prio")).to_be_visible()
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(overflow) <= 0
    edges = page.evaluate(
        "[...document.querySelectorAll('.q-item, .q-item .badge, #filters select, #filters input')]"
        ".map(e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; })"
    )
    assert edges and all(left >= 0 and right <= 390 for left, right in edges)
    page.locator(f".q-item[data-number='{number}'] a").click()
    expect(page.get_by_role("button", name="Start timer")).to_be_visible()
    assert page.evaluate(overflow) <= 0


def test_agent_registers_a_phone_call_and_gets_kb_help(app, new_page):
    base, _, tokens = app
    page = new_page()
    sign_in(page, base, "alice", tokens["alice"])
    page.locator("summary", has_text="Register a call").click()
    page.get_by_label("Caller (name, department)").fill("Olga, accounting")
    page.get_by_label("Callback number").fill("+7 495 123-45-67")
    page.get_by_label("What do they need?").fill("the printer is jammed and nothing prints")
    page.get_by_role("button", name="Create ticket").click()
    page.wait_for_url(re.compile(r"/console/tickets/\d+$"))
    number = int(page.url.rsplit("/", 1)[1])
    # The call is a ticket she holds, and the page suggests the article while she is on the phone.
    expect(page.locator("main")).to_contain_text("the printer is jammed and nothing prints")
    expect(page.locator("main")).to_contain_text("print jobs are stuck in the queue")
    t = api(base, tokens["alice"], "GET", f"/api/v1/tickets/{number}").json()
    assert t["channel"] == "phone" and t["status"] == "open" and t["requester"]["ref"] == "+74951234567"
    page.goto(f"{base}/console")
    page.get_by_label("Channel").select_option("phone")
    expect(page.locator(f".q-item[data-number='{number}']")).to_be_visible()
