"""Business-calendar arithmetic for SLA clocks: pure functions of datetimes, no database.

A `BusinessCalendar` knows the working hours per weekday (in an IANA time zone, so DST is handled by
zoneinfo) and the holidays. `add_minutes(start, n)` is the moment the n-th business minute after `start`
ends; `minutes_between(a, b)` counts the business minutes between two moments. A wall-clock calendar
(`BusinessCalendar.wall_clock()`) counts every minute: policies with business_hours=False (24x7).

Hours spec: "Mon-Fri 09:00-18:00", several parts separated by ";" ("Mon-Thu 09:00-18:00; Fri 09:00-16:45"),
several ranges per part ("Mon-Fri 09:00-13:00,14:00-18:00"), day lists ("Mon,Wed,Fri 10:00-14:00"), "24:00" as
an end, "24x7" for always. A later part replaces the hours of the days it names. Day names in English or
Russian (Пн Вт Ср Чт Пт Сб Вс).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# A day's working ranges as (start, end) minutes after local midnight; end may be 1440 (24:00).
DayHours = tuple[tuple[int, int], ...]
WeekHours = tuple[DayHours, ...]  # index 0 = Monday

_DAY_NAMES = {
    **{n: i for i, n in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{n: i for i, n in enumerate(("пн", "вт", "ср", "чт", "пт", "сб", "вс"))},
}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
# A calendar with no working time at all in this many days is a configuration error, not an endless loop.
MAX_SCAN_DAYS = 366 * 3


class CalendarError(ValueError):
    """A business-hours spec, time zone or holiday list that cannot be used; the message says why."""


def _day(name: str, spec: str) -> int:
    key = name.strip().lower()[:3] if name.strip().isascii() else name.strip().lower()[:2]
    if key not in _DAY_NAMES:
        raise CalendarError(f"unknown day {name.strip()!r} in business hours {spec!r} (use Mon..Sun)")
    return _DAY_NAMES[key]


def _days(text: str, spec: str) -> list[int]:
    out: list[int] = []
    for item in text.split(","):
        if not item.strip():
            continue
        if "-" in item:
            first, last = (_day(x, spec) for x in item.split("-", 1))
            d = first
            out.append(d)
            while d != last:  # "Fri-Mon" wraps over the weekend
                d = (d + 1) % 7
                out.append(d)
        else:
            out.append(_day(item, spec))
    if not out:
        raise CalendarError(f"no days in business hours {spec!r}")
    return out


def _minute(text: str, spec: str) -> int:
    m = _TIME.match(text.strip())
    if not m or int(m.group(2)) > 59 or int(m.group(1)) * 60 + int(m.group(2)) > 24 * 60:
        raise CalendarError(f"bad time {text.strip()!r} in business hours {spec!r} (use HH:MM, 00:00-24:00)")
    return int(m.group(1)) * 60 + int(m.group(2))


def _ranges(text: str, spec: str) -> DayHours:
    out = []
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        if item.count("-") != 1:
            raise CalendarError(f"bad time range {item!r} in business hours {spec!r} (use 09:00-18:00)")
        start, end = (_minute(x, spec) for x in item.split("-"))
        if end <= start:
            raise CalendarError(f"time range {item!r} in business hours {spec!r} ends before it starts")
        out.append((start, end))
    if not out:
        raise CalendarError(f"no time range in business hours part {text!r} of {spec!r}")
    out.sort()
    for (_, end), (start, _) in zip(out, out[1:]):
        if start < end:
            raise CalendarError(f"overlapping time ranges in business hours {spec!r}")
    return tuple(out)


def parse_hours(spec: str) -> WeekHours:
    """'Mon-Fri 09:00-18:00; Sat 10:00-14:00' → working ranges per weekday (Monday first)."""
    if spec.strip().lower() in ("24x7", "24/7"):
        return tuple(((0, 24 * 60),) for _ in range(7))
    week: list[DayHours] = [() for _ in range(7)]
    parts = [p for p in re.split(r"[;\n]", spec) if p.strip()]
    if not parts:
        raise CalendarError("business hours are empty (e.g. 'Mon-Fri 09:00-18:00')")
    for part in parts:
        m = re.match(r"^\s*([^\d]+?)\s+(\d.*)$", part)
        if not m:
            raise CalendarError(f"cannot read business hours part {part.strip()!r}: use 'Mon-Fri 09:00-18:00'")
        ranges = _ranges(m.group(2), spec)
        for d in _days(m.group(1).replace(" ", ""), spec):
            week[d] = ranges
    if not any(week):
        raise CalendarError(f"business hours {spec!r} have no working time")
    return tuple(week)


def parse_dates(text: str) -> list[date]:
    """'2027-01-01, 2027-01-07' → dates (holidays from settings)."""
    out = []
    for item in re.split(r"[,;\s]+", text.strip()):
        if not item:
            continue
        try:
            out.append(date.fromisoformat(item))
        except ValueError:
            raise CalendarError(f"bad holiday date {item!r} (use YYYY-MM-DD)") from None
    return out


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)") from None


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes are UTC (that is how the database hands them back on SQLite)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


@dataclass(frozen=True)
class BusinessCalendar:
    hours: WeekHours
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    holidays: frozenset[date] = frozenset()
    always_open: bool = False  # wall-clock (24x7): every minute counts, holidays included

    @classmethod
    def from_spec(cls, spec: str, timezone_name: str = "UTC", holidays: Iterable[date] = ()) -> BusinessCalendar:
        return cls(parse_hours(spec), zone(timezone_name), frozenset(holidays))

    @classmethod
    def wall_clock(cls) -> "BusinessCalendar":
        return cls(tuple(((0, 24 * 60),) for _ in range(7)), always_open=True)

    # -- the working intervals, in UTC ------------------------------------------------------
    def _at(self, day: date, minute: int) -> datetime:
        # Local wall time → UTC. zoneinfo resolves DST gaps/overlaps (fold=0: the earlier offset).
        local = datetime.combine(
            day + timedelta(days=minute // 1440), time(minute % 1440 // 60, minute % 60), tzinfo=self.tz
        )
        return local.astimezone(timezone.utc)

    def _intervals(self, first: date, last: date | None = None) -> Iterator[tuple[datetime, datetime]]:
        day, scanned = first, 0
        while last is None or day <= last:
            if day not in self.holidays:
                for start, end in self.hours[day.weekday()]:
                    a, b = self._at(day, start), self._at(day, end)
                    if b > a:
                        scanned = 0
                        yield a, b
            day += timedelta(days=1)
            scanned += 1
            if last is None and scanned > MAX_SCAN_DAYS:
                raise CalendarError(f"no business hours in {MAX_SCAN_DAYS} days (holidays cover everything?)")

    def local_date(self, moment: datetime) -> date:
        return as_utc(moment).astimezone(self.tz).date()

    # -- arithmetic ---------------------------------------------------------------------------
    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        """When `minutes` of business time after `start` are used up. A start outside business hours
        counts from the next opening; a result that lands exactly on a closing time stays there."""
        start = as_utc(start)
        if minutes < 0:
            raise ValueError("minutes must not be negative")
        if self.always_open:
            return start + timedelta(minutes=minutes)
        left = timedelta(minutes=minutes)
        # The day before too: a local day's ranges can reach past UTC midnight.
        for a, b in self._intervals(self.local_date(start) - timedelta(days=1)):
            if b <= start:
                continue
            a = max(a, start)
            if left <= b - a:
                end: datetime = a + left
                return end
            left -= b - a
        raise AssertionError("unreachable: _intervals is endless or raises")

    def minutes_between(self, a: datetime, b: datetime) -> float:
        """Business minutes from a to b (negative when b is before a)."""
        a, b = as_utc(a), as_utc(b)
        if b < a:
            return -self.minutes_between(b, a)
        if self.always_open:
            return (b - a).total_seconds() / 60
        total = timedelta()
        for start, end in self._intervals(self.local_date(a) - timedelta(days=1), self.local_date(b)):
            lo, hi = max(start, a), min(end, b)
            if hi > lo:
                total += hi - lo
        return total.total_seconds() / 60

    def is_open(self, moment: datetime) -> bool:
        moment = as_utc(moment)
        if self.always_open:
            return True
        day = self.local_date(moment)
        return any(a <= moment < b for a, b in self._intervals(day - timedelta(days=1), day))
