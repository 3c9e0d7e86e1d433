"""Inbound email → what the service desk needs: who, which thread, the new text, attachments, and whether
it is an automatic message that must never be answered (auto-replies, bounces, mailing lists, our own mail).

Pure functions over the stdlib `email` package; nothing here touches the network or the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, make_msgid, parseaddr

from bs4 import BeautifulSoup

from core.inputs import normalize_ref

# "[FL-#123]" in a subject ties a mail to ticket 123 even when a mail client drops In-Reply-To/References.
TICKET_TAG = re.compile(r"\[FL-#(\d{1,12})\]")
# Markers of the quoted history under a reply, in the languages our users write (EN, RU) and Outlook's.
_QUOTE_HEADER = re.compile(
    r"^(on .{3,200} wrote:|.{3,200} (wrote|пишет|написал\(а\)|написал):|-{2,}\s*original message\s*-{2,}|"
    r"-{2,}\s*исходное сообщение\s*-{2,}|from: .+|от: .+)\s*$",
    re.IGNORECASE,
)
_AUTO_FROM = re.compile(r"^(mailer-daemon|postmaster|no-?reply|noreply|bounce[s]?)([+@.-]|$)", re.IGNORECASE)


class MalformedEmail(ValueError):
    """The bytes are not an email we can read (no sender, unparseable structure)."""


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass
class InboundEmail:
    message_id: str
    from_addr: str
    from_name: str
    to_addrs: list[str]
    subject: str
    text: str  # the new text of this mail (quoted history removed), HTML converted to text
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    auto_reason: str | None = None  # why this is an automatic mail we must not answer, or None
    ticket_tag: int | None = None
    html_only: bool = False

    @property
    def thread_ids(self) -> list[str]:
        """Ids of earlier mails in this thread, nearest first (In-Reply-To, then References newest → oldest)."""
        out = [self.in_reply_to] if self.in_reply_to else []
        out += [r for r in reversed(self.references) if r not in out]
        return out


def _ids(value: str | None) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


def html_to_text(html: str) -> str:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "title"]):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(["p", "div", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"]):
        block.insert_after("\n")
    # Outlook/Gmail wrap the quoted history in these: it is not the user's new text.
    for quoted in soup.select("blockquote, div.gmail_quote, #divRplyFwdMsg, #appendonsend"):
        quoted.decompose()
    lines = [" ".join(line.split()) for line in soup.get_text().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def strip_quoted(text: str) -> str:
    """The part of a reply above the quoted history ("> …", "On … wrote:", "-----Original Message-----")."""
    kept: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(">") or _QUOTE_HEADER.match(stripped):
            break
        kept.append(line.rstrip())
    new = "\n".join(kept).strip()
    return new or text.strip()  # a mail that is all quote (forwarded as is): keep it whole


def automatic_reason(msg: EmailMessage, own_addresses: set[str]) -> str | None:
    """RFC 3834 and common practice: auto-replies, bounces, lists and loops are recorded, never answered."""
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = (msg.get("Precedence") or "").strip().lower()
    if precedence in {"bulk", "junk", "list", "auto_reply"}:
        return f"Precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"):
        value = (msg.get(header) or "").strip().lower()
        if value and (header != "X-Auto-Response-Suppress" or value in {"all", "oof", "autoreply"}):
            return f"{header}: {value}"
    if msg.get("X-Firstline-Ticket") is not None:
        return "our own mail came back (X-Firstline-Ticket)"
    if msg.get_content_type() == "multipart/report":
        return "delivery status report (bounce)"
    if (msg.get("Return-Path") or "").strip() == "<>":
        return "bounce (empty Return-Path)"
    if msg.get("List-Id") or msg.get("List-Unsubscribe"):
        return "mailing list"
    sender = parseaddr(msg.get("From") or "")[1].lower()
    if _AUTO_FROM.match(sender):
        return f"automatic sender {sender}"
    if sender in own_addresses:
        return "sent from our own address (mail loop)"
    return None


def parse_email(
    raw: bytes, own_addresses: set[str] | frozenset[str] = frozenset(), max_attachment_bytes: int = 10 * 1024 * 1024
) -> InboundEmail:
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the stdlib parser is lenient; this is truly broken input
        raise MalformedEmail(f"unreadable email: {exc}") from exc
    try:
        from_name, from_addr = parseaddr(str(msg.get("From") or ""))
    except Exception:
        from_name, from_addr = "", ""
    if "@" not in from_addr:
        raise MalformedEmail("the email has no sender address (From)")
    own = {a.lower() for a in own_addresses}
    text_part = html_part = None
    attachments: list[Attachment] = []
    try:
        for part in msg.walk():
            if part.is_multipart():
                continue
            disposition = part.get_content_disposition()
            ctype = part.get_content_type()
            if (
                disposition == "attachment"
                or (disposition == "inline" and part.get_filename())
                or not ctype.startswith("text/")
            ):
                data = part.get_payload(decode=True) or b""
                if ctype == "message/delivery-status" or not data:
                    continue
                if len(data) > max_attachment_bytes:
                    raise MalformedEmail(
                        f"attachment {part.get_filename() or ctype} is larger than "
                        f"{max_attachment_bytes // (1024 * 1024)} MB"
                    )
                attachments.append(Attachment(part.get_filename() or "attachment", ctype, data))
            elif ctype == "text/plain" and text_part is None:
                text_part = part
            elif ctype == "text/html" and html_part is None:
                html_part = part
        plain = text_part.get_content() if text_part is not None else ""
        html = html_part.get_content() if html_part is not None else ""
    except (LookupError, UnicodeError, ValueError, AssertionError) as exc:
        if isinstance(exc, MalformedEmail):
            raise
        raise MalformedEmail(f"unreadable email body: {exc}") from exc
    html_only = not plain.strip() and bool(html.strip())
    body = html_to_text(html) if html_only else plain
    subject = " ".join(str(msg.get("Subject") or "").split())
    tag = TICKET_TAG.search(subject)
    message_id = (_ids(msg.get("Message-ID")) or [make_msgid(domain="firstline.invalid")])[0]
    return InboundEmail(
        message_id=message_id,
        from_addr=normalize_ref("email", from_addr),
        from_name=from_name,
        to_addrs=[
            a.lower() for _, a in getaddresses([str(v) for v in msg.get_all("To", []) + msg.get_all("Cc", [])]) if a
        ],
        subject=subject,
        text=strip_quoted(body),
        in_reply_to=(_ids(msg.get("In-Reply-To")) or [None])[0],
        references=_ids(msg.get("References")),
        attachments=attachments,
        auto_reason=automatic_reason(msg, own),
        ticket_tag=int(tag.group(1)) if tag else None,
        html_only=html_only,
    )
