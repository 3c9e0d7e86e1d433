"""Headless Chromium for the console tests: Debian's /usr/bin/chromium driven by Playwright (which downloads
nothing). Import the fixtures from here; a test module that does is skipped when Playwright or Chromium is
missing. Screenshots of every open page go to tests/artifacts/ when a test fails."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.support.paths import ARTIFACTS

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Debian chromium is not installed (apt-get install chromium chromium-driver)", allow_module_level=True)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
expect = sync_api.expect
expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser, request):
    """Pages in fresh browser contexts (own cookies); screenshots of all of them if the test fails. A page that
    breaks the Content-Security-Policy (inline script or style, another origin) or requests anything off this
    machine fails the test: what works here works under the headers production sends, offline."""
    contexts = []
    violations: list[str] = []

    def make(foreign: str | None = None, **options):
        """`foreign`: the origin of a page that is not ours (a sign-in provider's); what such a page asks from off
        this machine (its CDN stylesheet) is refused, and is not held against our pages."""
        ctx = browser.new_context(
            **{"viewport": {"width": 1366, "height": 900}, "locale": "en-US", "accept_downloads": True, **options}
        )
        contexts.append(ctx)
        page = ctx.new_page()
        page.on(
            "console",
            lambda m: violations.append(f"{page.url}: {m.text}") if "Content Security Policy" in m.text else None,
        )
        local = r"^(https?://127\.0\.0\.1[:/]|data:|blob:|about:" + (f"|{re.escape(foreign)}" if foreign else "") + ")"
        if foreign:
            ctx.route(lambda url: not re.match(local, url), lambda route: route.abort())
        page.on(
            "request",
            lambda r: (
                violations.append(f"{page.url}: requested {r.url}")
                if not re.match(local, r.url) and not (foreign and page.url.startswith(foreign))
                else None
            ),
        )
        return page

    yield make
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        for i, ctx in enumerate(contexts):
            for j, page in enumerate(ctx.pages):
                page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{i}-{j}.png"), full_page=True)
    for ctx in contexts:
        ctx.close()
    if violations and not (rep is not None and rep.failed):
        pytest.fail("the page broke the security policy or left the machine:\n" + "\n".join(violations[:10]))


def sign_in(page, base, name, token):
    page.goto(f"{base}/console")
    page.get_by_label(re.compile("Agent name|Имя агента")).fill(name)
    page.get_by_label(re.compile("Password or agent token|Пароль или токен агента")).fill(token)
    page.locator("form[action='/console/login'] button[type=submit]").click()
