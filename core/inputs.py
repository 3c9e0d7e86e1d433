"""What text and identities from outside may contain, in one place for every way in (HTTP API, chat platforms,
email, SMS).

- Text is Unicode: an unpaired surrogate (JSON can spell one, "\\ud800") or a NUL character cannot be stored by
  PostgreSQL and is not text. The HTTP API refuses such input with a clear 422 (`invalid_text`); platform messages,
  which must never be lost, have them replaced (U+FFFD) or removed (`clean_text`).
- An identity a person types or a browser invents (web chat id, email address, phone number) is compared in one
  canonical form: NFKC, no invisible format or control characters, single spaces, case-folded. "Alice",
  "alice " and "alice\\u200b" are one user, so a look-alike can never pass for someone else in the console.
  Platform-issued ids (Telegram, Slack) keep their case: the platform compares them exactly.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

CASELESS_CHANNELS = frozenset({"web", "email", "sms", "phone"})
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls and DEL except tab, newline, CR


def invalid_text_reason(value: str) -> str | None:
    """Why `value` is not storable text, or None."""
    if _SURROGATE.search(value):
        return "contains an unpaired UTF-16 surrogate (not a Unicode character)"
    if "\x00" in value:
        return "contains a NUL character"
    return None


def clean_text(value: str) -> str:
    """Platform text made storable without losing the message: surrogates → U+FFFD, control characters dropped."""
    return _CONTROL.sub("", _SURROGATE.sub("\ufffd", value))


def normalize_ref(channel: str, ref: str) -> str:
    """The canonical form of a user reference on `channel` (see the module docstring)."""
    value = unicodedata.normalize("NFKC", clean_text(ref))
    value = "".join(ch for ch in value if unicodedata.category(ch) not in ("Cf", "Cc", "Co", "Cn"))
    value = " ".join(value.split())
    return value.casefold() if channel in CASELESS_CHANNELS else value


def http_url(value: str) -> str:
    """`value` if it is an absolute http(s) URL with a host; otherwise ValueError. Every URL we store or render as a
    link passes here: a `javascript:` or `data:` "link" would run script in whoever clicks it."""
    from urllib.parse import urlsplit

    url = value.strip()
    reason = invalid_text_reason(url)
    if reason is None and any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in url):
        reason = "contains spaces or invisible characters"
    parts = urlsplit(url) if reason is None else None
    if parts is not None and (parts.scheme.lower() not in ("http", "https") or not parts.hostname):
        reason = "must be an absolute http:// or https:// URL"
    if reason is not None:
        raise ValueError(f"the URL {reason}")
    return url


FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)


def supported_day(day: date, what: str = "the date") -> date:
    """`day` if the service desk's calendars can work with it; otherwise ValueError. Days near year 1 or 9999 would
    overflow on the way through time zones and period arithmetic (a week after 9999-12-31 does not exist)."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{what} must be between {FIRST_DAY} and {LAST_DAY} (got {day})")
    return day
