"""Ingest edge cases through `ingest_paths`, with the real model, on SQLite and PostgreSQL.

Every bad file must become a failure that names it while the rest of the batch still goes in, and
re-ingesting must cost nothing unless something changed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kb_ingest.indexer import load_retriever
from kb_ingest.models import Article, ArticleUnit
from kb_ingest.service import ingest_paths
from retrieval import Retriever
from retrieval.decision import policy_for

PRINTER = """---
id: printer-jam
title: "Paper jam in the office printer"
tags: [printer]
---

Open the front door of the printer, pull out the toner drawer and gently remove the stuck sheet of paper.
Close the door and the printer resumes the print job on its own.
"""

WIFI = """---
id: guest-wifi
title: "Guest Wi-Fi password for visitors"
---

Visitors connect to the network called ExampleGuest. The reception desk prints a voucher with the
daily guest Wi-Fi password; it expires at midnight.
"""

VPN = """---
id: vpn-connect
title: "Connecting to the VPN from home"
---

Start GlobalProtect from the system tray, enter the portal vpn.example.com and approve the MFA push
on your phone. When the globe shows a shield you are connected to the corporate network.
"""


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def retriever(embedder):
    return Retriever(embedder, policy_for("minilm"))


def top_article(retriever: Retriever, query: str) -> str | None:
    hits = retriever.search(query, k=3)
    return hits[0].article_id if hits else None


def article_ids(sessions) -> set[str]:
    with sessions() as s:
        return set(s.scalars(select(Article.id)))


def failures_by_name(report) -> dict[str, str]:
    return {Path(f.source).name: f.reason for f in report.failed}


def test_bad_files_fail_by_name_while_the_batch_goes_in(sessions, retriever, tmp_path):
    kb = tmp_path / "kb"
    write(kb, "printer-jam.md", PRINTER)
    write(kb, "guest-wifi.md", WIFI)
    # unreadable: a symlink whose target is gone (chmod 000 means nothing to root)
    os.symlink(tmp_path / "moved-away.md", kb / "dangling.md")
    # broken YAML front matter
    write(kb, "broken-yaml.md", "---\ntitle: [unclosed list\ntags: vpn\n---\n\nSome body text.\n")
    # an article with a title and nothing else
    write(kb, "empty.md", "---\ntitle: Nothing here yet\n---\n\n   \n")
    # the same id as printer-jam.md (sorted after it, so the first file wins)
    write(kb, "zz-duplicate.md", PRINTER.replace("Paper jam in the office printer", "Another printer article"))
    # Latin-1 bytes, not UTF-8
    write(kb, "latin1.txt", "Caf\xe9 menu on the intranet\n\nThe caf\xe9 menu is on the intranet.".encode("latin-1"))

    report = ingest_paths(sessions, retriever, [kb])

    failed = failures_by_name(report)
    assert set(failed) == {"dangling.md", "broken-yaml.md", "empty.md", "zz-duplicate.md", "latin1.txt"}
    assert "cannot read" in failed["dangling.md"]
    assert "YAML" in failed["broken-yaml.md"]
    assert "empty article" in failed["empty.md"]
    assert "duplicate article id 'printer-jam'" in failed["zz-duplicate.md"]
    assert "printer-jam.md" in failed["zz-duplicate.md"]  # tells where the id is already used
    assert "UTF-8" in failed["latin1.txt"]
    for f in report.failed:  # the full path, so the user can find the file
        assert Path(f.source).parent == kb

    assert sorted(report.added) == ["guest-wifi", "printer-jam"]
    assert article_ids(sessions) == {"guest-wifi", "printer-jam"}
    with sessions() as s:  # the first file's text won, not the duplicate's
        assert s.get(Article, "printer-jam").title == "Paper jam in the office printer"
    assert top_article(retriever, "paper is stuck in the printer") == "printer-jam"
    assert top_article(retriever, "what is the wifi password for a visitor") == "guest-wifi"


def test_files_named_on_the_command_line(sessions, retriever, tmp_path):
    good = write(tmp_path, "vpn.md", VPN)
    missing = tmp_path / "no-such-article.md"
    dangling = tmp_path / "link.md"
    os.symlink(tmp_path / "gone.md", dangling)

    report = ingest_paths(sessions, retriever, [missing, good, dangling])

    assert {f.source for f in report.failed} == {str(missing), str(dangling)}
    assert report.added == ["vpn-connect"]
    assert top_article(retriever, "how do I get on the VPN") == "vpn-connect"


def test_reingest_of_unchanged_folder_encodes_nothing(sessions, retriever, tmp_path):
    kb = tmp_path / "kb"
    for name, text in [("printer-jam.md", PRINTER), ("guest-wifi.md", WIFI), ("vpn.md", VPN)]:
        write(kb, name, text)
    index_path = tmp_path / "index" / "minilm.faiss"
    first = ingest_paths(sessions, retriever, [kb], index_path=index_path)
    assert len(first.added) == 3 and first.units_encoded > 0
    with sessions() as s:
        units_before = s.scalar(select(func.count()).select_from(ArticleUnit))
    mtime = index_path.stat().st_mtime_ns

    again = ingest_paths(sessions, retriever, [kb], index_path=index_path)

    assert again.units_encoded == 0
    assert sorted(again.unchanged) == ["guest-wifi", "printer-jam", "vpn-connect"]
    assert again.added == [] and again.updated == [] and again.failed == []
    assert again.summary()["unchanged"] == 3
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ArticleUnit)) == units_before
    assert index_path.stat().st_mtime_ns == mtime  # nothing changed, nothing rewritten
    assert len(retriever.index) == units_before
    assert top_article(retriever, "how do I get on the VPN") == "vpn-connect"


def test_changed_article_replaces_its_old_units(sessions, retriever, embedder, tmp_path):
    kb = tmp_path / "kb"
    path = write(kb, "printer-jam.md", PRINTER)
    write(kb, "guest-wifi.md", WIFI)
    index_path = tmp_path / "index" / "minilm.faiss"
    ingest_paths(sessions, retriever, [kb], index_path=index_path)
    units_before = len(retriever.index)

    path.write_text(
        PRINTER.replace("Open the front door", "Turn the printer off and on again, then open the back cover").replace(
            "toner drawer", "duplex unit"
        ),
        encoding="utf-8",
    )
    report = ingest_paths(sessions, retriever, [kb], index_path=index_path)

    assert report.updated == ["printer-jam"] and report.unchanged == ["guest-wifi"]
    assert 0 < report.units_encoded < units_before  # only the changed article was re-encoded
    assert len(retriever.index) == units_before  # old units replaced, not piled up

    def passages(r: Retriever) -> str:
        return " ".join(h.passage for h in r.search("paper stuck in the printer", k=5))

    for r in (retriever, Retriever(embedder, policy_for("minilm"))):
        if r is not retriever:  # a fresh process, loading the saved index and the DB
            assert load_retriever(sessions, r, index_path) == "file"
        assert top_article(r, "paper stuck in the printer") == "printer-jam"
        shown = passages(r)
        assert "duplex unit" in shown and "back cover" in shown
        assert "toner drawer" not in shown and "front door" not in shown
    with sessions() as s:
        texts = " ".join(s.scalars(select(ArticleUnit.text).where(ArticleUnit.article_id == "printer-jam")))
    assert "duplex unit" in texts and "toner drawer" not in texts


def test_prune_deletes_articles_whose_file_is_gone(sessions, retriever, tmp_path):
    kb = tmp_path / "kb"
    write(kb, "printer-jam.md", PRINTER)
    wifi = write(kb, "guest-wifi.md", WIFI)
    ingest_paths(sessions, retriever, [kb])
    wifi.unlink()

    kept = ingest_paths(sessions, retriever, [kb])  # without --prune nothing is deleted
    assert kept.deleted == [] and article_ids(sessions) == {"printer-jam", "guest-wifi"}

    report = ingest_paths(sessions, retriever, [kb], prune=True)

    assert report.deleted == ["guest-wifi"]
    assert article_ids(sessions) == {"printer-jam"}
    with sessions() as s:
        assert s.scalar(select(func.count()).where(ArticleUnit.article_id == "guest-wifi")) == 0
    assert all(u.article_id != "guest-wifi" for u in retriever.units.values())
    assert "guest-wifi" not in {h.article_id for h in retriever.search("guest wifi password for visitors")}


def test_prune_keeps_an_article_whose_file_is_there_but_broken(sessions, retriever, tmp_path):
    """A typo in the front matter must not delete the article: the file is still there."""
    kb = tmp_path / "kb"
    write(kb, "printer-jam.md", PRINTER)
    wifi = write(kb, "guest-wifi.md", WIFI)
    ingest_paths(sessions, retriever, [kb])
    wifi.write_text(WIFI.replace('title: "Guest Wi-Fi password for visitors"', "title: [broken"), encoding="utf-8")

    report = ingest_paths(sessions, retriever, [kb], prune=True)

    assert failures_by_name(report).keys() == {"guest-wifi.md"}
    assert report.deleted == []
    assert article_ids(sessions) == {"printer-jam", "guest-wifi"}
    assert top_article(retriever, "what is the wifi password for a visitor") == "guest-wifi"


def test_html_and_txt_files_ingest(sessions, retriever, tmp_path):
    html = write(
        tmp_path,
        "outlook-signature.html",
        """<!doctype html>
<html><head><title>Set up your Outlook email signature</title>
<style>body { font-family: sans-serif }</style><script>var tracking = 1;</script></head>
<body><nav>Home | Help</nav>
<h1>Set up your Outlook email signature</h1>
<p>In Outlook open <b>File &gt; Options &gt; Mail &gt; Signatures</b> and click <i>New</i>.</p>
<h2>Company template</h2>
<ul><li>Use the template from the intranet brand page.</li><li>Add your phone extension.</li></ul>
<footer>Example Corp IT</footer></body></html>
""",
    )
    txt = write(
        tmp_path,
        "monitor.txt",
        "Second monitor is not detected\n\n"
        "Unplug the HDMI cable from the docking station, plug it back in and press Win+P to choose Extend.\n",
    )

    report = ingest_paths(sessions, retriever, [html, txt])

    assert report.failed == []
    assert sorted(report.added) == ["monitor", "outlook-signature"]
    with sessions() as s:
        page = s.get(Article, "outlook-signature")
        assert page.title == "Set up your Outlook email signature"
        assert "File > Options > Mail > Signatures" in page.body
        assert "tracking" not in page.body and "font-family" not in page.body and "Home | Help" not in page.body
        assert page.source == str(html)
        note = s.get(Article, "monitor")
        assert note.title == "Second monitor is not detected"
        assert note.body.startswith("Unplug the HDMI cable")
    assert top_article(retriever, "how do I add a signature to my emails") == "outlook-signature"
    assert top_article(retriever, "my external screen stays black on the dock") == "monitor"
    assert retriever.answer("how do I add a signature to my emails").decision.action == "answer"


def test_example_questions_in_the_front_matter_find_their_article(sessions, retriever, tmp_path):
    """A KB owner lists how users ask (`questions:`); each is matched on its own, and stays with the article."""
    kb = tmp_path / "kb"
    write(kb, "printer.md", PRINTER)
    write(kb, "wifi.md", WIFI)
    write(kb, "vpn.md", VPN)
    ingest_paths(sessions, retriever, [kb])
    colloquial = "the copier keeps eating my sheets"
    assert retriever.answer(colloquial).decision.action == "handoff"  # the article's own words are too far

    write(
        kb,
        "printer.md",
        PRINTER.replace(
            "tags: [printer]",
            "tags: [printer]\nquestions:\n  - the copier keeps eating my pages\n  - printer keeps eating paper",
        ),
    )
    report = ingest_paths(sessions, retriever, [kb])
    assert report.updated == ["printer-jam"] and not report.failed
    r = retriever.answer(colloquial)
    assert r.decision.action == "answer" and r.best.article_id == "printer-jam", (r.decision, r.best)
    assert "front door" in r.best.passage  # a question names the article; the user reads its text
    with sessions() as s:
        assert s.get(Article, "printer-jam").questions == [
            "the copier keeps eating my pages",
            "printer keeps eating paper",
        ]
        kinds = s.scalars(select(ArticleUnit.kind).where(ArticleUnit.article_id == "printer-jam")).all()
    assert sorted(kinds).count("question") == 2
    assert ingest_paths(sessions, retriever, [kb]).unchanged  # unchanged questions: nothing re-encoded

    write(kb, "bad.md", "---\nid: bad\ntitle: Bad\nquestions: {a: 1}\n---\nBody text.\n")
    failed = ingest_paths(sessions, retriever, [kb]).failed
    assert [f.reason for f in failed] == ["'questions' must be a list of questions, one a line"]
