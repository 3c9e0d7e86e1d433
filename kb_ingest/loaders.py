"""Read articles from disk: Markdown with YAML front matter, HTML, plain text, and FAQ files (CSV or JSON
with question/answer columns: one article per row).

Every problem with one file becomes a `LoadError` naming that file; the rest of the batch goes on.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterable, Iterator

import frontmatter
import yaml

FAQ_SUFFIXES = {".csv", ".json"}
SUFFIXES = {".md", ".markdown", ".html", ".htm", ".txt", ".xml", *FAQ_SUFFIXES}  # .xml: MediaWiki export (sources.py)
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_QUESTIONS = 50
_ID_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


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


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path | LoadError]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                # A dangling symlink is an article the user meant to include: let load_file report it
                # rather than skipping it silently.
                readable_or_broken = f.is_file() or (f.is_symlink() and not f.exists())
                if readable_or_broken and f.suffix.lower() in SUFFIXES and not f.name.startswith("."):
                    # README/LICENSE files in a KB folder describe the folder, they are not articles
                    if f.stem.upper() in {"README", "LICENSE", "LICENCE", "CHANGELOG"}:
                        continue
                    from kb_ingest.sources import in_asset_folder  # exported sites' attachments are not pages
                    if f.suffix.lower() not in {".html", ".htm"} and in_asset_folder(f, path):
                        continue
                    yield f
        elif path.is_file():
            yield path
        else:
            yield LoadError(str(path), "no such file or folder")


def load_paths(paths: Iterable[str | Path]) -> Iterator[ParsedArticle | LoadError]:
    seen: dict[str, str] = {}
    for item in iter_files(paths):
        if isinstance(item, LoadError):
            yield item
            continue
        if item.suffix.lower() == ".xml":
            from kb_ingest.sources import load_mediawiki
            results = load_mediawiki(item)
        else:
            results = load_faq(item) if item.suffix.lower() in FAQ_SUFFIXES else [load_file(item)]
        for result in results:
            if isinstance(result, ParsedArticle):
                if result.id in seen:
                    yield LoadError(result.source, f"duplicate article id {result.id!r} (also in {seen[result.id]})")
                    continue
                seen[result.id] = result.source
            yield result


def _read_text(path: Path) -> str | LoadError:
    src = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return LoadError(src, f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        raw = path.read_bytes()
    except OSError as exc:
        return LoadError(src, f"cannot read file: {exc.strerror or exc}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return LoadError(src, f"not UTF-8 text (invalid byte at offset {exc.start}); re-save it as UTF-8")


def load_faq(path: Path) -> list[ParsedArticle | LoadError]:
    """A FAQ file: CSV with a header row, or JSON (a list of objects, or {"faq": [...]}). Columns: `question`
    and `answer` (required), `id`, `tags` (comma-separated or a list), `lang`. Each row is one article."""
    src = str(path)
    text = _read_text(path)
    if isinstance(text, LoadError):
        return [text]
    if path.suffix.lower() == ".csv":
        try:
            rows = list(csv.DictReader(io.StringIO(text)))
        except csv.Error as exc:
            return [LoadError(src, f"cannot parse CSV: {exc}")]
        first = 2  # row numbers as a spreadsheet shows them (1 is the header)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return [LoadError(src, f"not valid JSON (line {exc.lineno}): {exc.msg}")]
        rows = data.get("faq") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            return [LoadError(src, 'a JSON FAQ is a list of {"question", "answer"} objects (or {"faq": [...]})')]
        first = 1
    out: list[ParsedArticle | LoadError] = []
    for n, row in enumerate(rows, first):
        if not isinstance(row, dict):
            out.append(LoadError(src, f"entry {n}: not an object with question and answer"))
            continue
        row = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
        question, answer = str(row.get("question") or "").strip(), str(row.get("answer") or "").strip()
        if not question or not answer:
            out.append(LoadError(src, f"entry {n}: needs both a question and an answer"))
            continue
        meta = {"id": row.get("id") or f"{slugify(path.stem)[:40]}-{slugify(question)[:80]}".strip("-"),
                "tags": row.get("tags") or [], "lang": row.get("lang") or None}
        result = _finish(path, meta, question, answer)
        if isinstance(result, LoadError):
            result = LoadError(src, f"entry {n}: {result.reason}")
        out.append(result)
    if not out:
        out.append(LoadError(src, "no FAQ entries (expected question and answer columns)"))
    return out


def load_file(path: Path) -> ParsedArticle | LoadError:
    text = _read_text(path)
    if isinstance(text, LoadError):
        return text
    if "\x00" in text:
        return LoadError(str(path), "binary file (contains NUL bytes)")
    suffix = path.suffix.lower()
    if suffix in {".html", ".htm"}:
        return _from_html(path, text)
    if suffix == ".txt":
        return _from_text(path, text)
    return _from_markdown(path, text)


def _finish(path: Path, meta: dict, title: str | None, body: str) -> ParsedArticle | LoadError:
    src = str(path)
    body = body.strip()
    art_id = str(meta.get("id") or slugify(path.stem))
    if not _ID_OK.match(art_id):
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
    lang = str(meta.get("lang") or _guess_lang(title + " " + body))
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


def _guess_lang(text: str) -> str:
    letters = [c for c in text if c.isalpha()]
    cyr = sum(1 for c in letters if "\u0400" <= c <= "\u04ff")
    return "ru" if letters and cyr / len(letters) > 0.3 else "en"


def _from_markdown(path: Path, text: str) -> ParsedArticle | LoadError:
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        return LoadError(str(path), f"broken YAML front matter{where}: {getattr(exc, 'problem', exc)}")
    except Exception as exc:  # frontmatter raises plain ValueErrors for some malformed headers
        return LoadError(str(path), f"broken front matter: {exc}")
    if not isinstance(post.metadata, dict):
        return LoadError(str(path), "front matter must be a mapping of keys to values")
    body = post.content
    heading = re.match(r"\s*#\s+(.+)\n?", body)
    title = heading.group(1).strip() if heading else None
    return _finish(path, post.metadata, title, body)


def _from_text(path: Path, text: str) -> ParsedArticle | LoadError:
    lines = text.strip().splitlines()
    if not lines:
        return _finish(path, {}, None, "")
    return _finish(path, {}, lines[0], "\n".join(lines[1:]))


class _HTMLText(HTMLParser):
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


def _from_html(path: Path, text: str) -> ParsedArticle | LoadError:
    from kb_ingest.sources import ExportHTMLText  # also drops breadcrumbs/sidebars of exported sites
    parser = ExportHTMLText()
    try:
        parser.feed(text)
        parser.close()
    except Exception as exc:
        return LoadError(str(path), f"cannot parse HTML: {exc}")
    body = re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+", " ", "".join(parser.parts))).strip()
    return _finish(path, {}, parser.title, body)
