"""Split an article into retrievable units: its title, and each section/answer carrying the title."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

MAX_UNIT_CHARS = 1500
OPENING_CHARS = 1200  # ~300 tokens: MiniLM reads 256 word pieces, a longer unit's tail is never seen
_RULE = re.compile(r"^\s*(?:---+|\*\*\*+|___+)\s*$", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass(frozen=True)
class UnitDraft:
    kind: str  # title | section | question
    position: int
    text: str  # embedded
    passage: str  # shown to the user


def _sections(body: str) -> list[tuple[str | None, str]]:
    """(heading, text) pairs; horizontal rules (StackFAQ's answer separators) also cut sections."""
    out: list[tuple[str | None, str]] = []
    for block in _RULE.split(body):
        pos, heading = 0, None
        for m in _HEADING.finditer(block):
            out.append((heading, block[pos : m.start()]))
            heading, pos = m.group(2).strip(), m.end()
        out.append((heading, block[pos:]))
    return [(h, t.strip()) for h, t in out if t.strip()]


def _chunks(text: str, limit: int = MAX_UNIT_CHARS) -> list[str]:
    if len(text) <= limit:
        return [text]
    chunks, cur = [], ""
    for para in re.split(r"\n\s*\n", text):
        if cur and len(cur) + len(para) + 2 > limit:
            chunks.append(cur)
            cur = ""
        while len(para) > limit:  # one enormous paragraph: cut at a sentence end if we can
            cut = para.rfind(". ", 0, limit)
            cut = cut + 1 if cut > limit // 2 else limit
            chunks.append(para[:cut].strip())
            para = para[cut:].strip()
        cur = f"{cur}\n\n{para}" if cur else para
    if cur:
        chunks.append(cur)
    return chunks


def split_article(title: str, body: str, questions: Sequence[str] = ()) -> list[UnitDraft]:
    """The title, each section (cut to MAX_UNIT_CHARS), and each example question the KB owner listed: a question
    names the article the way users ask, so, like the title, it shows the article's opening."""
    sections = _sections(body)
    # A leading "# Title" repeats the title: drop it from the first section.
    if sections and sections[0][0] and sections[0][0].strip().lower() == title.strip().lower():
        sections[0] = (None, sections[0][1])
    units: list[UnitDraft] = []
    # Shown when the title is the best match: the article's opening, up to ~OPENING_CHARS.
    opening = ""
    for heading, text in sections or [(None, body.strip())]:
        part = f"{heading}\n{text}" if heading else text
        if opening and len(opening) + len(part) > OPENING_CHARS:
            break
        opening = f"{opening}\n\n{part}" if opening else part
    units.append(UnitDraft("title", 0, title, _chunks(opening)[0]))
    for question in questions:
        units.append(UnitDraft("question", len(units), question, units[0].passage))
    for heading, text in sections:
        for chunk in _chunks(text):
            label = f"{title} — {heading}" if heading else title
            passage = f"{heading}\n{chunk}" if heading else chunk
            units.append(UnitDraft("section", len(units), f"{label}\n{chunk}", passage))
    return units
