"""Email end to end with real protocol peers on 127.0.0.1: `smtplib` sends to our aiosmtpd listener; our
sender delivers through a capturing aiosmtpd "relay". The bot answers in the thread, "human" hands off, an
agent's reply arrives in the same thread, a reply with only the ticket tag threads back, automatic mail is
never answered, malformed mail is refused with a reason, a redelivered Message-ID is processed once."""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from tests.support.live import free_port, make_agent, running_app
from tests.support.mail import Capture
from tickets.email_models import EmailRecord
from tickets.models import Conversation, Message

SUPPORT, HELPDESK = "support@corp.test", "helpdesk@corp.test"


@pytest.fixture(scope="module")
def email_app(module_db_url, tmp_path_factory, embedder):
    capture = Capture()
    relay = Controller(capture, hostname="127.0.0.1", port=free_port())
    relay.start()
    listen_port = free_port()
    try:
        with running_app(
            module_db_url,
            tmp_path_factory.mktemp("data"),
            smtp_listen=f"127.0.0.1:{listen_port}",
            smtp_relay=f"127.0.0.1:{relay.port}",
            email_addresses=f"{SUPPORT}=bot,{HELPDESK}=ticket",
        ) as (base, runtime):
            yield base, runtime, capture, listen_port
    finally:
        relay.stop()


def send(
    port: int, subject: str, body: str, *, sender: str = "ann@corp.test", to: str = SUPPORT, message_id: str, **headers
) -> None:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = sender, to, subject, message_id
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.send_message(m)


def body(m: EmailMessage) -> str:
    return m.get_body(("plain",)).get_content()


def test_answer_handoff_agent_reply_and_tag_threading(email_app):
    base, runtime, capture, port = email_app
    start = len(capture.mails)
    send(
        port,
        "VPN keeps dropping",
        "Since this morning my vpn keeps dropping every few minutes.",
        message_id="<q1@corp.test>",
    )
    answer = capture.wait_for(start + 1)[start]
    assert answer["To"] == "ann@corp.test" and answer["In-Reply-To"] == "<q1@corp.test>"
    assert answer["Subject"] == "Re: VPN keeps dropping"
    assert answer["Auto-Submitted"] == "auto-replied"  # the user's auto-responder must not answer the bot
    assert "VPN" in body(answer) and '"human"' in body(answer)

    # "human" in reply to the bot's mail: same thread, a ticket, and the mail says its number.
    send(
        port,
        "Re: VPN keeps dropping",
        "human\n\nOn Mon, IT Service Desk wrote:\n> old text",
        message_id="<q2@corp.test>",
        In_Reply_To=answer["Message-ID"],
        References=f"<q1@corp.test> {answer['Message-ID']}",
    )
    handoff = capture.wait_for(start + 2)[start + 1]
    number = int(str(handoff["X-Firstline-Ticket"]))
    assert handoff["Subject"] == f"Re: VPN keeps dropping [FL-#{number}]"
    assert f"#{number}" in body(handoff)

    agent = make_agent(runtime, "mail-agent")
    with httpx.Client(base_url=base, timeout=30) as http:
        ticket = http.get(f"/api/v1/tickets/{number}", headers=agent).json()
        assert ticket["channel"] == "email" and ticket["requester"]["ref"] == "ann@corp.test"
        assert "vpn keeps dropping" in ticket["question"].lower()
        http.post(f"/api/v1/tickets/{number}/claim", headers=agent).raise_for_status()
        http.post(
            f"/api/v1/tickets/{number}/reply", json={"text": "Please reinstall the VPN client 5.2."}, headers=agent
        ).raise_for_status()
        mails = capture.wait_for(start + 4)  # "agent joined" notice, then the reply
        reply = next(m for m in mails[start + 2 :] if "reinstall" in body(m))
        assert reply["In-Reply-To"] == "<q2@corp.test>" and reply["Auto-Submitted"] is None
        assert reply["Subject"] == f"Re: VPN keeps dropping [FL-#{number}]"

        # A reply whose client dropped In-Reply-To/References still lands on the ticket by its tag.
        send(
            port,
            f"RE: VPN keeps dropping [FL-#{number}]",
            "Reinstalled, works now, thanks!",
            message_id="<q3@corp.test>",
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            texts = [m["text"] for m in http.get(f"/api/v1/tickets/{number}", headers=agent).json()["transcript"]]
            if any("Reinstalled" in t for t in texts):
                break
            time.sleep(0.1)
        assert any("Reinstalled" in t for t in texts), texts


def test_ticket_mode_address_opens_a_ticket_at_once(email_app):
    base, runtime, capture, port = email_app
    start = len(capture.mails)
    send(
        port,
        "New monitor for the reception",
        "We need a second monitor at reception desk 2.",
        to=HELPDESK,
        sender="bob@corp.test",
        message_id="<h1@corp.test>",
    )
    notice = capture.first_to("bob@corp.test", start)
    assert notice["X-Firstline-Ticket"] and notice["From"].addresses[0].addr_spec == HELPDESK
    with runtime.sessions() as s:
        conv = s.scalar(select(Conversation).where(Conversation.user_ref == "bob@corp.test"))
        assert conv.state == "waiting_for_agent"


def test_automatic_mail_is_recorded_and_never_answered(email_app):
    base, runtime, capture, port = email_app
    start = len(capture.mails)
    send(
        port,
        "Automatic reply: VPN",
        "I am out of office until Monday.",
        sender="carol@corp.test",
        message_id="<ooo@corp.test>",
        Auto_Submitted="auto-replied",
    )
    send(
        port,
        "Undelivered Mail",
        "mail system report",
        sender="MAILER-DAEMON@mx.corp.test",
        message_id="<bounce@corp.test>",
    )
    with runtime.sessions() as s:
        rows = {
            r.message_id: r
            for r in s.scalars(
                select(EmailRecord).where(EmailRecord.message_id.in_(["<ooo@corp.test>", "<bounce@corp.test>"]))
            )
        }
        assert {r.direction for r in rows.values()} == {"ignored"}
        assert (
            s.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.user_ref.in_(["carol@corp.test", "mailer-daemon@mx.corp.test"]))
            )
            == 0
        )
    # A real mail afterwards is answered: the automatic ones produced nothing before it.
    send(port, "printer", "the printer is jammed", sender="dan@corp.test", message_id="<p1@corp.test>")
    capture.first_to("dan@corp.test", start)
    time.sleep(0.3)  # give a wrong extra delivery the chance to show up
    senders = {"carol@corp.test", "mailer-daemon@mx.corp.test", "dan@corp.test"}
    assert [m["To"] for m in capture.mails[start:] if m["To"].lower() in senders] == ["dan@corp.test"]


def test_malformed_and_duplicate_mail(email_app):
    base, runtime, capture, port = email_app
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as exc:
            smtp.sendmail("x@corp.test", [SUPPORT], b"Subject: hi\r\n\r\nno sender header")
        assert exc.value.smtp_code == 550 and b"no sender" in exc.value.smtp_error
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("x@corp.test", ["nobody@corp.test"], b"From: x@corp.test\r\n\r\nhello")
    start = len(capture.mails)
    for _ in range(2):  # the sending server retried after a lost 250: processed once, answered once
        send(port, "Teams", "teams has no sound", sender="eve@corp.test", message_id="<dup@corp.test>")
    capture.first_to("eve@corp.test", start)
    time.sleep(0.3)
    assert [m["To"] for m in capture.mails[start:]].count("eve@corp.test") == 1
    with runtime.sessions() as s:
        assert (
            s.scalar(select(func.count()).select_from(Message).where(Message.platform_msg_id == "<dup@corp.test>")) == 1
        )


def test_a_message_id_another_sender_used_is_not_a_duplicate(email_app):
    """Message-IDs are only unique per sender in practice (a broken client, a forged header): a second sender's
    mail with the same id is their own new message, answered to them; it never sees the first sender's thread."""
    base, runtime, capture, port = email_app
    start = len(capture.mails)
    send(port, "VPN", "How do I connect to the VPN from home?", sender="gus@corp.test", message_id="<1@localhost>")
    to_gus = capture.first_to("gus@corp.test", start)
    send(port, "Printer", "How do I add a network printer?", sender="hal@corp.test", message_id="<1@localhost>")
    to_hal = capture.first_to("hal@corp.test", start)
    assert "printer" in body(to_hal).splitlines()[0].lower() and "vpn" in body(to_gus).splitlines()[0].lower()
    with runtime.sessions() as s:
        stored = dict(
            s.execute(
                select(Conversation.user_ref, Message.text)
                .join(Conversation)
                .where(Message.platform_msg_id == "<1@localhost>")
            ).all()
        )
    assert set(stored) == {"gus@corp.test", "hal@corp.test"}
    assert "printer" in stored["hal@corp.test"].lower()


def test_html_only_mail_and_attachments_are_kept(email_app):
    base, runtime, capture, port = email_app
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = "fay@corp.test", SUPPORT, "Error", "<html1@corp.test>"
    m.set_content("<html><body><p>Outlook <b>crashes</b> when I open it</p></body></html>", subtype="html")
    m.add_attachment(b"\x89PNG fake screenshot", maintype="image", subtype="png", filename="crash.png")
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.send_message(m)
    with runtime.sessions() as s:
        msg = s.scalar(select(Message).where(Message.platform_msg_id == "<html1@corp.test>"))
        assert "<b>" not in msg.text and "Outlook crashes when I open it" in msg.text
        [att] = msg.payload["attachments"]
        assert att["name"] == "crash.png" and att["size"] == len(b"\x89PNG fake screenshot")
        stored = Path(runtime.settings.data_dir) / att["path"]
        assert stored.read_bytes() == b"\x89PNG fake screenshot"
        assert "static" not in stored.parts  # never under a served path
