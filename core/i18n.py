"""Every text people read, one JSON file per language (`locales/<lang>.json`), sections per part of the product:
`bot` (chat replies), `notices_user` / `notices_staff` (notifications), `console`, `console_kb`,
`console_reports`, `limits`. A third language is a new file with the same keys (tests/unit/core/test_texts.py
checks that every language has every key, with the same `{placeholders}`); nothing in the code changes.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

LOCALES = Path(__file__).parent / "locales"


@functools.lru_cache(maxsize=1)
def _catalogues() -> dict[str, dict[str, dict[str, str]]]:
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(LOCALES.glob("*.json"))}


def languages() -> tuple[str, ...]:
    return tuple(_catalogues())


def ui_texts(section: str) -> dict[str, dict[str, str]]:
    """`{language: {key: text}}` of one section, for every language that has it."""
    return {lang: dict(sections[section]) for lang, sections in _catalogues().items() if section in sections}
