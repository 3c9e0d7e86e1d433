"""Every text a user or an agent reads exists in each language the product speaks, with the same placeholders:
a key missing in Russian would show an English fallback (or a KeyError) to a Russian speaker."""

from __future__ import annotations

import string

import pytest

from api.console.auth import TOO_MANY
from api.console.kb import KB_TEXTS
from api.console.pages import TEXTS as CONSOLE_TEXTS
from api.console.reports import REPORT_TEXTS
from bot.texts import TEXTS as BOT_TEXTS
from core.rate_limit import TOO_FAST
from tickets.notification_texts import STAFF, USER

TABLES = {
    "bot": BOT_TEXTS,
    "notices to users": USER,
    "notices to staff": STAFF,
    "console": CONSOLE_TEXTS,
    "console KB": KB_TEXTS,
    "console reports": REPORT_TEXTS,
}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("name", TABLES)
def test_every_key_is_in_english_and_russian_with_the_same_placeholders(name):
    table = TABLES[name]
    assert set(table) >= {"en", "ru"}
    assert set(table["en"]) == set(table["ru"]), set(table["en"]) ^ set(table["ru"])
    for key, text in table["en"].items():
        assert _fields(text) == _fields(table["ru"][key]), key


def test_every_language_file_has_every_section_and_key_of_english():
    from core.i18n import LOCALES, languages, ui_texts

    assert {"en", "ru"} <= set(languages()) == {p.stem for p in LOCALES.glob("*.json")}
    for section in ("bot", "notices_user", "notices_staff", "console", "console_kb", "console_reports", "limits"):
        table = ui_texts(section)
        for lang in languages():
            assert set(table[lang]) == set(table["en"]), (lang, section)


def test_limits_speak_both_languages():
    for table in (TOO_FAST, TOO_MANY):
        assert set(table) >= {"en", "ru"}
        assert _fields(table["en"]) == _fields(table["ru"])
