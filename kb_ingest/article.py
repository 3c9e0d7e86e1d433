"""One article as read from a file or an export, before it is stored: `ParsedArticle`, or a `LoadError` that names
the file and what is wrong. Shared by the file loaders (`loaders`) and the export readers (`sources`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

MAX_QUESTIONS = 50
ID_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


@dataclass
class ParsedArticle:
    id: str
    title: str
    body: str
    source: str
    tags: list[str] = field(default_factory=list)
    lang: str = "en"
    questions: list[str] = field(default_factory=list)  # example phrasings from the front matter


@dataclass
class LoadError:
    source: str
    reason: str


def slugify(text: str) -> str:
    slug = re.sub(r"[^\w]+", "-", text.lower(), flags=re.UNICODE).strip("-")
    return slug[:120] or "article"


def finish_article(path: Path, meta: dict, title: str | None, body: str) -> ParsedArticle | LoadError:
    src = str(path)
    body = body.strip()
    art_id = str(meta.get("id") or slugify(path.stem))
    if not ID_OK.match(art_id):
        return LoadError(src, f"invalid id {art_id!r}: use letters, digits, '.', '_' or '-' (max 200)")
    title = str(meta.get("title") or title or "").strip()
    if not title:
        return LoadError(src, "no title (add 'title:' to the front matter or a '# ' heading)")
    if not body:
        return LoadError(src, "empty article: no text besides the title")
    tags = meta.get("tags") or []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    if not isinstance(tags, list):
        return LoadError(src, "'tags' must be a list")
    lang = str(meta.get("lang") or guess_lang(title + " " + body))
    questions = meta.get("questions") or []
    if isinstance(questions, str):
        questions = [q for q in questions.splitlines()]
    if not isinstance(questions, list) or not all(isinstance(q, (str, int, float)) for q in questions):
        return LoadError(src, "'questions' must be a list of questions, one a line")
    questions = [" ".join(str(q).split()) for q in questions]
    questions = [q for q in dict.fromkeys(questions) if q]
    if len(questions) > MAX_QUESTIONS or any(len(q) > 500 for q in questions):
        return LoadError(src, f"'questions': at most {MAX_QUESTIONS}, each up to 500 characters")
    return ParsedArticle(art_id, title[:500], body, src, [str(t) for t in tags], lang, questions)


def guess_lang(text: str) -> str:
    letters = [c for c in text if c.isalpha()]
    cyr = sum(1 for c in letters if "\u0400" <= c <= "\u04ff")
    return "ru" if letters and cyr / len(letters) > 0.3 else "en"


class HTMLText(HTMLParser):
    _BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "pre"}
    _SKIP = {"script", "style", "head", "nav", "footer"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: str | None = None
        self._skip = 0
        self._in_title = False
        self._heading: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip += 1
        elif tag in {"h2", "h3"}:
            self.parts.append("\n\n## ")
        elif tag in self._BLOCK:
            self.parts.append("\n\n" if tag != "li" else "\n- ")
        if tag == "h1":
            self._heading = ""

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag == "h1" and self._heading is not None:
            self.title = self.title or self._heading.strip()
            self._heading = None

    def handle_data(self, data):
        if self._in_title:
            self.title = (self.title or "") + data.strip()
        elif not self._skip:
            if self._heading is not None:
                self._heading += data
            else:
                self.parts.append(data)
