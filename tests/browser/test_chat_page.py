"""The employee's web chat page in headless Chromium: "did you mean" choices are buttons with the articles' titles,
and picking one shows that article with the usual feedback buttons."""

from __future__ import annotations

import re

import pytest

from tests.support.browser import browser, expect, new_page  # noqa: F401  (fixtures; skips without Chromium)
from tests.support.live import running_app


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chat-page")
    with running_app(f"sqlite:///{folder / 'firstline.db'}", folder) as (base, runtime):
        yield base, runtime


def test_competing_articles_are_buttons_and_the_pick_is_answered(app, new_page):
    base, _ = app
    page = new_page()
    page.goto(f"{base}/")
    page.locator("#text").fill("how to connect to vpn from home")
    page.locator("#text").press("Enter")
    choice = page.get_by_role("button", name=re.compile(r"How do I connect to the VPN \(GlobalProtect\)"))
    expect(choice).to_be_visible()
    expect(page.get_by_role("button", name="Talk to a human")).to_be_visible()
    choice.click()
    expect(page.locator(".msg.bot").last).to_contain_text("GlobalProtect")
    expect(page.locator(".msg.bot").last.get_by_role("button", name="Helped")).to_be_visible()
    expect(choice).to_be_disabled()  # a used set of choices can't be pressed again


def test_an_anonymous_user_says_who_they_are_and_the_agent_sees_it(app, new_page):
    import httpx

    from tests.support.live import make_agent

    base, runtime = app
    page = new_page()
    page.goto(f"{base}/")
    expect(page.get_by_text("who are you?")).to_be_visible()
    page.get_by_label("Name").fill("Pyotr Sidorov")
    page.get_by_label("Work e-mail").fill("pyotr@acme.example")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#intro")).to_be_hidden()
    page.locator("#text").fill("I need a person please")
    page.locator("#text").press("Enter")
    expect(page.locator("#state")).to_contain_text("Ticket #")
    number = int(re.search(r"#(\d+)", page.locator("#state").inner_text()).group(1))
    with httpx.Client(base_url=base, timeout=30) as http:
        who = http.get(f"/api/v1/tickets/{number}", headers=make_agent(runtime, "intro-agent")).json()["requester"]
    assert who["name"] == "Pyotr Sidorov" and who["claimed_email"] == "pyotr@acme.example"
    assert who["email"] is None and who["provisional"]  # typed, not verified
    page.reload()
    expect(page.locator("#intro")).to_be_hidden()  # asked once per browser


def test_answers_render_markdown_and_a_reload_restores_the_whole_chat(app, new_page):
    base, _ = app
    page = new_page()
    page.goto(f"{base}/")
    page.get_by_role("button", name="Skip").click()
    page.locator("#text").fill("my account is locked out")
    page.locator("#text").press("Enter")
    answer = page.locator(".msg.bot").last
    expect(answer.locator("strong").first).to_be_visible()  # **bold** became bold...
    assert "**" not in answer.inner_text()  # ...and no asterisks are left
    expect(answer.locator("a.article-link")).to_have_count(1)  # one link to the full article, not two
    answer.get_by_role("button", name="Talk to a human").click()
    expect(page.locator("#state")).to_contain_text("Ticket #")
    expect(page.locator(".msg.user")).to_have_count(2)  # the question and the press, each once
    expect(page.locator(".msg.bot").last).to_contain_text("first reply is due by")
    page.locator("#text").fill("it still says locked")
    page.locator("#text").press("Enter")
    expect(page.locator(".msg.user").last.locator(".note")).to_contain_text("sent to ticket #")
    before = page.locator(".msg").count()
    state = page.locator("#state").inner_text()

    page.reload()
    expect(page.locator(".msg.user").first).to_contain_text("my account is locked out")  # the user's own words
    expect(page.locator(".msg.user").last).to_contain_text("it still says locked")
    expect(page.locator("#state")).to_have_text(state)  # the ticket line
    assert page.locator(".msg").count() == before - 1  # everything but the greeting, once
    enabled = page.locator(".actions button:enabled")
    expect(enabled).to_have_count(0)  # feedback already given stays given
    expect(page.locator(".msg.user").nth(1)).to_contain_text("Talk to a human")  # the press itself is in the history


def test_a_russian_browser_gets_russian_labels_my_tickets_and_file_upload(app, new_page, tmp_path):
    base, _ = app
    page = new_page(locale="ru-RU")
    page.goto(f"{base}/")
    expect(page.get_by_role("button", name="Пропустить")).to_be_visible()
    expect(page.locator("#text")).to_have_attribute("placeholder", "Как сбросить пароль?")
    expect(page.locator(".greeting")).to_contain_text("Здравствуйте")
    page.get_by_role("button", name="Пропустить").click()
    page.locator("#text").fill("Позовите человека, пожалуйста")
    page.locator("#text").press("Enter")
    expect(page.locator("#state")).to_contain_text("Заявка №")
    number = re.search(r"№(\d+)", page.locator("#state").inner_text()).group(1)
    shot = tmp_path / "screen.png"
    shot.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # a PNG header: accepted as an image
    page.locator("#file").set_input_files(str(shot))
    expect(page.locator(".msg.user .file").last).to_contain_text("screen.png")
    bad = tmp_path / "setup.exe"
    bad.write_bytes(b"MZ" + b"\x00" * 64)
    page.locator("#file").set_input_files(str(bad))
    expect(page.locator("#error")).to_contain_text("setup.exe")
    page.get_by_role("button", name="Мои заявки").click()
    row = page.locator(".ticket-row").first
    expect(row).to_contain_text(f"#{number}")
    expect(row).to_contain_text("ожидает")
    row.click()
    expect(page.locator("#ticket-thread")).to_contain_text("Позовите человека")
    expect(page.locator("#ticket-thread")).to_contain_text("screen.png")
