"""Files users send: size and type checked (bot/attachments.py), stored only under <data_dir>/attachments, and a
refused file is never dropped silently (email: the mail is still handled, the refusal is in the stored message and
in the text the agent reads)."""
from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from pathlib import Path

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


@pytest.mark.parametrize("name, data", [
    ("screen.png", PNG), ("photo.JPG", b"\xff\xd8\xff\xe0" + bytes(20)), ("scan.pdf", PDF),
    ("report.docx", _zip(**{"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"})),
    ("old.xls", OLE), ("vpn.log", b"2026-11-27 error 809\n"), ("users.csv", "имя;отдел\n".encode()),
    ("event.txt", "\ufeffwindows log".encode("utf-16")), ("logs.zip", _zip(**{"a.log": b"x", "b.txt": b"y"})),
])
def test_accepted(name, data):
    assert AttachmentPolicy().check(name, data) is None


@pytest.mark.parametrize("name, data, reason", [
    ("setup.exe", EXE, "executable"), ("fix.bat", b"@echo off\n", "executable"), ("run.ps1", b"Get-Item", "executable"),
    ("x.js", b"alert(1)", "executable"), ("install.msi", OLE, "executable"), ("lib.dll", EXE, "executable"),
    ("a.vbs", b"MsgBox 1", "executable"), ("go.sh", b"#!/bin/sh\n", "executable"), ("c.cmd", b"dir", "executable"),
    ("invoice.pdf", EXE, "mismatch"), ("notes.txt", b"#!/bin/bash\nrm -rf /\n", "mismatch"),
    ("photo.png", PDF, "mismatch"), ("tool.txt", b"\x7fELF\x02\x01", "mismatch"), ("data.txt", b"a\x00b\x00", "mismatch"),
    ("bundle.zip", _zip(**{"readme.txt": b"hi", "payload.exe": EXE}), "executable"),
    ("fake.zip", b"not a zip at all", "mismatch"), ("archive.rar", b"Rar!\x1a\x07", "not_allowed"),
    ("noext", b"hello", "not_allowed"), ("empty.txt", b"", "empty"),
])
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


def test_stored_names_are_sanitised_and_stay_under_attachments(tmp_path):
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..\\..\\api\\static\\x.html") == "x.html"
    assert safe_name("отчёт за май.pdf") == "_.pdf"  # the original name stays in the message payload
    assert safe_name("...") == "attachment"
    rel = store(tmp_path, ["email", ".."], "../../../api/static/evil.html", b"<script>")
    path = (tmp_path / rel).resolve()
    assert path.is_relative_to((tmp_path / "attachments").resolve()) and path.read_bytes() == b"<script>"
    assert "static" not in Path(rel).parts[:-1]


def test_email_with_a_refused_exe_is_still_handled_and_the_agent_is_told(tmp_path):
    from api.runtime import build_runtime
    from api.settings import Settings
    from bot.email import EmailChannel, EmailConfig
    from bot.engine import Engine
    from tickets import service
    from tickets.models import Message

    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'fl.db'}", secret_key="k",
                        load_sample_kb=False)
    rt = build_runtime(settings)
    try:
        channel = EmailChannel(EmailConfig(addresses={"help@corp.test": "ticket"}, data_dir=tmp_path),
                               sessions=rt.sessions)
        channel.engine = Engine(rt.sessions, rt.retriever)
        m = EmailMessage()
        m["From"], m["To"], m["Subject"], m["Message-ID"] = "kim@corp.test", "help@corp.test", "Printer", "<p1@corp.test>"
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
            transcript = [m.text for m in service.transcript(s, ticket.conversation_id)]
            assert any("attachment refused: PrinterFix.exe is a program or script" in t for t in transcript)
        stored = [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()]
        assert len(stored) == 1 and stored[0].name.endswith("blank.png") and stored[0].read_bytes() == PNG
    finally:
        rt.close()


def test_telegram_tells_the_user_which_file_was_refused_and_why(tmp_path):
    import httpx

    from tests.fakes.telegram_api import FakeTelegram, TgUser
    from tests.live import running_app

    token = "777001:attachments-test"
    fake = FakeTelegram(token)
    with fake.running(), running_app(f"sqlite:///{tmp_path / 'fl.db'}", tmp_path, load_sample_kb=False,
                                     telegram_bot_token=token, telegram_api_base=fake.base_url,
                                     telegram_webhook_url="https://desk.example.test/api/v1/telegram/webhook",
                                     telegram_webhook_secret="hook-secret") as (base, _):
        user = TgUser(fake, 4242, "Una")
        hook = {"X-Telegram-Bot-Api-Secret-Token": "hook-secret"}
        exe = {**fake.add_file(EXE, "documents/file_1.exe"), "file_name": "PrinterFix.exe"}
        fake_pdf = {**fake.add_file(EXE, "documents/file_2.pdf"), "file_name": "invoice.pdf"}
        with httpx.Client(base_url=base, timeout=30) as http:
            m = fake.mark()
            for doc in (exe, fake_pdf):
                http.post("/api/v1/telegram/webhook", json=fake.user_message(user.chat, user.user, document=doc),
                          headers=hook).raise_for_status()
        said = [r["text"] for r in fake.wait_sent(user.id, m, count=2)]
        assert "PrinterFix.exe" in said[0] and "programs and scripts are not allowed" in said[0]
        assert "invoice.pdf" in said[1] and "does not match its file type" in said[1]
        # The .exe was refused by its name: never even fetched. Nothing refused was kept on disk.
        assert not any(c["method"] == "getFile" and c["params"].get("file_id") == exe["file_id"] for c in fake.calls)
        assert not [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()]
