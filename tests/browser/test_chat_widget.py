"""The web chat as people meet it (headless Chromium, the real app): the one-tag widget on a plain intranet page
(another origin) opens the chat in a panel and answers; the desk frames only for the origins it lists. And the
chat's screenshots for docs/screenshots/ — light, dark, phone width, Russian — taken here, so they show what is
built."""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.support.browser import browser, expect, new_page  # noqa: F401  (fixtures; skips without Chromium)
from tests.support.live import free_port, running_app
from tests.support.paths import ROOT

SHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def intranet(tmp_path_factory):
    """A plain page on another origin, as a company's intranet would be."""
    folder = tmp_path_factory.mktemp("intranet")
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(SimpleHTTPRequestHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture(scope="module")
def app(tmp_path_factory, intranet):
    _, origin = intranet
    folder = tmp_path_factory.mktemp("widget")
    with running_app(
        f"sqlite:///{folder / 'firstline.db'}", folder, chat_embed_origins=origin, brand_name="Acme IT help"
    ) as (base, rt):
        yield base, rt


def test_the_widget_opens_the_chat_on_an_intranet_page(app, intranet, new_page):
    base, _ = app
    folder, origin = intranet
    (folder / "index.html").write_text(
        "<!doctype html><html><head><title>Intranet</title></head><body><h1>Welcome to the intranet</h1>"
        f'<script src="{base}/static/widget.js" data-label="IT help" defer></script></body></html>'
    )
    page = new_page(foreign=origin)
    page.goto(f"{origin}/index.html")
    launcher = page.get_by_role("button", name="💬 IT help")
    expect(launcher).to_be_visible()
    expect(page.locator("iframe")).to_have_count(0)  # nothing of the desk loads until it is opened
    launcher.click()
    chat = page.frame_locator("iframe[title='IT help']")
    expect(chat.locator("h1")).to_have_text("Acme IT help")
    chat.get_by_role("button", name="Skip").click()
    chat.locator("#text").fill("how do I reset my password?")
    chat.locator("#text").press("Enter")
    expect(chat.locator(".msg.bot").last).to_contain_text("password")
    launcher.click()  # the bubble closes the panel again (Escape does too, when the page has the focus)
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(launcher).to_have_attribute("aria-expanded", "false")


def test_only_the_listed_origins_may_frame_the_chat(app, intranet):
    base, _ = app
    _, origin = intranet
    page = httpx.get(f"{base}/")
    assert f"frame-ancestors 'self' {origin}" in page.headers["content-security-policy"]
    assert "x-frame-options" not in page.headers
    console = httpx.get(f"{base}/console")
    assert "frame-ancestors 'none'" in console.headers["content-security-policy"]
    assert console.headers["x-frame-options"] == "DENY"
    assert httpx.get(f"{base}/static/widget.js").headers["cross-origin-resource-policy"] == "cross-origin"


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("chat-light", {"color_scheme": "light"}),
        ("chat-dark", {"color_scheme": "dark"}),
        ("chat-phone", {"color_scheme": "light", "viewport": {"width": 390, "height": 780}}),
        ("chat-ru", {"color_scheme": "light", "locale": "ru-RU"}),
    ],
)
def test_screenshots_of_the_chat(app, new_page, name, options):
    base, _ = app
    page = new_page(**options)
    page.goto(f"{base}/")
    ru = options.get("locale") == "ru-RU"
    page.get_by_role("button", name="Пропустить" if ru else "Skip").click()
    page.locator("#text").fill("не работает vpn из дома" if ru else "how do I connect to the VPN from home?")
    page.locator("#text").press("Enter")
    expect(page.locator(".msg.bot").nth(1)).to_be_visible()
    if options["color_scheme"] == "dark":
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(17, 21, 29)"  # the dark palette, not the light one
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
