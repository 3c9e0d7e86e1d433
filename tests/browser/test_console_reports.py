"""The console's reports page in headless Chromium (Playwright) against the real running app: a manager
opens Reports, sees the hand-computed numbers of the fixture (tests/support/report_week.seed) in the KPI cards, the
SVG charts (with their numbers in aria-labels) and the tables under them, moves between periods and
downloads the CSV; other agents are turned away; the page speaks Russian. Screenshots on failure go to
tests/artifacts/."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from tests.support.browser import browser, expect, new_page, sign_in  # noqa: F401  (fixtures; skips without Chromium)
from tests.support.live import make_agent, running_app
from tests.support.report_week import TZ, seed

WEEK = "/console/reports?period=week&start=2026-11-16"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console-reports")
    with running_app(f"sqlite:///{folder / 'firstline.db'}", folder / "data", timezone=TZ) as (base, runtime):
        seed(runtime.sessions)
        tokens = {
            name: make_agent(runtime, name, role)["Authorization"].split(" ", 1)[1]
            for name, role in [("alice", "l1"), ("maria", "manager")]
        }
        yield base, tokens


def test_manager_sees_the_week_in_numbers_and_charts(app, new_page):
    base, tokens = app
    page = new_page()
    sign_in(page, base, "maria", tokens["maria"])
    page.get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", name=re.compile("^Reports"))).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-loaded", re.compile(r"\d{4}-\d\d-\d\d/"))  # this week

    page.goto(f"{base}{WEEK}")
    expect(page.locator("#r-range")).to_have_text("2026-11-16 – 2026-11-22")
    expect(page.locator("#r-tz")).to_have_text(TZ)
    # KPI cards: the hand-computed numbers of tests/integration/test_reports.py.
    expect(page.locator("#k-opened")).to_have_text("6")
    expect(page.locator("#k-resolved")).to_have_text("4")
    expect(page.locator("#k-deflection")).to_have_text("27.3%")
    expect(page.locator("#k-deflection-of")).to_have_text("3 / 11")
    expect(page.locator("#k-fcr")).to_have_text("50%")
    expect(page.locator("#k-escalation")).to_have_text("33.3%")
    expect(page.locator("#k-backlog")).to_have_text("4")

    # Backlog trend: bars for opened/resolved per day, a line for the backlog; the numbers are readable by a
    # screen reader (aria-label) and in the table under the chart.
    trend = page.locator("#c-trend svg[role=img]")
    expect(trend).to_be_visible()
    assert page.locator("#c-trend rect.bar-opened").count() == 7
    assert page.locator("#c-trend circle.backlog-dot").count() == 7
    expect(trend).to_have_attribute("aria-label", re.compile(r"Backlog \(open at the end\) 4"))
    backlog = page.locator("#t-trend tbody tr td:nth-child(4)").all_inner_texts()
    assert backlog == ["3", "3", "4", "3", "3", "3", "4"]
    # Opened / resolved per channel.
    expect(page.locator("#c-channel svg")).to_have_attribute(
        "aria-label", re.compile("web: Opened 3, Resolved 2; telegram: Opened 2, Resolved 2; slack: Opened 1")
    )
    expect(page.locator("#t-channel tbody tr").first).to_have_text(re.compile(r"web\s*3\s*2"))
    expect(page.locator("#t-category tbody tr").last).to_contain_text("(no category)")
    # Handoff reasons, SLA compliance, times, time per agent.
    expect(page.locator("#c-reasons svg")).to_have_attribute("aria-label", re.compile("Bot was not confident: 3"))
    expect(page.locator("#c-sla svg")).to_have_attribute(
        "aria-label", re.compile(r"First response: 66\.7%, Resolution: 50%")
    )
    expect(page.locator("#t-times tbody tr").first).to_have_text(re.compile(r"First response\s*5\s*20 min\s*36 min"))
    expect(page.locator("#t-agents tbody tr").first).to_have_text(re.compile(r"boris\s*55"))

    # Downloads carry the same period; the CSV is the same report.
    expect(page.locator("#r-csv")).to_have_attribute("href", re.compile("period=week&start=2026-11-16&format=csv"))
    expect(page.locator("#r-xlsx")).to_have_attribute("href", re.compile("format=xlsx"))
    with page.expect_download() as dl:
        page.locator("#r-csv").click()
    assert dl.value.suggested_filename == "firstline-report-2026-11-16_2026-11-22.csv"
    rows = list(csv.reader(io.StringIO(Path(dl.value.path()).read_text())))
    assert ["tickets_opened", "6"] in rows and ["fcr_rate", "0.5"] in rows

    # Previous week: Sunday 23:59 (T0) and Wednesday 11th (T7).
    page.get_by_role("button", name="← Previous").click()
    expect(page.locator("#r-range")).to_have_text("2026-11-09 – 2026-11-15")
    expect(page.locator("#k-opened")).to_have_text("2")
    assert "start=2026-11-09" in page.url
    # The month, then a custom range of the original week.
    page.get_by_label("Month").check()
    expect(page.locator("#r-range")).to_have_text("2026-11-01 – 2026-11-30")
    expect(page.locator("#k-opened")).to_have_text("9")
    page.get_by_label("Range").check()
    page.get_by_label("From").fill("2026-11-16")
    page.get_by_label("To").fill("2026-11-22")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#r-range")).to_have_text("2026-11-16 – 2026-11-22")
    expect(page.locator("#k-opened")).to_have_text("6")
    expect(page.locator("#r-xlsx")).to_have_attribute("href", re.compile("start=2026-11-16&end=2026-11-22"))


def test_reports_are_for_managers(app, new_page):
    base, tokens = app
    page = new_page()
    sign_in(page, base, "alice", tokens["alice"])
    expect(page.get_by_role("heading", name=re.compile("^Queue"))).to_be_visible()
    expect(page.get_by_role("link", name="Reports")).to_have_count(0)
    assert page.goto(f"{base}{WEEK}").status == 403
    expect(page.get_by_role("alert")).to_have_text("Reports are for managers.")
    expect(page.locator("#c-trend")).to_have_count(0)
    assert page.request.get(f"{base}/api/v1/reports/summary").status == 403


def test_reports_in_russian(app, new_page):
    base, tokens = app
    page = new_page(locale="ru-RU")
    sign_in(page, base, "maria", tokens["maria"])
    page.get_by_role("link", name="Отчёты").click()
    expect(page.get_by_role("heading", name=re.compile("^Отчёты"))).to_be_visible()
    page.goto(f"{base}{WEEK}")
    expect(page.locator("#k-opened")).to_have_text("6")
    expect(page.get_by_text("Решено с первого обращения")).to_be_visible()
    expect(page.locator("#c-channel svg")).to_have_attribute("aria-label", re.compile("web: Открыто 3, Решено 2"))
    expect(page.get_by_role("button", name="← Предыдущий")).to_be_visible()
