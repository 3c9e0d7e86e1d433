"""Reading inbound mail: the new text of a reply, HTML-only mail, threading ids, ticket tags, and the automatic
mail (auto-replies, bounces, lists, loops) that must never be answered."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from bot.email.compose import reply_subject
from bot.email.message import MalformedEmail, parse_email, strip_quoted

OWN = {"support@corp.test"}


def mail(body: str = "My VPN keeps dropping", subtype: str = "plain", **headers) -> bytes:
    m = EmailMessage()
    m["From"] = headers.pop("From", "Ann Lee <Ann.Lee@corp.test>")
    m["To"] = headers.pop("To", "support@corp.test")
    m["Subject"] = headers.pop("Subject", "VPN problem")
    m["Message-ID"] = headers.pop("Message_ID", "<m1@corp.test>")
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(body, subtype=subtype)
    return m.as_bytes()


def test_a_plain_mail_is_read_with_sender_subject_and_id():
    e = parse_email(mail(), OWN)
    assert (e.from_addr, e.from_name, e.subject, e.message_id) == (
        "ann.lee@corp.test",
        "Ann Lee",
        "VPN problem",
        "<m1@corp.test>",
    )
    assert e.text == "My VPN keeps dropping" and e.auto_reason is None and e.ticket_tag is None


def test_quoted_history_is_not_part_of_the_new_text():
    en = "Still broken after the restart.\n\nOn Mon, 3 Nov 2026 at 10:00, IT Service Desk wrote:\n> Try restarting"
    ru = "Не помогло.\n\n3 нояб. 2026 г., в 10:00, IT Service Desk пишет:\n> Перезагрузите"
    outlook = "Thanks, fixed.\n\n-----Original Message-----\nFrom: IT Service Desk\nSubject: Re: VPN"
    assert strip_quoted(en) == "Still broken after the restart."
    assert strip_quoted(ru) == "Не помогло."
    assert strip_quoted(outlook) == "Thanks, fixed."


def test_html_only_mail_becomes_text_without_tags_or_quoted_history():
    html = (
        "<html><head><style>p{color:red}</style></head><body><p>Outlook <b>crashes</b> on start.</p>"
        "<p>Error&nbsp;0x800</p><div class='gmail_quote'>On Mon … wrote: old stuff</div></body></html>"
    )
    e = parse_email(mail(html, subtype="html"), OWN)
    assert e.html_only
    assert e.text == "Outlook crashes on start.\nError 0x800"


def test_threading_ids_and_ticket_tag():
    e = parse_email(
        mail(
            Subject="Re: VPN problem [FL-#42]",
            In_Reply_To="<out2@firstline>",
            References="<m1@corp.test> <out1@firstline> <out2@firstline>",
        ),
        OWN,
    )
    assert e.ticket_tag == 42
    assert e.thread_ids == ["<out2@firstline>", "<out1@firstline>", "<m1@corp.test>"]
    assert reply_subject("RE: Fwd: VPN problem [FL-#42]", 42) == "Re: VPN problem [FL-#42]"


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({"Auto_Submitted": "auto-replied"}, "Auto-Submitted"),
        ({"Precedence": "bulk"}, "Precedence"),
        ({"X_Autoreply": "yes"}, "X-Autoreply"),
        ({"From": "MAILER-DAEMON@mx.corp.test"}, "automatic sender"),
        ({"From": "IT <support@corp.test>"}, "mail loop"),
        ({"X_Firstline_Ticket": "7"}, "our own mail"),
        ({"List_Id": "<all-staff.corp.test>"}, "mailing list"),
    ],
)
def test_automatic_mail_is_recognised(headers, reason):
    assert reason in (parse_email(mail(**headers), OWN).auto_reason or "")


def test_a_bounce_report_is_automatic():
    m = EmailMessage()
    m["From"] = "Mail Delivery System <postmaster@mx.corp.test>"
    m["To"] = "support@corp.test"
    m["Subject"] = "Undelivered Mail Returned to Sender"
    m.set_content("This is the mail system at host mx.")
    m.make_mixed()
    m.replace_header("Content-Type", 'multipart/report; report-type=delivery-status; boundary="b"')
    assert parse_email(m.as_bytes(), OWN).auto_reason


def test_an_ordinary_auto_submitted_no_mail_is_answered():
    assert parse_email(mail(Auto_Submitted="no"), OWN).auto_reason is None


@pytest.mark.parametrize("raw", [b"", b"Subject: hi\r\n\r\nno sender here", b"\x00\xff\xfe garbage"])
def test_malformed_mail_is_a_clear_error(raw):
    with pytest.raises(MalformedEmail, match="sender|unreadable"):
        parse_email(raw, OWN)


def test_attachments_are_kept_and_oversized_ones_refused():
    m = EmailMessage()
    m["From"] = "ann@corp.test"
    m["To"] = "support@corp.test"
    m["Subject"] = "screenshot"
    m.set_content("see attached")
    m.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="error.pdf")
    e = parse_email(m.as_bytes(), OWN)
    assert [(a.filename, a.content_type, a.data) for a in e.attachments] == [
        ("error.pdf", "application/pdf", b"%PDF-1.4 fake")
    ]
    with pytest.raises(MalformedEmail, match="larger than"):
        parse_email(m.as_bytes(), OWN, max_attachment_bytes=4)
