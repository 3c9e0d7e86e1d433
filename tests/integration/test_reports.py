"""Reports (tickets.reports + GET /api/v1/reports/summary): every number checked against a small fixture
computed by hand, on SQLite and PostgreSQL; period boundaries in the desk's timezone; CSV and XLSX exports;
managers only; bad input rejected with 422.

The fixture (`seed`) is the week Mon 2026-11-16 … Sun 2026-11-22 in Europe/Moscow (UTC+3, no DST), with
tickets just either side of its edges. Times below are local (Moscow) unless they say UTC.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest
from openpyxl import load_workbook

from tests.support.report_week import MSK, NOW, TZ, L, seed
from tickets import reports
from tickets.models import Conversation, Ticket

WEEK = {
    # opened (created Mon 00:00 ≤ t < Mon 23 00:00): T1, T2, T3, T8, T4, T5 = 6 (not T0 Sun 23:59, not T6);
    # resolved (resolved_at in the week): T1, T2, T3, T7 = 4.
    "opened": 6,
    "resolved": 4,
    # web: opened T1 T5 T8 = 3, resolved T1 T7 = 2; telegram: T2 T3 / T2 T3; slack: T4 / none.
    # Ordered by opened + resolved: web 5, telegram 4, slack 1.
    "by_channel": [
        {"key": "web", "opened": 3, "resolved": 2},
        {"key": "telegram", "opened": 2, "resolved": 2},
        {"key": "slack", "opened": 1, "resolved": 0},
    ],
    # accounts: T2 T8 / T2 T7 (4); network: T1 T4 T5 / T1 (4; tie → by name); none: T3 / T3 (2, always last).
    "by_category": [
        {"key": "accounts", "opened": 2, "resolved": 2},
        {"key": "network", "opened": 3, "resolved": 1},
        {"key": None, "opened": 1, "resolved": 1},
    ],
    # L1: T1 T2 T4 T5 T8 / T1 T2 T7; L2: T3 / T3; L3 always listed.
    "by_line": [
        {"key": "L1", "opened": 5, "resolved": 3},
        {"key": "L2", "opened": 1, "resolved": 1},
        {"key": "L3", "opened": 0, "resolved": 0},
    ],
}


def week_report(factory, **kw):
    p = reports.resolve_period("week", "2026-11-16", tz=TZ)
    with factory() as s:
        return reports.summary(s, p, now=kw.get("now", NOW.astimezone(timezone.utc)))


def test_week_numbers_match_the_hand_computed_fixture(sessions):
    seed(sessions)
    r = week_report(sessions)
    assert (r["period"], r["start"], r["end"], r["timezone"], r["bucket"]) == (
        "week",
        "2026-11-16",
        "2026-11-22",
        TZ,
        "day",
    )
    assert r["range_utc"] == {"start": "2026-11-15T21:00:00+00:00", "end": "2026-11-22T21:00:00+00:00"}
    t = r["tickets"]
    assert (t["opened"], t["resolved"]) == (WEEK["opened"], WEEK["resolved"])
    assert t["by_channel"] == WEEK["by_channel"]
    assert t["by_category"] == WEEK["by_category"]
    assert t["by_line"] == WEEK["by_line"]

    # Deflection: conversations started in the week with a question = 6 ticket conversations (T1 T2 T3 T8 T4
    # T5) + C1 C2 C3 C4 C6 = 11 (C5 greeting-only, C7 next week); deflected = helped/answered C1 C2 C3 = 3.
    bot = r["bot"]
    assert (bot["conversations"], bot["deflected"], bot["deflection_rate"]) == (11, 3, round(3 / 11, 4))
    # Outcomes of all 12 conversations started in the week (C6 has none yet).
    assert bot["outcomes"] == {
        "helped": 2,
        "answered": 1,
        "handed_off": 3,
        "resolved_by_agent": 3,
        "handed_back": 0,
        "abandoned": 2,
    }
    # Handoff reasons of the 6 tickets opened: low_confidence T1 T2 T5, user_request T3, negative_feedback
    # T4, bot_error T8.
    assert list(bot["handoff_reasons"].items()) == [
        ("low_confidence", 3),
        ("bot_error", 1),
        ("negative_feedback", 1),
        ("user_request", 1),
    ]

    # First responses in the week (minutes after opening): T8 5, T1 10, T2 20, T3 30, T4 40 (T7's was the week
    # before). Median = 20; p90 at position 0.9·4 = 3.6 → 30 + 0.6·(40 − 30) = 36.
    assert r["first_response"] == {"count": 5, "median_minutes": 20.0, "p90_minutes": 36.0}
    # Resolutions in the week: T1 60, T3 240, T2 1440 (Mon 10:00 → Tue 10:00), T7 11520 (8 days).
    # Median = (240 + 1440) / 2 = 840; p90 at 0.9·3 = 2.7 → 1440 + 0.7·(11520 − 1440) = 8496.
    assert r["resolution"] == {"count": 4, "median_minutes": 840.0, "p90_minutes": 8496.0}

    # SLA first response, targets settled in the week: T0 missed (due Mon 00:29, never answered), T1 met,
    # T2 met, T3 missed (09:30 > 09:15), T8 met, T4 met; T7 settled the week before, T5 is due next week.
    # 4 / 6.
    assert r["sla"]["first_response"] == {"met": 4, "missed": 2, "total": 6, "compliance": round(4 / 6, 4)}
    # SLA resolution: T1 met, T3 met, T2 missed (due Mon 18:00, resolved Tue), T4 missed (due Thu 12:00, open);
    # T8 is paused (pending_user), T7's due time was the week before, T5's next week, T0 has none. 2 / 4.
    assert r["sla"]["resolution"] == {"met": 2, "missed": 2, "total": 4, "compliance": 0.5}

    # FCR: resolved T1 T2 T3 T7; T2 was reopened, T3 escalated → T1 T7 = 2 / 4.
    assert r["fcr"] == {"resolved": 4, "first_contact": 2, "rate": 0.5}
    # Escalation rate: of the 6 opened, T3 and T4 were escalated = 2 / 6; escalations made in the week: 3
    # (T0's to L3 counts here although T0 was opened the week before).
    assert r["escalation"] == {
        "opened": 6,
        "escalated": 2,
        "rate": round(2 / 6, 4),
        "in_period": 3,
        "to_line": {"L1": 1, "L2": 1, "L3": 1},
    }
    # Time: boris 50 + 5 = 55, ann 15 + 25 = 40 (her 100 was Sunday before; boris's running timer excluded).
    assert [(a["agent"], a["minutes"]) for a in r["time_logged"]["by_agent"]] == [("boris", 55), ("ann", 40)]
    assert r["time_logged"]["total_minutes"] == 95

    # Trend per local day. Opened: Mon T1 T2, Tue T3 T8, Wed T4, Sun T5. Resolved: Mon T1, Tue T2 T3, Thu T7.
    # Backlog at each local midnight: Mon → T0 T2 T7 (T1 done) = 3; Tue → T0 T7 T8 = 3; Wed → + T4 = 4;
    # Thu → T7 done = 3; Fri 3; Sat 3; Sun → + T5 = 4 (T6, created exactly at the end, not yet).
    trend = r["trend"]
    assert [x["bucket"] for x in trend] == [f"2026-11-{d}" for d in range(16, 23)]
    assert all(x["bucket"] == x["last_day"] for x in trend)
    assert [x["opened"] for x in trend] == [2, 2, 1, 0, 0, 0, 1]
    assert [x["resolved"] for x in trend] == [1, 2, 0, 1, 0, 0, 0]
    assert [x["backlog"] for x in trend] == [3, 3, 4, 3, 3, 3, 4]


def test_week_edges_follow_the_local_timezone(sessions):
    ids = seed(sessions)
    with sessions() as s:
        now = NOW.astimezone(timezone.utc)
        before = reports.summary(s, reports.resolve_period("week", "2026-11-15", tz=TZ), now=now)
        assert before["start"] == "2026-11-09"  # Sunday 15th belongs to the week that began Monday 9th
        # Sunday 23:59 local (T0) and T7 are that week's; Monday 00:00 (T1) is not.
        assert before["tickets"]["opened"] == 2
        nxt = reports.summary(s, reports.resolve_period("week", "2026-11-23", tz=TZ), now=now)
        assert nxt["tickets"]["opened"] == 1  # T6 at Monday 00:00 opens the next week
        # The same instants seen from UTC: Mon 00:00 Moscow is Sun 21:00 UTC, so T1 falls in the earlier week.
        utc_before = reports.summary(s, reports.resolve_period("week", "2026-11-15", tz="UTC"), now=now)
        assert utc_before["tickets"]["opened"] == 3  # T7, T0, T1
        assert s.get(Ticket, ids["T1"]).created_at == datetime(2026, 11, 15, 21, 0, tzinfo=timezone.utc)


def test_month_and_year_buckets(sessions):
    seed(sessions)
    now = NOW.astimezone(timezone.utc)
    with sessions() as s:
        nov = reports.summary(s, reports.resolve_period("month", "2026-11-20", tz=TZ), now=now)
        # November (local): every ticket but T9 (Oct 31 23:59) = 9 opened; resolved T9 (Nov 1 00:30), T1, T2,
        # T3, T7 = 5. One bucket per day.
        assert (nov["start"], nov["end"], nov["bucket"]) == ("2026-11-01", "2026-11-30", "day")
        assert (nov["tickets"]["opened"], nov["tickets"]["resolved"]) == (9, 5)
        assert len(nov["trend"]) == 30
        # Days after `now` (Nov 25 12:00) have no backlog yet; the 25th shows the backlog now: T0 T4 T5 T6 T8.
        assert [x["backlog"] for x in nov["trend"][24:]] == [5, None, None, None, None, None]
        oct_ = reports.summary(s, reports.resolve_period("month", "2026-10-01", tz=TZ), now=now)
        assert (oct_["tickets"]["opened"], oct_["tickets"]["resolved"]) == (1, 0)
        assert oct_["trend"][-1]["backlog"] == 1  # T9 open at the end of October, resolved on Nov 1
        year = reports.summary(s, reports.resolve_period("year", None, tz=TZ, now=now), now=now)
        assert (year["start"], year["end"], year["bucket"]) == ("2026-01-01", "2026-12-31", "month")
        assert [x["opened"] for x in year["trend"]] == [0] * 9 + [1, 9, 0]
        assert [x["resolved"] for x in year["trend"]] == [0] * 10 + [5, 0]
        assert year["trend"][10] == {
            "bucket": "2026-11-01",
            "last_day": "2026-11-30",
            "opened": 9,
            "resolved": 5,
            "backlog": 5,
        }
        assert year["trend"][11]["backlog"] is None  # December has not begun at `now`


def test_a_paused_resolution_clock_misses_only_if_already_overdue(sessions):
    with sessions.begin() as s:
        for name, paused in (("paused in time", L(17, 11)), ("paused when overdue", L(17, 13))):
            c = Conversation(channel="web", user_ref=name, created_at=L(17, 9), closed_at=L(17, 10))
            s.add(c)
            s.flush()
            s.add(
                Ticket(
                    conversation_id=c.id,
                    requester=name,
                    channel="web",
                    subject=name,
                    question=name,
                    status="pending_user",
                    handoff_reason="user_request",
                    created_at=L(17, 9),
                    resolution_due_at=L(17, 12),
                    sla_paused_at=paused,
                )
            )
    r = week_report(sessions)
    # Due Tue 12:00: paused at 11:00 (the due time will move) → not settled; paused at 13:00 → missed.
    assert r["sla"]["resolution"] == {"met": 0, "missed": 1, "total": 1, "compliance": 0.0}


def test_resolve_period_rules():
    now = datetime(2026, 11, 26, 23, 30, tzinfo=timezone.utc)  # already Friday 27th in Moscow
    wk = reports.resolve_period(None, None, tz=TZ, now=now)
    assert (wk.kind, wk.first_day, wk.last_day) == ("week", date(2026, 11, 23), date(2026, 11, 29))
    assert reports.resolve_period("week", None, tz="UTC", now=now).first_day == date(2026, 11, 23)
    assert reports.resolve_period("month", None, tz=TZ, now=now).last_day == date(2026, 11, 30)
    feb = reports.resolve_period("month", "2028-02-10", tz=TZ)
    assert (feb.first_day, feb.last_day) == (date(2028, 2, 1), date(2028, 2, 29))
    assert feb.start == datetime(2028, 1, 31, 21, 0, tzinfo=timezone.utc)
    dec = reports.resolve_period("year", "2026-12-31", tz=TZ)
    assert (dec.first_day, dec.last_day, len(dec.bucket_days())) == (date(2026, 1, 1), date(2026, 12, 31), 12)
    # Any range: day buckets up to 31 days, weeks (from each Monday) up to 184, then months.
    assert reports.resolve_period(None, "2026-11-01", "2026-12-01").bucket == "day"
    assert reports.resolve_period(None, "2026-11-01", "2026-12-02").bucket == "week"
    r = reports.resolve_period("week", "2026-11-04", "2026-12-20")  # end given: exactly that range
    assert (r.kind, r.first_day, r.last_day) == ("custom", date(2026, 11, 4), date(2026, 12, 20))
    assert [d.isoformat() for d in r.bucket_days()] == [
        "2026-11-04",
        "2026-11-09",
        "2026-11-16",
        "2026-11-23",
        "2026-11-30",
        "2026-12-07",
        "2026-12-14",
    ]
    assert reports.resolve_period(None, "2026-01-01", "2026-12-31").bucket == "month"
    assert reports.resolve_period(None, "2026-11-05", "2026-11-05").end - reports.resolve_period(
        None, "2026-11-05", "2026-11-05"
    ).start == timedelta(days=1)
    for args, message in [
        (("day", None, None), "period must be one of"),
        (("week", "2026-13-01", None), "YYYY-MM-DD"),
        (("week", "yesterday", None), "YYYY-MM-DD"),
        ((None, None, "2026-11-01"), "needs start"),
        ((None, "2026-11-02", "2026-11-01"), "before start"),
        ((None, "2020-01-01", "2026-01-01"), "at most"),
    ]:
        with pytest.raises(reports.ReportInputError, match=message):
            reports.resolve_period(*args, tz=TZ)
    with pytest.raises(reports.ReportInputError, match="timezone"):
        reports.resolve_period("week", None, tz="Mars/Olympus")


def test_percentile_is_linear_between_order_statistics():
    assert reports.percentile([], 0.5) is None
    assert reports.percentile([7], 0.9) == 7
    assert reports.percentile([40, 10, 30, 20], 0.5) == 25
    assert reports.percentile([10, 20, 30, 40, 50], 0.9) == pytest.approx(46)


def test_empty_period_has_no_rates(sessions):
    with sessions() as s:
        r = reports.summary(s, reports.resolve_period("week", "2026-11-16", tz=TZ), now=NOW)
    assert r["tickets"]["opened"] == 0 and r["bot"]["deflection_rate"] is None
    assert r["fcr"]["rate"] is None and r["sla"]["first_response"]["compliance"] is None
    assert r["first_response"]["median_minutes"] is None
    assert [x["backlog"] for x in r["trend"]] == [0] * 7


# ---- the HTTP API ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(module_db_url, tmp_path_factory):
    from tests.support.live import make_agent, running_app

    with running_app(module_db_url, tmp_path_factory.mktemp("reports"), timezone=TZ) as (base, runtime):
        seed(runtime.sessions)
        headers = {"manager": make_agent(runtime, "maria", "manager"), "l2": make_agent(runtime, "lena", "l2")}
        with httpx.Client(base_url=base, timeout=30) as http:
            yield http, headers


URL = "/api/v1/reports/summary"


def test_api_week_json_matches_the_fixture(app):
    http, h = app
    r = http.get(URL, params={"period": "week", "start": "2026-11-18"}, headers=h["manager"])
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["start"], d["end"], d["timezone"]) == ("2026-11-16", "2026-11-22", TZ)  # Wednesday → its week
    assert (d["tickets"]["opened"], d["tickets"]["resolved"]) == (6, 4)
    assert d["tickets"]["by_channel"] == WEEK["by_channel"]
    assert d["tickets"]["by_category"] == WEEK["by_category"]
    assert d["fcr"]["rate"] == 0.5 and d["escalation"]["rate"] == 0.3333
    assert d["sla"]["first_response"]["compliance"] == 0.6667 and d["bot"]["deflection_rate"] == 0.2727
    assert [x["backlog"] for x in d["trend"]] == [3, 3, 4, 3, 3, 3, 4]
    # The same days as a range (end inclusive) give the same numbers.
    rng = http.get(URL, params={"start": "2026-11-16", "end": "2026-11-22"}, headers=h["manager"]).json()
    assert rng["period"] == "custom" and rng["tickets"] == d["tickets"] and rng["trend"] == d["trend"]


def sections(text: str) -> dict[str, list[list[str]]]:
    out, name = {}, None
    for row in csv.reader(io.StringIO(text)):
        if not row:
            name = None
        elif name is None:
            assert row[0].startswith("# ")
            name = row[0][2:]
            out[name] = []
        else:
            out[name].append(row)
    return out


def test_api_csv_has_one_section_per_table(app):
    http, h = app
    r = http.get(URL, params={"period": "week", "start": "2026-11-16", "format": "csv"}, headers=h["manager"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="firstline-report-2026-11-16_2026-11-22.csv"'
    s = sections(r.text)
    assert list(s) == [
        "summary",
        "by_channel",
        "by_category",
        "by_line",
        "handoff_reasons",
        "conversation_outcomes",
        "response_times",
        "sla",
        "escalations",
        "time_by_agent",
        "trend",
    ]
    summary = dict(s["summary"][1:])
    assert summary["tickets_opened"] == "6" and summary["tickets_resolved"] == "4"
    assert summary["deflection_rate"] == "0.2727" and summary["fcr_rate"] == "0.5"
    assert summary["escalation_rate"] == "0.3333" and summary["backlog_at_end"] == "4"
    assert summary["first_response_median_minutes"] == "20.0" and summary["resolution_p90_minutes"] == "8496.0"
    assert s["by_channel"] == [
        ["channel", "opened", "resolved"],
        ["web", "3", "2"],
        ["telegram", "2", "2"],
        ["slack", "1", "0"],
    ]
    assert s["by_category"][1:] == [["accounts", "2", "2"], ["network", "3", "1"], ["(none)", "1", "1"]]
    assert s["sla"][1:] == [["first_response", "4", "2", "6", "0.6667"], ["resolution", "2", "2", "4", "0.5"]]
    assert s["time_by_agent"] == [["agent", "minutes"], ["boris", "55"], ["ann", "40"]]
    assert [row[4] for row in s["trend"][1:]] == ["3", "3", "4", "3", "3", "3", "4"]


def test_api_xlsx_has_sheets_values_and_charts(app):
    http, h = app
    r = http.get(URL, params={"period": "week", "start": "2026-11-16", "format": "xlsx"}, headers=h["manager"])
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert r.headers["content-disposition"].endswith('.xlsx"')
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames[:4] == ["summary", "by_channel", "by_category", "by_line"] and "trend" in wb.sheetnames
    summary = {row[0]: row[1] for row in wb["summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["tickets_opened"] == 6 and summary["sla_resolution_compliance"] == 0.5
    assert list(wb["by_channel"].iter_rows(values_only=True)) == [
        ("channel", "opened", "resolved"),
        ("web", 3, 2),
        ("telegram", 2, 2),
        ("slack", 1, 0),
    ]
    trend = list(wb["trend"].iter_rows(min_row=2, values_only=True))
    assert [row[4] for row in trend] == [3, 3, 4, 3, 3, 3, 4]
    # Charts: opened/resolved per channel (bar), per day (bar) and the backlog (line).
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    kinds = sorted(k for c in charts for k in ("barChart", "lineChart") if f"<{k}>" in c)
    assert kinds == ["barChart", "barChart", "barChart", "lineChart"]  # + handoff reasons
    assert any("Backlog" in c for c in charts)


def test_api_is_for_managers_and_rejects_bad_input(app):
    http, h = app
    r = http.get(URL, headers=h["l2"])
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert http.get(URL).status_code == 401
    for params, message in [
        ({"period": "fortnight"}, "period must be one of"),
        ({"period": "week", "start": "2026-02-30"}, "YYYY-MM-DD"),
        ({"start": "2026-11-10", "end": "2026-11-01"}, "before start"),
        ({"end": "2026-11-01"}, "needs start"),
        ({"format": "pdf"}, "format must be one of"),
    ]:
        r = http.get(URL, params=params, headers=h["manager"])
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"] == "invalid_input" and message in r.json()["message"]
    # The default is the current week in the desk's timezone.
    d = http.get(URL, headers=h["manager"]).json()
    today = datetime.now(MSK).date()
    assert d["period"] == "week" and d["start"] == (today - timedelta(days=today.weekday())).isoformat()


def test_xlsx_keeps_text_that_looks_like_a_formula():
    from api.routes.reports import to_xlsx

    data = to_xlsx([reports.Table("time_by_agent", ["agent", "minutes"], [['=HYPERLINK("x")', 5]])])
    cell = load_workbook(io.BytesIO(data))["time_by_agent"]["A2"]
    assert (cell.value, cell.data_type) == ('=HYPERLINK("x")', "s")
