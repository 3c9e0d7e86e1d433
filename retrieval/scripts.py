"""Which writing system a text is in: the models differ by script (MiniLM reads Latin-script English only)."""

from __future__ import annotations


def dominant_script(text: str) -> str:
    """'cyrillic', 'latin' or 'other' by letter count; text with no letters counts as latin."""
    counts = {"latin": 0, "cyrillic": 0, "other": 0}
    for ch in text:
        if ch.isalpha():
            if ch.isascii() or "\u00c0" <= ch <= "\u024f":
                counts["latin"] += 1
            elif "\u0400" <= ch <= "\u04ff":
                counts["cyrillic"] += 1
            else:
                counts["other"] += 1
    top = max(counts, key=lambda script: counts[script])
    return top if counts[top] else "latin"
