"""What ticket notifications say, in English and Russian: status notices for the user (posted in their
conversation) and notices for staff (sent to their linked Telegram / Slack account).

They live here rather than in bot/texts.py because tickets/ may not import bot/; the wording matches it.
"""

from __future__ import annotations

from core.i18n import ui_texts

LANGS = ("en", "ru")

USER: dict[str, dict[str, str]] = ui_texts("notices_user")

STAFF: dict[str, dict[str, str]] = ui_texts("notices_staff")


def _table(tables: dict[str, dict[str, str]], lang: str, key: str) -> str:
    return tables.get(lang, tables["en"]).get(key, tables["en"][key])


def user_text(lang: str, key: str, **kwargs: object) -> str:
    return _table(USER, lang, key).format(**kwargs)


def staff_text(lang: str, key: str, **kwargs: object) -> str:
    return _table(STAFF, lang, key).format(**kwargs)
