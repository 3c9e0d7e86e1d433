"""The console's knowledge-base pages in headless Chromium against the real running app on SQLite: an agent
writes an article, edits it (a new revision with a visible diff), publishes it and the bot answers from the new
text; a draft proposed from a resolved ticket waits in the review queue until an agent approves it; the
preview never renders raw HTML. Screenshots of the open pages go to tests/artifacts/ when a test fails."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.browser import browser, expect, new_page, sign_in  # noqa: F401  (fixtures; skips without Chromium)
from tests.support.live import ChatUser, make_agent, running_app

ROOF_Q = "How do I book the rooftop terrace meeting room?"
OOO_Q = "How do I set up an out-of-office auto reply in Outlook?"
OOO_ANSWER = (
    "In Outlook choose File → Automatic Replies, select 'Send automatic replies', write the message "
    "for people inside and outside the company, tick 'Only send during this time range' and set the dates."
)


@pytest.fixture(scope="module")
def app(tmp_path_factory, embedder):
    folder = tmp_path_factory.mktemp("console-kb")
    with running_app(f"sqlite:///{folder / 'firstline.db'}", folder / "data") as (base, runtime):
        tokens = {
            name: make_agent(runtime, name, role, kb_editor=editor)["Authorization"].split(" ", 1)[1]
            for name, role, editor in [("alice", "l1", True), ("bob", "l2", True), ("carl", "l1", False)]
        }
        yield base, runtime, tokens


def test_write_edit_publish_and_the_bot_answers(app, new_page):
    base, _, tokens = app
    page = new_page()
    sign_in(page, base, "alice", tokens["alice"])
    page.get_by_role("link", name="Knowledge base").click()
    expect(page.get_by_role("heading", name="Knowledge base")).to_be_visible()
    expect(page.locator(".kb-item[data-id='it-password-reset']")).to_be_visible()  # published seed articles
    page.get_by_label("Filter by title").fill("zzz-no-such-title")
    expect(page.locator(".kb-item")).to_have_count(0)
    page.get_by_role("searchbox", name="Search by meaning").fill("I forgot my password")
    page.get_by_role("button", name="Find").click()
    expect(page.locator(".kb-hit").first).to_contain_text("it-password-reset")
    page.get_by_label("Filter by title").fill("")
    shot(page, "kb-list")

    page.get_by_role("link", name="New article").click()
    page.get_by_label("Article id (optional)").fill("facilities-rooftop-room")
    page.get_by_label("Title").fill("Booking the rooftop terrace meeting room")
    page.get_by_label("Tags (comma-separated)").fill("facilities, rooms")
    body = page.get_by_label("Text (Markdown)")
    body.fill("## Booking\n\nAsk reception to **book** it.\n\n<img src=x onerror=alert(1)>")
    preview = page.locator("#a-preview")
    expect(preview.locator("strong")).to_have_text("book")  # live preview...
    expect(preview.get_by_role("heading", name="Booking")).to_be_visible()
    expect(preview).to_contain_text("<img src=x onerror=alert(1)>")  # ...shows HTML as text
    assert preview.locator("img").count() == 0
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/console/kb/articles/facilities-rooftop-room$"))
    expect(page.locator("#a-meta .badge")).to_have_text("Draft")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#a-meta .badge")).to_have_text("Published")
    revisions = page.locator("#revisions .rev")
    expect(revisions).to_have_count(2)  # created, published

    new_text = (
        "## Booking\n\nThe rooftop terrace room is booked in the **Roomie** app:\n\n"
        "1. Open Roomie and pick *Rooftop terrace*\n2. Choose a slot and enter the door code TERRACE-7731\n"
        "\nSee [the facilities page](https://intranet.example.com/facilities)."
    )
    body.fill(new_text)
    expect(preview.locator("ol li")).to_have_count(2)
    expect(preview.locator("a")).to_have_attribute("href", "https://intranet.example.com/facilities")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#toast")).to_contain_text("new revision")
    expect(revisions).to_have_count(3)
    revisions.first.get_by_role("button", name="Diff with previous").click()
    diff = page.locator("#diff")
    expect(diff.locator(".add").filter(has_text="TERRACE-7731")).to_have_count(1)
    expect(diff.locator(".del").filter(has_text="Ask reception")).to_have_count(1)
    shot(page, "kb-article")

    with httpx.Client(base_url=base, timeout=30) as http:
        reply = ChatUser(http, "kim@example.com").send(ROOF_Q).json()
        assert reply["state"] == "bot", reply
        answer = reply["replies"][0]
        assert answer["kind"] == "answer" and answer["article"]["id"] == "facilities-rooftop-room", reply
        assert "TERRACE-7731" in answer["text"]

    page.get_by_role("button", name="Archive").click()
    expect(page.locator("#a-meta .badge")).to_have_text("Archived")


def test_review_queue_approves_a_draft_from_a_resolution(app, new_page):
    base, _, tokens = app
    bearer = {"Authorization": f"Bearer {tokens['bob']}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        r = ChatUser(http, "ola").ask_for_person(OOO_Q)  # no article fits: at most choices, then a person
        assert r["state"] == "waiting_for_agent", r
        number = r["ticket"]
        http.post(f"/api/v1/tickets/{number}/claim", headers=bearer).raise_for_status()
        http.post(
            f"/api/v1/tickets/{number}/resolve", json={"resolution": OOO_ANSWER, "articles": []}, headers=bearer
        ).raise_for_status()
        draft = next(
            d for d in http.get("/api/v1/kb/drafts", headers=bearer).json() if d["origin"] == f"ticket:{number}"
        )

    page = new_page()
    sign_in(page, base, "bob", tokens["bob"])
    page.get_by_role("link", name="Review").click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    card = page.locator(f".draft[data-id='{draft['id']}']")
    expect(card).to_contain_text("Automatic Replies")
    expect(card.get_by_role("link", name=f"Ticket #{number}")).to_be_visible()
    expect(card.get_by_role("link", name="Edit")).to_have_attribute("href", f"/console/kb/articles/{draft['id']}")
    shot(page, "kb-review")
    card.get_by_role("button", name="Approve").click()
    expect(card).to_have_count(0)
    expect(page.locator("#toast")).to_contain_text("Approved")
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get(f"/api/v1/kb/articles/{draft['id']}", headers=bearer).json()["status"] == "published"


def test_an_agent_without_the_kb_editor_permission_writes_drafts_only(app, new_page):
    base, _, tokens = app
    page = new_page()
    sign_in(page, base, "carl", tokens["carl"])
    page.goto(f"{base}/console/kb/articles/it-password-reset")  # a published article: read-only for carl
    expect(page.locator("#a-meta .badge")).to_have_text("Published")
    expect(page.locator("#a-editor-note")).to_be_visible()
    expect(page.get_by_role("button", name="Archive")).to_be_hidden()
    expect(page.get_by_role("button", name="Save")).to_be_disabled()

    page.goto(f"{base}/console/kb/new")
    page.get_by_label("Article id (optional)").fill("facilities-parking")
    page.get_by_label("Title").fill("Visitor parking")
    page.get_by_label("Text (Markdown)").fill("Register the car plate at reception.")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/console/kb/articles/facilities-parking$"))
    expect(page.locator("#a-meta .badge")).to_have_text("Draft")
    expect(page.get_by_role("button", name="Publish")).to_be_hidden()
    # The API refuses it too (the buttons are a convenience, the server decides).
    with httpx.Client(base_url=base, timeout=30) as http:
        r = http.post(
            "/api/v1/kb/articles/facilities-parking/publish", headers={"Authorization": f"Bearer {tokens['carl']}"}
        )
        assert r.status_code == 403


def test_kb_pages_in_russian_on_a_phone(app, new_page):
    base, _, tokens = app
    page = new_page(locale="ru-RU", viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    sign_in(page, base, "alice", tokens["alice"])
    page.get_by_role("link", name="База знаний").click()
    expect(page.get_by_role("heading", name="База знаний")).to_be_visible()
    expect(page.locator(".kb-item").first).to_be_visible()
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(overflow) <= 0
    page.locator(".kb-item a").first.click()
    expect(page.get_by_label("Текст (Markdown)")).not_to_be_empty()
    expect(page.locator("#revisions .rev").first).to_be_visible()
    assert page.evaluate(overflow) <= 0
    shot(page, "kb-phone-ru")


def shot(page, name):
    """Screenshots for a human look (tests/artifacts/ is where test_console puts failure shots too)."""
    import os

    if os.environ.get("FIRSTLINE_SCREENSHOTS"):
        from tests.support.browser import ARTIFACTS

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
