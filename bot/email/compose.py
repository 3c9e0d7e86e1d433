"""Outgoing mail: a reply in the employee's thread, tagged with the ticket so their answer threads back."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from bot.email.message import TICKET_TAG

_RE_PREFIX = re.compile(r"^\s*((re|fw|fwd|ответ|отв|на)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def reply_subject(subject: str, ticket_number: int | None) -> str:
    base = TICKET_TAG.sub("", _RE_PREFIX.sub("", subject or "")).strip() or "Your IT request"
    tag = f" [FL-#{ticket_number}]" if ticket_number else ""
    return f"Re: {base}{tag}"


def compose_reply(
    *,
    message_id: str,
    from_addr: str,
    from_name: str,
    to_addr: str,
    subject: str,
    text: str,
    in_reply_to: str | None,
    references: list[str],
    ticket_number: int | None,
    automatic: bool,
) -> EmailMessage:
    msg = EmailMessage()
    msg["Message-ID"] = message_id
    msg["From"] = formataddr((from_name, from_addr))
    msg["To"] = to_addr
    msg["Subject"] = reply_subject(subject, ticket_number)
    msg["Date"] = formatdate(localtime=False)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references[-20:])  # long threads: the root and the newest ones matter
    if automatic:
        # RFC 3834: the employee's own auto-responder must not answer the bot (no mail loops).
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    if ticket_number:
        msg["X-Firstline-Ticket"] = str(ticket_number)
    msg.set_content(text)
    return msg
