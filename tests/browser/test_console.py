"""The agent console in headless Chromium (Playwright) against the real running app on SQLite: an agent
signs in, sees a handoff arrive live while a simulated user chats over the API, claims it, replies (the user
receives it), sends a suggested article, resolves it (the user gets the resolution); wrong logins are
rejected; the dashboard is for managers and draws charts; the queue fits a phone; the UI speaks Russian.
Screenshots of the open pages are saved to tests/artifacts/ when a test fails."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.browser import browser, expect, new_page, sign_in  # noqa: F401  (fixtures; skips without Chromium)
from tests.support.live import ChatUser, make_agent, running_app


@pytest.fixture(scope="module")
def app(tmp_path_factory, embedder):
    folder = tmp_path_factory.mktemp("console")
    with running_app(f"sqlite:///{folder / 'firstline.db'}", folder / "data") as (base, runtime):
        tokens = {}
        for name, role in [("alice", "l1"), ("bob", "l2"), ("maria", "manager")]:
            tokens[name] = make_agent(runtime, name, role)["Authorization"].split(" ", 1)[1]
        yield base, runtime, tokens


def test_wrong_login_is_rejected(app, new_page):
    base, _, tokens = app
    page = new_page()
    page.goto(f"{base}/console")
    expect(page.get_by_role("heading", name="Agent console")).to_be_visible()
    expect(page.get_by_text("firstline agents add")).to_be_visible()  # where the token comes from
    sign_in(page, base, "alice", "not-a-token")
    expect(page.get_by_role("alert")).to_contain_text("Wrong agent name, password or token")
    expect(page.locator("#queue")).to_have_count(0)
    sign_in(page, base, "alice", tokens["bob"])  # a real token, but someone else's
    expect(page.get_by_role("alert")).to_contain_text("Wrong agent name, password or token")
    cookies = {c["name"] for c in page.context.cookies()}
    assert "fl_console" not in cookies


def test_agent_takes_a_handoff_over_live(app, new_page):
    base, _, tokens = app
    page = new_page()
    sign_in(page, base, "alice", tokens["alice"])
    expect(page.get_by_role("heading", name=re.compile("^Queue"))).to_be_visible()
    expect(page.locator("#live")).to_have_text("Live")
    # The session cookie is HttpOnly and SameSite=Strict, and is not the agent's token.
    session = next(c for c in page.context.cookies() if c["name"] == "fl_console")
    assert session["httpOnly"] and session["sameSite"] == "Strict" and tokens["alice"] not in session["value"]
    page.evaluate("window.__noReload = true")

    with httpx.Client(base_url=base, timeout=30) as http:
        user = ChatUser(http, "olga@example.com")
        first = user.send("I forgot my password, how can I reset it?").json()
        assert first["replies"][0]["kind"] == "answer"
        user.send(action="not_helped")
        handoff = user.send(action="not_helped").json()
        number = handoff["ticket"]
        assert handoff["state"] == "waiting_for_agent" and number

        item = page.locator(f".q-item[data-number='{number}']")
        expect(item).to_be_visible()  # arrived without a reload...
        expect(item).to_have_class(re.compile("fresh"))  # ...with a visual cue
        expect(item).to_contain_text("I forgot my password")
        expect(page.locator("#toast")).to_contain_text(f"#{number}")
        assert page.evaluate("window.__noReload") is True

        item.get_by_role("link").click()
        expect(page.get_by_role("heading", name=re.compile(f"#{number}"))).to_be_visible()
        transcript = page.locator("#transcript")
        expect(transcript).to_contain_text("I forgot my password")
        expect(transcript.locator(".msg.bot .offered").first).to_contain_text("it-password-reset")
        # The bot's answer reads as the employee saw it: Markdown rendered by the chat's own renderer, no "**" left.
        expect(transcript.locator(".msg.bot .text.md strong").first).to_be_visible()
        assert "**" not in transcript.locator(".msg.bot").first.inner_text()
        expect(transcript).to_contain_text("Didn't help")  # the user's feedback
        expect(page.locator("#t-reason")).to_have_text("Answer didn't help")
        expect(page.locator("#suggestions .sugg").first).to_be_visible()
        expect(page.get_by_label("Reply to the user")).to_be_disabled()  # claim first

        page.get_by_role("button", name="Claim").click()
        reply_box = page.get_by_label("Reply to the user")
        expect(reply_box).to_be_enabled()
        expect(page.get_by_role("button", name="Claim")).to_be_hidden()
        reply_box.fill("Hi Olga, I'm resetting it for you now.")
        page.get_by_role("button", name="Send", exact=True).click()
        expect(transcript.locator(".msg.agent")).to_contain_text("Hi Olga, I'm resetting it for you now.")
        seen = user.messages()
        assert any(
            m["author"] == "agent" and m["text"] == "Hi Olga, I'm resetting it for you now." and m["agent"] == "alice"
            for m in seen
        )
        assert any(m["author"] == "system" and "alice" in m["text"] for m in seen)  # "alice joined"

        # The user writes back: it appears live in the open conversation.
        user.send("Thanks! Which browser should I use?")
        expect(transcript.locator(".msg.user").last).to_contain_text("Which browser should I use?")

        # One click sends a suggested article: title, link and passage reach the user.
        sugg = page.locator("#suggestions .sugg").first
        title = sugg.locator(".sugg-title").inner_text()
        sugg.get_by_role("button", name="Send this article").click()
        expect(transcript.locator(".msg.agent").last).to_contain_text(title)
        sent = [m for m in user.messages() if m["author"] == "agent"][-1]
        assert sent["text"].startswith(title) and "/kb/" in sent["text"]

        page.locator("summary", has_text="Resolve").click()  # open the <details>
        page.get_by_label("Resolution").fill("Password reset and the user signed in.")
        page.get_by_label(re.compile("Linked article ids")).fill("it-password-reset")
        page.locator("#resolve-form button[type=submit]").click()
        expect(page.locator("#t-meta")).to_contain_text("resolved")
        expect(reply_box).to_be_disabled()
        notes = [m for m in user.messages() if m["author"] == "system"]
        assert any(f"#{number}" in m["text"] and "Password reset and the user signed in." in m["text"] for m in notes)
        detail = http.get(f"/api/v1/tickets/{number}", headers={"Authorization": f"Bearer {tokens['alice']}"}).json()
        assert detail["status"] == "resolved" and detail["linked_articles"] == ["it-password-reset"]

    # Signing out ends the session: the API no longer accepts the browser.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.request.get(f"{base}/api/v1/tickets").status == 401


def test_queue_filters_and_handback(app, new_page):
    base, _, tokens = app
    page = new_page()
    sign_in(page, base, "bob", tokens["bob"])
    with httpx.Client(base_url=base, timeout=30) as http:
        number = ChatUser(http, "pavel").send("The printer on floor 2 smells like burnt toast").json()["ticket"]
        assert number
    expect(page.locator(f".q-item[data-number='{number}']")).to_be_visible()
    page.get_by_label("Search").fill("burnt toast")
    expect(page.locator(".q-item")).to_have_count(1)
    page.get_by_label("Assignee").select_option("mine")
    expect(page.locator(".q-item")).to_have_count(0)
    expect(page.get_by_text("Nothing waiting.")).to_be_visible()
    page.get_by_label("Assignee").select_option("unassigned")
    page.locator(f".q-item[data-number='{number}'] a").click()
    expect(page.locator("#t-reason")).to_have_text("Bot was not confident")
    page.get_by_role("button", name="Claim").click()
    page.locator("summary", has_text="Hand back to bot").click()
    page.locator("#handback-form button[type=submit]").click()
    expect(page.locator("#t-meta")).to_contain_text("closed")
    expect(page.locator("#transcript .msg.system").last).to_be_visible()  # the user was told
    expect(page.get_by_role("button", name="Claim")).to_be_hidden()


def test_posts_need_the_csrf_token(app, new_page):
    base, _, tokens = app
    page = new_page()
    sign_in(page, base, "alice", tokens["alice"])
    expect(page.locator("#queue")).to_be_attached()
    with httpx.Client(base_url=base, timeout=30) as http:
        number = ChatUser(http, "ivan").send("I need to talk to a human").json()["ticket"]
    # The browser's cookie alone (what a forged cross-site form would carry) is not enough.
    r = page.request.post(f"{base}/api/v1/tickets/{number}/claim")
    assert r.status == 403 and "CSRF" in r.json()["message"]
    csrf = page.locator("meta[name=csrf-token]").get_attribute("content")
    r = page.request.post(f"{base}/api/v1/tickets/{number}/claim", headers={"X-CSRF-Token": csrf})
    assert r.status == 200 and r.json()["status"] == "open"


def test_dashboard_is_for_managers(app, new_page):
    base, _, tokens = app
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/api/v1/dashboard", headers={"Authorization": f"Bearer {tokens['alice']}"}).status_code == 403
        assert http.get("/api/v1/dashboard").status_code == 401
        data = http.get("/api/v1/dashboard", headers={"Authorization": f"Bearer {tokens['maria']}"}).json()
        assert data["tickets_today"] >= 1 and data["conversations_today"] >= 1
        assert 0 <= data["deflection_rate"] <= 1 and set(data["open_by_line"]) >= {"L1", "L2", "L3"}

    page = new_page()
    sign_in(page, base, "alice", tokens["alice"])
    expect(page.get_by_role("link", name="Dashboard")).to_have_count(0)
    assert page.request.get(f"{base}/api/v1/dashboard").status == 403
    assert page.goto(f"{base}/console/dashboard").status == 403
    expect(page.get_by_role("alert")).to_contain_text("for managers")

    page = new_page()
    sign_in(page, base, "maria", tokens["maria"])
    page.get_by_role("link", name="Dashboard").click()
    for chart in ("#c-deflection", "#c-reasons", "#c-lines", "#c-outcomes", "#c-hours"):
        expect(page.locator(f"{chart} svg[role=img]")).to_be_visible()
    expect(page.locator("#k-defl")).to_have_text(re.compile(r"^\d+%$"))
    expect(page.locator("#c-reasons svg")).to_have_attribute("aria-label", re.compile("Bot was not confident"))
    assert page.locator("#c-hours svg rect").count() == 24


def test_queue_is_usable_on_a_phone(app, new_page):
    base, _, tokens = app
    page = new_page(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    sign_in(page, base, "alice", tokens["alice"])
    page.get_by_label("Status").select_option(label="All")
    first = page.locator(".q-item").first
    expect(first).to_be_visible()
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(overflow) <= 0
    edges = page.evaluate(
        "[...document.querySelectorAll('.q-item, #filters select, #filters input')]"
        ".map(e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; })"
    )
    assert edges and all(left >= 0 and right <= 375 for left, right in edges)
    first.locator("a").click()
    expect(page.locator("#transcript .msg").first).to_be_visible()
    assert page.evaluate(overflow) <= 0


def test_russian_ui(app, new_page):
    base, _, tokens = app
    page = new_page(locale="ru-RU")
    page.goto(f"{base}/console")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("heading", name="Консоль агента")).to_be_visible()
    sign_in(page, base, "alice", "wrong")
    expect(page.get_by_role("alert")).to_contain_text("Неверное имя, пароль или токен")
    sign_in(page, base, "alice", tokens["alice"])
    expect(page.get_by_role("heading", name=re.compile("^Очередь"))).to_be_visible()
    expect(page.get_by_label("Линия")).to_be_visible()
    expect(page.locator("#live")).to_have_text("В эфире")
    page.get_by_role("link", name="Language: English").click()
    expect(page.get_by_role("heading", name=re.compile("^Queue"))).to_be_visible()
    page.get_by_role("link", name="Язык: русский").click()
    expect(page.get_by_role("button", name="Выйти")).to_be_visible()


def test_a_script_link_stored_before_the_fix_is_shown_as_text(app, new_page):
    """Defence in depth: even a `javascript:` URL already in the database (from before URLs were checked) is
    never rendered as a link in a manager's console."""
    from tickets.ops_models import ExternalRef

    base, runtime, tokens = app
    with httpx.Client(base_url=base, timeout=30) as http:
        number = ChatUser(http, "rob").send("talk to a human").json()["ticket"]
    with runtime.sessions.begin() as s:
        s.add(
            ExternalRef(
                ticket_id=number,
                system="jira",
                ref="OPS-9",
                url="javascript:alert(document.cookie)",
                created_by="old-data",
            )
        )
    page = new_page()
    sign_in(page, base, "maria", tokens["maria"])
    page.goto(f"{base}/console/tickets/{number}")
    refs = page.locator("#ext-refs")
    expect(refs).to_contain_text("OPS-9")
    assert refs.locator("a").count() == 0


def test_api_docs_render_offline_under_the_security_policy(app, new_page):
    base, _, _ = app
    page = new_page()
    page.goto(f"{base}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Firstline")
    expect(page.locator(".opblock-tag").first).to_be_visible()
    page.locator(".opblock-tag").first.click()
    expect(page.locator(".opblock").first).to_be_visible()
