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
