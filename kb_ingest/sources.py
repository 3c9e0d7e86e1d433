"""More ingest sources, used by `loaders.load_paths`: MediaWiki XML exports (one article per main-namespace
page, latest revision, wikitext turned into Markdown-ish text) and exported HTML pages from Confluence /
Notion (page chrome such as breadcrumbs, sidebars, navigation and footers is dropped).

Every problem with one file becomes a `LoadError` naming that file; the rest of the batch goes on.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from kb_ingest.article import ID_OK, HTMLText, LoadError, ParsedArticle, finish_article, slugify

MAX_XML_BYTES = 200 * 1024 * 1024  # wiki dumps are bigger than single articles; pages are parsed one by one
# Folders of an export that hold attachments and page assets, not pages: only HTML pages inside are read.
ASSET_DIRS = {"attachments", "images", "styles", "assets", "static", "_static", "scripts", "files"}
_CHROME = re.compile(r"breadcrumb|sidebar|navigation|footer|pageSection|page-metadata", re.I)  # last two: Confluence


# -- MediaWiki XML export ----------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in el if _local(c.tag) == name), None)


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def load_mediawiki(path: Path) -> list[ParsedArticle | LoadError]:
    """A MediaWiki `Special:Export` / dumpBackup XML file. Each main-namespace page (<ns>0</ns>) that is not
    a redirect becomes an article from its latest revision. A file that is not well-formed XML, or not a
    MediaWiki export, is one LoadError and none of its pages are taken."""
    src = str(path)
    try:
        if path.stat().st_size > MAX_XML_BYTES:
            return [LoadError(src, f"file is larger than {MAX_XML_BYTES // (1024 * 1024)} MiB")]
    except OSError as exc:
        return [LoadError(src, f"cannot read file: {exc.strerror or exc}")]
    pages: list[tuple[str, str, str]] = []  # (page id, title, wikitext)
    root_seen = False
    try:
        for event, el in ET.iterparse(src, events=("start", "end")):
            if event == "start":
                if not root_seen:
                    root_seen = True
                    if _local(el.tag) != "mediawiki":
                        return [
                            LoadError(
                                src,
                                f"not a MediaWiki XML export (root element is <{_local(el.tag)}>, "
                                "expected <mediawiki>)",
                            )
                        ]
                continue
            if _local(el.tag) != "page":
                continue
            page = _page(el)
            if page is not None:
                pages.append(page)
            el.clear()
    except ET.ParseError as exc:
        line, col = getattr(exc, "position", (0, 0))
        return [
            LoadError(
                src,
                f"not well-formed XML at line {line}, column {col + 1}: "
                f"{str(exc).split(':')[0]}; no pages were taken from this file",
            )
        ]
    except OSError as exc:
        return [LoadError(src, f"cannot read file: {exc.strerror or exc}")]
    if not pages:
        return [LoadError(src, "no main-namespace pages with text in this MediaWiki export")]
    out: list[ParsedArticle | LoadError] = []
    for page_id, title, wikitext in pages:
        body, categories = wikitext_to_markdown(wikitext)
        art_id = slugify(title)
        if not ID_OK.match(art_id):  # e.g. a Cyrillic title: fall back to the wiki's page id
            art_id = f"{slugify(path.stem)[:60]}-page-{page_id or slugify(title)}"
        result = finish_article(path, {"id": art_id, "title": title, "tags": categories}, title, body)
        if isinstance(result, LoadError):
            result = LoadError(src, f"page {title!r}: {result.reason}")
        out.append(result)
    return out


def _page(el: ET.Element) -> tuple[str, str, str] | None:
    title = (_child(el, "title").text if _child(el, "title") is not None else "") or ""
    ns = _child(el, "ns")
    if ns is not None and (ns.text or "").strip() != "0":
        return None
    if ns is None and ":" in title:  # very old exports have no <ns>: "Talk:", "User:", "File:" ...
        return None
    if _child(el, "redirect") is not None:
        return None
    revisions = _children(el, "revision")
    if not revisions:
        return None
    # The latest revision: by timestamp when there is one (ISO 8601 sorts as text), else the last listed.
    latest = max(enumerate(revisions), key=lambda ir: ((_text(ir[1], "timestamp")), ir[0]))[1]
    text = _text(latest, "text")
    if re.match(r"\s*#REDIRECT\b", text, re.I):
        return None
    page_id = _text(el, "id")
    return page_id.strip(), title.strip(), text


def _text(el: ET.Element, name: str) -> str:
    c = _child(el, name)
    return (c.text or "") if c is not None else ""


_TAGS_KEEP_TEXT = re.compile(
    r"</?(?:code|tt|pre|nowiki|span|div|small|big|u|s|sup|sub|center|blockquote|"
    r"syntaxhighlight|source|kbd|var|samp|font)(?:\s[^<>]*)?/?>",
    re.I,
)


def wikitext_to_markdown(text: str) -> tuple[str, list[str]]:
    """Basic wikitext → Markdown: headings, bold/italic, links, lists; templates, comments, references,
    files and categories removed. Returns (text, categories)."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", "", text, flags=re.S | re.I)
    prev = None
    while prev != text:  # templates nest: {{a|{{b}}}} — strip innermost first
        prev, text = text, re.sub(r"\{\{[^{}]*\}\}", "", text)
    text = re.sub(r"\{\|.*?\|\}", "", text, flags=re.S)  # tables: beyond "basic" — dropped
    categories = [c.strip() for c in re.findall(r"\[\[\s*Category\s*:\s*([^\]|]+)(?:\|[^\]]*)?\]\]", text, re.I)]
    text = re.sub(
        r"\[\[\s*(?:Category|File|Image|Media)\s*:[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]", "", text, flags=re.I
    )
    text = re.sub(r"\[\[([^\]|]+)\|([^\]]+)\]\]", r"\2", text)
    text = re.sub(r"\[\[([^\]|]+)\]\]", lambda m: m.group(1).split("#")[0] or m.group(1).lstrip("#"), text)
    text = re.sub(r"\[(https?://[^\s\]]+)\s+([^\]]+)\]", r"\2", text)
    text = re.sub(r"\[(https?://[^\s\]]+)\]", r"\1", text)
    text = re.sub(r"'{2,5}", "", text)
    text = re.sub(r"<br\s*/?>", "\n", text, flags=re.I)
    text = _TAGS_KEEP_TEXT.sub("", text)
    text = re.sub(r"__[A-Z]+__", "", text)
    lines = []
    for line in text.splitlines():
        m = re.match(r"^(={1,6})\s*(.+?)\s*\1\s*$", line)
        if m:
            lines.append(f"{'#' * len(m.group(1))} {m.group(2)}")
            continue
        m = re.match(r"^([*#:;]+)\s*(.*)$", line)
        if m:
            marks, rest = m.groups()
            indent = "  " * (len(marks) - 1)
            if marks[-1] == "*":
                line = f"{indent}- {rest}"
            elif marks[-1] == "#":
                line = f"{indent}1. {rest}"
            else:
                line = f"{indent}{rest}"
        elif re.match(r"^-{4,}\s*$", line):
            line = ""
        lines.append(line.rstrip())
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return body, list(dict.fromkeys(categories))


# -- Exported HTML pages (Confluence / Notion) -------------------------------------------------------


class ExportHTMLText(HTMLText):
    """The HTML loader's text extraction, plus: elements whose id or class names a breadcrumb, sidebar,
    navigation or footer are dropped with everything inside; a Confluence "Space : Page" title loses the
    space prefix when the space is one of the page's breadcrumbs."""

    _VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self._chrome = 0  # >0 while inside a chrome element (depth of open tags inside it)
        self._crumbs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self._VOID:
            if not self._chrome:
                super().handle_starttag(tag, attrs)
            return
        if self._chrome:
            self._chrome += 1
            return
        names = " ".join(v or "" for k, v in attrs if k in ("id", "class", "role"))
        if _CHROME.search(names):
            self._chrome = 1
            self._crumbs.append("")
            return
        super().handle_starttag(tag, attrs)

    def handle_startendtag(self, tag, attrs):
        if not self._chrome:
            super().handle_starttag(tag, attrs)
            if tag not in self._VOID:
                super().handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in self._VOID:
            return
        if self._chrome:
            self._chrome -= 1
            return
        super().handle_endtag(tag)

    def handle_data(self, data):
        if self._chrome:
            self._crumbs[-1] += " " + data
            return
        super().handle_data(data)

    def close(self):
        super().close()
        if self.title:
            crumbs = {re.sub(r"\s+", " ", piece).strip() for c in self._crumbs for piece in re.split(r"\n", c)}
            head, sep, rest = self.title.partition(" : ")
            if sep and rest.strip() and any(head.strip() and head.strip() in c for c in crumbs):
                self.title = rest.strip()


def in_asset_folder(path: Path, root: Path) -> bool:
    """Whether a file found under `root` sits in an export's attachments/assets folder."""
    try:
        parts = path.relative_to(root).parts[:-1]
    except ValueError:
        return False
    return any(p.lower() in ASSET_DIRS for p in parts)
