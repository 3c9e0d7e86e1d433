"""Read articles from disk: Markdown with YAML front matter, HTML, plain text, and FAQ files (CSV or JSON
with question/answer columns: one article per row).

Every problem with one file becomes a `LoadError` naming that file; the rest of the batch goes on.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Iterable, Iterator

import frontmatter
import yaml

from kb_ingest.article import LoadError, ParsedArticle, finish_article, slugify
from kb_ingest.sources import ExportHTMLText, in_asset_folder, load_mediawiki  # exported sites, MediaWiki dumps

FAQ_SUFFIXES = {".csv", ".json"}
SUFFIXES = {".md", ".markdown", ".html", ".htm", ".txt", ".xml", *FAQ_SUFFIXES}  # .xml: MediaWiki export (sources.py)
MAX_FILE_BYTES = 5 * 1024 * 1024


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
        meta = {
            "id": row.get("id") or f"{slugify(path.stem)[:40]}-{slugify(question)[:80]}".strip("-"),
            "tags": row.get("tags") or [],
            "lang": row.get("lang") or None,
        }
        result = finish_article(path, meta, question, answer)
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
    return finish_article(path, post.metadata, title, body)


def _from_text(path: Path, text: str) -> ParsedArticle | LoadError:
    lines = text.strip().splitlines()
    if not lines:
        return finish_article(path, {}, None, "")
    return finish_article(path, {}, lines[0], "\n".join(lines[1:]))


def _from_html(path: Path, text: str) -> ParsedArticle | LoadError:
    parser = ExportHTMLText()
    try:
        parser.feed(text)
        parser.close()
    except Exception as exc:
        return LoadError(str(path), f"cannot parse HTML: {exc}")
    body = re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+", " ", "".join(parser.parts))).strip()
    return finish_article(path, {}, parser.title, body)
