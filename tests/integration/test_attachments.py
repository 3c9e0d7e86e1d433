"""Files users send: size and type checked (bot/attachments.py), stored only under <data_dir>/attachments, and a
refused file is never dropped silently (email: the mail is still handled, the refusal is in the stored message and
in the text the agent reads)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from email.message import EmailMessage

import pytest

from bot.attachments import AttachmentPolicy, safe_name, store

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(64)
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64)


def _zip(**files: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    "name, data",
    [
        ("screen.png", PNG),
        ("photo.JPG", b"\xff\xd8\xff\xe0" + bytes(20)),
        ("scan.pdf", PDF),
        ("report.docx", _zip(**{"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"})),
        ("old.xls", OLE),
        ("vpn.log", b"2026-11-27 error 809\n"),
        ("users.csv", "имя;отдел\n".encode()),
        ("event.txt", "\ufeffwindows log".encode("utf-16")),
        ("logs.zip", _zip(**{"a.log": b"x", "b.txt": b"y"})),
    ],
)
def test_accepted(name, data):
    assert AttachmentPolicy().check(name, data) is None


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("setup.exe", EXE, "executable"),
        ("fix.bat", b"@echo off\n", "executable"),
        ("run.ps1", b"Get-Item", "executable"),
        ("x.js", b"alert(1)", "executable"),
        ("install.msi", OLE, "executable"),
        ("lib.dll", EXE, "executable"),
        ("a.vbs", b"MsgBox 1", "executable"),
        ("go.sh", b"#!/bin/sh\n", "executable"),
        ("c.cmd", b"dir", "executable"),
        ("invoice.pdf", EXE, "mismatch"),
        ("notes.txt", b"#!/bin/bash\nrm -rf /\n", "mismatch"),
        ("photo.png", PDF, "mismatch"),
        ("tool.txt", b"\x7fELF\x02\x01", "mismatch"),
        ("data.txt", b"a\x00b\x00", "mismatch"),
        ("bundle.zip", _zip(**{"readme.txt": b"hi", "payload.exe": EXE}), "executable"),
        ("fake.zip", b"not a zip at all", "mismatch"),
        ("archive.rar", b"Rar!\x1a\x07", "not_allowed"),
        ("noext", b"hello", "not_allowed"),
        ("empty.txt", b"", "empty"),
    ],
)
def test_refused_with_a_reason(name, data, reason):
    refusal = AttachmentPolicy().check(name, data)
    assert refusal is not None and refusal.reason == reason and name in refusal.detail


def test_size_limit():
    policy = AttachmentPolicy(max_bytes=1000)
    assert policy.check("big.log", b"x" * 1000) is None
    refusal = policy.check("big.log", b"x" * 1001)
    assert refusal.reason == "too_large" and "big.log" in refusal.detail
    assert policy.check_size("huge.pdf", 5_000_000).reason == "too_large"  # before downloading
    assert AttachmentPolicy().max_bytes == 20 * 1024 * 1024


def test_stored_by_content_and_always_under_attachments(tmp_path):
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..\\..\\api\\static\\x.html") == "x.html"
    assert safe_name("...") == "attachment"
    f = store(tmp_path, "..", b"<script>")
    path = (tmp_path / f.path).resolve()
    assert path.is_relative_to((tmp_path / "attachments").resolve()) and path.read_bytes() == b"<script>"
    assert path.name == f.sha256 == hashlib.sha256(b"<script>").hexdigest() and f.size == 8
    assert store(tmp_path, "..", b"<script>") == f  # the same bytes: the same file, written once
    assert not [p for p in (tmp_path / "attachments").rglob("*.part")]


def _mail(sender: str, message_id: str, name: str, data: bytes) -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = sender, "help@corp.test", "Error report", message_id
    m.set_content("The accounting app shows this error, log attached.")
    m.add_attachment(data, maintype="text", subtype="plain", filename=name)
    return m.as_bytes()


def test_two_senders_files_with_one_long_name_are_never_one_file(tmp_path):
    """Found by the adversarial test: a 107-character name lost its hash prefix, and the second sender's message
    pointed at the first sender's file (their own bytes never written)."""
    from api.runtime import build_runtime
    from bot.email import EmailChannel, EmailConfig
    from bot.engine import Engine
    from core.settings import Settings
    from tickets.models import Message

    rt = build_runtime(
        Settings(
            data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'fl.db'}", secret_key="k", load_sample_kb=False
        )
    )
    try:
        channel = EmailChannel(
            EmailConfig(addresses={"help@corp.test": "ticket"}, data_dir=tmp_path), sessions=rt.sessions
        )
        channel.engine = Engine(rt.sessions, rt.retriever)
        name = "accounting-export-error-log-" + "x" * 75 + ".log"
        assert len(name) == 107
        mine, theirs = b"kim's log: error 0x80070005\n", b"lee's log: payroll totals, confidential\n"
        for sender, mid, data in (
            ("kim@corp.test", "<a1@corp.test>", mine),
            ("lee@corp.test", "<b1@corp.test>", theirs),
        ):
            assert channel.receive(_mail(sender, mid, name, data), ["help@corp.test"]).status.startswith("250")
        with rt.sessions() as s:
            got = {
                m.platform_msg_id: m.payload["attachments"][0]
                for m in s.query(Message).filter(Message.author == "user")
            }
        a, b = got["<a1@corp.test>"], got["<b1@corp.test>"]
        assert a["name"] == b["name"] == name  # the name is kept, as metadata
        assert a["path"] != b["path"]
        assert (tmp_path / a["path"]).read_bytes() == mine and (tmp_path / b["path"]).read_bytes() == theirs
    finally:
        rt.close()


def test_email_with_a_refused_exe_is_still_handled_and_the_agent_is_told(tmp_path):
    from api.runtime import build_runtime
    from bot.email import EmailChannel, EmailConfig
    from bot.engine import Engine
    from core.settings import Settings
    from tickets import conversations, service
    from tickets.models import Message

    settings = Settings(
        data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'fl.db'}", secret_key="k", load_sample_kb=False
    )
    rt = build_runtime(settings)
    try:
        channel = EmailChannel(
            EmailConfig(addresses={"help@corp.test": "ticket"}, data_dir=tmp_path), sessions=rt.sessions
        )
        channel.engine = Engine(rt.sessions, rt.retriever)
        m = EmailMessage()
        m["From"], m["To"], m["Subject"], m["Message-ID"] = (
            "kim@corp.test",
            "help@corp.test",
            "Printer",
            "<p1@corp.test>",
        )
        m.set_content("The printer on floor 3 prints blank pages. Screenshot and the driver tool attached.")
        m.add_attachment(PNG, maintype="image", subtype="png", filename="blank.png")
        m.add_attachment(EXE, maintype="application", subtype="octet-stream", filename="PrinterFix.exe")
        result = channel.receive(m.as_bytes(), ["help@corp.test"])
        assert result.status.startswith("250"), result.status  # the mail is processed, not bounced

        with rt.sessions() as s:
            msg = s.query(Message).filter(Message.platform_msg_id == "<p1@corp.test>").one()
            assert [a["name"] for a in msg.payload["attachments"]] == ["blank.png"]
            [refused] = msg.payload["refused_attachments"]
            assert refused["name"] == "PrinterFix.exe" and refused["reason"] == "executable"
            # What the agent reads in the ticket's transcript says which file was refused and why.
            ticket = service.ticket_for_conversation(s, msg.conversation_id)
            transcript = [m.text for m in conversations.transcript(s, ticket.conversation_id)]
            assert any("attachment refused: PrinterFix.exe is a program or script" in t for t in transcript)
        stored = [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()]
        assert len(stored) == 1 and stored[0].read_bytes() == PNG
        assert msg.payload["attachments"][0]["path"] == stored[0].relative_to(tmp_path).as_posix()
    finally:
        rt.close()


def test_telegram_tells_the_user_which_file_was_refused_and_why(tmp_path):
    import httpx

    from tests.support.fakes.telegram_api import FakeTelegram, TgUser
    from tests.support.live import running_app

    token = "777001:attachments-test"
    fake = FakeTelegram(token)
    with (
        fake.running(),
        running_app(
            f"sqlite:///{tmp_path / 'fl.db'}",
            tmp_path,
            load_sample_kb=False,
            telegram_bot_token=token,
            telegram_api_base=fake.base_url,
            telegram_webhook_url="https://desk.example.test/api/v1/telegram/webhook",
            telegram_webhook_secret="hook-secret",
        ) as (base, _),
    ):
        user = TgUser(fake, 4242, "Una")
        hook = {"X-Telegram-Bot-Api-Secret-Token": "hook-secret"}
        exe = {**fake.add_file(EXE, "documents/file_1.exe"), "file_name": "PrinterFix.exe"}
        fake_pdf = {**fake.add_file(EXE, "documents/file_2.pdf"), "file_name": "invoice.pdf"}
        with httpx.Client(base_url=base, timeout=30) as http:
            m = fake.mark()
            for doc in (exe, fake_pdf):
                http.post(
                    "/api/v1/telegram/webhook", json=fake.user_message(user.chat, user.user, document=doc), headers=hook
                ).raise_for_status()
        said = [r["text"] for r in fake.wait_sent(user.id, m, count=2)]
        assert "PrinterFix.exe" in said[0] and "programs and scripts are not allowed" in said[0]
        assert "invoice.pdf" in said[1] and "does not match its file type" in said[1]
        # The .exe was refused by its name: never even fetched. Nothing refused was kept on disk.
        assert not any(c["method"] == "getFile" and c["params"].get("file_id") == exe["file_id"] for c in fake.calls)
        assert not [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()]
