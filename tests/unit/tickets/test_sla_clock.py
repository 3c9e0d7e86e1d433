"""Business-calendar arithmetic for SLA due times: explicit datetimes, no clock, no database."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from tickets.sla_clock import BusinessCalendar, CalendarError, parse_dates, parse_hours

UTC = timezone.utc
OFFICE = "Mon-Fri 09:00-18:00"
FRI_1730 = datetime(2027, 1, 8, 17, 30, tzinfo=UTC)  # a Friday


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_friday_evening_ticket_with_one_business_hour_is_due_monday_morning():
    cal = BusinessCalendar.from_spec(OFFICE)
    assert FRI_1730.strftime("%A") == "Friday"
    assert cal.add_minutes(FRI_1730, 60) == utc(2027, 1, 11, 9, 30)
    assert cal.minutes_between(FRI_1730, utc(2027, 1, 11, 9, 30)) == 60


def test_a_holiday_monday_moves_it_to_tuesday():
    cal = BusinessCalendar.from_spec(OFFICE, holidays=[date(2027, 1, 11)])
    assert cal.add_minutes(FRI_1730, 60) == utc(2027, 1, 12, 9, 30)
    assert cal.minutes_between(FRI_1730, utc(2027, 1, 12, 9, 30)) == 60
    assert not cal.is_open(utc(2027, 1, 11, 12, 0)) and cal.is_open(utc(2027, 1, 12, 12, 0))


def test_starts_outside_hours_count_from_the_next_opening():
    cal = BusinessCalendar.from_spec(OFFICE)
    assert cal.add_minutes(utc(2027, 1, 11, 7, 0), 30) == utc(2027, 1, 11, 9, 30)  # Monday before opening
    assert cal.add_minutes(utc(2027, 1, 9, 14, 0), 30) == utc(2027, 1, 11, 9, 30)  # Saturday
    assert cal.add_minutes(utc(2027, 1, 11, 19, 0), 30) == utc(2027, 1, 12, 9, 30)  # Monday after closing
    # Landing exactly on closing time stays on that day.
    assert cal.add_minutes(utc(2027, 1, 8, 17, 0), 60) == utc(2027, 1, 8, 18, 0)
    # Three 9-hour business days from Monday 09:00 end on Wednesday at closing time.
    assert cal.add_minutes(utc(2027, 1, 11, 9, 0), 27 * 60) == utc(2027, 1, 13, 18, 0)
    assert cal.minutes_between(utc(2027, 1, 9), utc(2027, 1, 10, 23, 59)) == 0  # a weekend has no business time


def test_minutes_between_is_signed_and_inverts_add_minutes():
    cal = BusinessCalendar.from_spec(
        "Mon-Thu 09:00-13:00,14:00-18:00; Fri 09:00-16:45", "Europe/Berlin", holidays=[date(2027, 3, 29)]
    )
    start = utc(2027, 3, 20, 0, 0)
    for step in range(0, 14 * 24 * 60, 97):  # every 97 minutes over two weeks, across the DST change
        a = start + timedelta(minutes=step)
        for minutes in (1, 45, 60, 240, 1620):
            due = cal.add_minutes(a, minutes)
            assert cal.minutes_between(a, due) == pytest.approx(minutes), (a, minutes)
            assert cal.minutes_between(due, a) == pytest.approx(-minutes)
            assert cal.is_open(due - timedelta(seconds=1))


def test_split_day_and_shorter_friday():
    cal = BusinessCalendar.from_spec("Mon-Thu 09:00-18:00; Fri 09:00-16:45")
    assert cal.add_minutes(utc(2027, 1, 8, 16, 0), 60) == utc(2027, 1, 11, 9, 15)
    lunch = BusinessCalendar.from_spec("Mon-Fri 09:00-13:00, 14:00-18:00")
    assert lunch.add_minutes(utc(2027, 1, 11, 12, 30), 60) == utc(2027, 1, 11, 14, 30)
    assert lunch.minutes_between(utc(2027, 1, 11, 12, 0), utc(2027, 1, 11, 15, 0)) == 120
    # A later part replaces the hours of the days it names.
    assert parse_hours("Mon-Fri 09:00-18:00; Fri 09:00-15:00")[4] == ((540, 900),)


def test_dst_in_europe_berlin():
    cal = BusinessCalendar.from_spec(OFFICE, "Europe/Berlin")
    # Spring forward (Sunday 2027-03-28): Friday 17:30 CET = 16:30 UTC, Monday 09:30 CEST = 07:30 UTC.
    assert cal.add_minutes(utc(2027, 3, 26, 16, 30), 60) == utc(2027, 3, 29, 7, 30)
    # Fall back (Sunday 2027-10-31): Friday 17:30 CEST = 15:30 UTC, Monday 09:30 CET = 08:30 UTC.
    assert cal.add_minutes(utc(2027, 10, 29, 15, 30), 60) == utc(2027, 11, 1, 8, 30)
    # A full business day is 9 hours on both sides of the change.
    assert cal.minutes_between(utc(2027, 3, 26, 0), utc(2027, 3, 27, 0)) == 540
    assert cal.minutes_between(utc(2027, 3, 29, 0), utc(2027, 3, 30, 0)) == 540
    # Round-the-clock hours in Berlin: the spring-forward Sunday has 23 hours, the fall-back one 25.
    always = BusinessCalendar.from_spec("Mon-Sun 00:00-24:00", "Europe/Berlin")
    assert always.minutes_between(utc(2027, 3, 27, 23), utc(2027, 3, 28, 22)) == 23 * 60
    assert always.minutes_between(utc(2027, 10, 30, 22), utc(2027, 10, 31, 23)) == 25 * 60


def test_zones_whose_working_day_crosses_utc_midnight():
    tokyo = BusinessCalendar.from_spec(OFFICE, "Asia/Tokyo")  # 09:00-18:00 JST = 00:00-09:00 UTC
    assert tokyo.add_minutes(utc(2027, 1, 11, 8, 30), 60) == utc(2027, 1, 12, 0, 30)
    la = BusinessCalendar.from_spec(OFFICE, "America/Los_Angeles")  # 09:00-18:00 PST = 17:00-02:00 UTC
    assert la.add_minutes(utc(2027, 1, 12, 1, 30), 60) == utc(2027, 1, 12, 17, 30)
    assert la.add_minutes(utc(2027, 1, 9, 1, 30), 60) == utc(2027, 1, 11, 17, 30)  # Friday 17:30 PST → Monday


def test_wall_clock_mode_counts_every_minute():
    cal = BusinessCalendar.wall_clock()
    assert cal.add_minutes(FRI_1730, 60) == utc(2027, 1, 8, 18, 30)
    assert cal.add_minutes(FRI_1730, 4 * 60) == utc(2027, 1, 8, 21, 30)
    assert cal.minutes_between(FRI_1730, utc(2027, 1, 11, 9, 30)) == 2 * 24 * 60 + 16 * 60
    assert BusinessCalendar.from_spec("24x7", "Europe/Berlin").add_minutes(FRI_1730, 60) == utc(2027, 1, 8, 18, 30)


def test_naive_datetimes_are_utc():
    cal = BusinessCalendar.from_spec(OFFICE)
    assert cal.add_minutes(datetime(2027, 1, 8, 17, 30), 60) == utc(2027, 1, 11, 9, 30)


def test_russian_day_names():
    assert parse_hours("Пн-Чт 09:00-18:00; Пт 09:00-16:45") == parse_hours("Mon-Thu 09:00-18:00; Fri 09:00-16:45")


@pytest.mark.parametrize(
    "spec, words",
    [
        ("", "empty"),
        ("Mon-Fry 09:00-18:00", "unknown day 'Fry'"),
        ("Mon-Fri 18:00-09:00", "ends before it starts"),
        ("Mon-Fri 09:00-25:00", "bad time '25:00'"),
        ("Mon-Fri 9-18", "bad time '9'"),
        ("Mon-Fri 09:00-13:00,12:00-18:00", "overlapping"),
        ("every weekday", "cannot read"),
    ],
)
def test_bad_business_hours_say_what_is_wrong(spec, words):
    with pytest.raises(CalendarError, match=words):
        parse_hours(spec)


def test_bad_time_zone_holidays_and_an_endless_holiday_calendar():
    with pytest.raises(CalendarError, match="unknown time zone 'Europe/Nowhere'"):
        BusinessCalendar.from_spec(OFFICE, "Europe/Nowhere")
    assert parse_dates("2027-01-01, 2027-01-07") == [date(2027, 1, 1), date(2027, 1, 7)]
    with pytest.raises(CalendarError, match="bad holiday date '2027-13-01'"):
        parse_dates("2027-01-01,2027-13-01")
    saturdays = [date(2027, 1, 2) + timedelta(weeks=w) for w in range(52 * 5)]
    cal = BusinessCalendar.from_spec("Sat 09:00-10:00", holidays=saturdays)
    with pytest.raises(CalendarError, match="no business hours"):
        cal.add_minutes(utc(2027, 1, 1), 30)
