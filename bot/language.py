"""Which language to answer in, and whether the user is asking for a person."""

from __future__ import annotations

import re

SUPPORTED = ("en", "ru")


def detect_language(text: str, fallback: str = "en") -> str:
    """Cyrillic script → Russian, Latin → English; too little text keeps the fallback (locale/previous)."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 2:
        return fallback if fallback in SUPPORTED else "en"
    cyr = sum(1 for c in letters if "\u0400" <= c <= "\u04ff")
    return "ru" if cyr / len(letters) >= 0.3 else "en"


def locale_language(locale: str | None) -> str | None:
    if not locale:
        return None
    code = locale.split("-")[0].split("_")[0].lower()
    return code if code in SUPPORTED else None


_HUMAN = re.compile(
    r"\b(human|person|operator|agent|somebody|someone|real people|live (chat|support)|support staff|technician"
    r"|человек\w*|оператор\w*|сотрудник\w*|специалист\w*|живо\w+|сапорт\w*)\b",
    re.IGNORECASE | re.UNICODE,
)
_WANT = re.compile(
    r"\b(talk|speak|connect|contact|want|need|get|call|give|transfer|escalate|позов\w*|свяж\w*|соедин\w*|нуж\w+"
    r"|хочу|дай\w*|позвать|поговорить|переключ\w*)\b|^\W*\w+\W*$",
    re.IGNORECASE | re.UNICODE,
)


def asks_for_human(text: str) -> bool:
    """True for short requests like "operator", "talk to a human", "позовите человека".

    A long question that merely mentions an agent ("my user agent string…") stays a question.
    """
    words = text.split()
    if not words or len(words) > 8:
        return False
    return bool(_HUMAN.search(text)) and (len(words) <= 2 or bool(_WANT.search(text)))


_GREETING = re.compile(
    r"^\W*(hi|hello|hey|good (morning|afternoon|evening)|привет\w*|здравствуй\w*|добрый (день|вечер)|доброе утро"
    r"|thanks?( you)?|thank you|спасибо)\W*$",
    re.IGNORECASE | re.UNICODE,
)


def is_small_talk(text: str) -> bool:
    """A bare greeting or thanks: answered politely, never a ticket."""
    return bool(_GREETING.match(text))


_HUMAN_COMMAND = re.compile(
    r"^\s*/(human|person|operator|человек|оператор)(@\w+)?\b[\s:,.-]*", re.IGNORECASE | re.UNICODE
)


def human_command_text(text: str) -> str | None:
    """What follows "/human" ("/human my keyboard types wrong letters" → "my keyboard types wrong letters"); None when
    the text is not a /human command, "" for a bare one."""
    m = _HUMAN_COMMAND.match(text)
    return text[m.end() :].strip() if m else None


def is_meaningless(text: str) -> bool:
    """Nothing to read: only emoji, punctuation or symbols ("🔥🔥", "???", "..."). Asked to describe, never a ticket
    with that as its subject."""
    return bool(text.strip()) and not any(c.isalnum() for c in text)


# Danger to people or property: the ticket goes in as critical, and the user reads what to do now first.
_SAFETY = re.compile(
    r"\b(smok\w*|burning (smell|plastic)|smells? (of )?burn\w*|burnt smell|on fire|caught fire|fire|flames?|sparks?"
    r"|sparking|melt\w*|explod\w*|water leak\w*|leak\w* water|water (is )?leaking|water on the floor"
    r"|electric(al)? shock|shock\w* me|got a shock"
    r"|дым\w*|горит|горел\w*|запах гари|гар\w*|пожар\w*|пламя|искр\w*|плав\w*|взорв\w*|протеч\w*|теч[её]т вода"
    r"|вода теч[её]т|залил\w*|затоп\w*|удар\w* током|бь[её]т током|током)\b",
    re.IGNORECASE | re.UNICODE,
)


def is_safety_issue(text: str) -> bool:
    """Smoke, burning, fire, sparks, a water leak, an electric shock (English and Russian)."""
    return bool(_SAFETY.search(text))
