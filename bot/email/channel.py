"""Email channel: an inbound SMTP listener (aiosmtpd) for the support addresses, and outgoing mail through the
company's relay (aiosmtplib), both threaded into Firstline conversations and tickets.

One mail in: parse → automatic mail (auto-reply, bounce, list, loop)? record it, never answer → find its
thread (In-Reply-To / References, else the [FL-#n] subject tag) → the conversation engine, exactly like a chat
message (bot answer from the KB, or a ticket at once for addresses in "ticket" mode) → the bot's replies are
queued in the outbox and mailed back in the same thread. The SMTP transaction is acknowledged (250) only
after the mail is stored, so a crash before that makes the sending server retry; a redelivered Message-ID is
recognised and processed once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import aiosmtplib
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.attachments import AttachmentPolicy, store
from bot.context import ChannelContext
from bot.email.compose import compose_reply
from bot.email.message import InboundEmail, MalformedEmail, parse_email
from bot.engine import Engine, Incoming, InputError
from bot.outbox import Delivered, Delivery, PermanentFailure
from tickets.email_models import EmailRecord
from tickets.models import Conversation, Message, Ticket

log = logging.getLogger(__name__)
CHANNEL = "email"

# Email has no buttons: a short first line in reply to an answer is the feedback.
_HELPED = re.compile(r"^(helped|it helped|thanks?|thank you|solved|fixed|помогло|спасибо|решено)\W*$", re.I)
_NOT_HELPED = re.compile(r"^(didn'?t help|did not help|not helped|no|не помогло|нет)\W*$", re.I)
_FOOTER = {
    "en": 'Did this solve it? Reply "helped", or "didn\'t help" for another answer, or "human" to reach an agent.',
    "ru": "Это решило проблему? Ответьте «помогло», «не помогло» (будет другой ответ) или «человек», "
    "чтобы связаться с сотрудником поддержки.",
}


@dataclass
class EmailConfig:
    addresses: dict[str, str]  # our address → "bot" | "ticket"
    listen: tuple[str, int] | None = None
    relay: tuple[str, int] | None = None
    username: str | None = None
    password: str | None = None
    tls: str = "none"  # none | starttls | ssl
    max_bytes: int = 25 * 1024 * 1024
    max_chars: int = 4000
    max_attachment_bytes: int = 20 * 1024 * 1024  # per file (bot/attachments.py)
    data_dir: Path = Path("./var")
    from_name: str = "IT Service Desk"
    domain: str = "firstline.local"
    timeout: float = 30.0
    extra: dict = field(default_factory=dict)

    @property
    def default_address(self) -> str:
        return next(iter(self.addresses), f"support@{self.domain}")

    @staticmethod
    def parse_addresses(spec: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in filter(None, (p.strip() for p in spec.split(","))):
            addr, _, mode = item.partition("=")
            mode = (mode or "bot").strip().lower()
            if "@" not in addr or mode not in {"bot", "ticket"}:
                raise ValueError(f"FIRSTLINE_EMAIL_ADDRESSES: {item!r} is not address[=bot|ticket]")
            out[addr.strip().lower()] = mode
        return out

    @staticmethod
    def host_port(spec: str | None, default_port: int) -> tuple[str, int] | None:
        if not spec:
            return None
        host, _, port = spec.rpartition(":")
        return (host or spec, int(port)) if host else (spec, default_port)


@dataclass
class Received:
    status: str  # "250 …" / "550 …": the SMTP reply for this mail
    conversation_id: int | None = None
    ignored: str | None = None


class EmailChannel:
    def __init__(self, config: EmailConfig, sessions: sessionmaker[Session] | None = None) -> None:
        self.config = config
        self.sessions: sessionmaker[Session] | None = sessions  # the app's, from start() unless given
        self.engine: Engine | None = None
        self.sender = EmailSender(self)
        self._controller = None

    # -- lifecycle (api.channels.ChannelMount) ------------------------------------------------------------
    def start(self, ctx: ChannelContext) -> None:
        self.engine = ctx.engine
        self.sessions = self.sessions or ctx.sessions
        if self.config.listen is None:
            return None
        from aiosmtpd.controller import Controller

        host, port = self.config.listen
        self._controller = Controller(
            _SMTPHandler(self),
            hostname=host,
            port=port,
            data_size_limit=self.config.max_bytes,
            server_hostname=self.config.domain,
        )
        self._controller.start()
        log.info("email: SMTP listener on %s:%s for %s", host, port, ", ".join(self.config.addresses) or "any")
        return None

    async def stop(self) -> None:
        if self._controller is not None:
            await asyncio.to_thread(self._controller.stop)
            self._controller = None

    # -- inbound ---------------------------------------------------------------------------------------------
    def mailbox_for(self, rcpt_tos: list[str]) -> str | None:
        for rcpt in rcpt_tos:
            if rcpt.lower() in self.config.addresses:
                return rcpt.lower()
        return None if self.config.addresses else self.config.default_address

    def receive(self, raw: bytes, rcpt_tos: list[str]) -> Received:
        """Store and answer one inbound mail. Runs in a worker thread (it encodes and writes)."""
        mailbox = self.mailbox_for(rcpt_tos)
        if mailbox is None:
            return Received("550 5.1.1 no such mailbox here")
        try:
            mail = parse_email(raw, set(self.config.addresses), max_attachment_bytes=self.config.max_bytes)
        except MalformedEmail as exc:
            return Received(f"550 5.6.0 {exc}")
        with self.sessions() as s:
            seen = s.scalar(
                select(EmailRecord).where(EmailRecord.peer == mail.from_addr, EmailRecord.message_id == mail.message_id)
            )
            if seen is not None and seen.direction in ("ignored", "out"):
                return Received("250 2.0.0 already received", seen.conversation_id, seen.reason)
            thread = self._thread(s, mail)
        if mail.auto_reason:
            self._record(mail, mailbox, "ignored", thread[2] if thread else None, None, mail.auto_reason)
            log.info("email: not answering %s from %s: %s", mail.message_id, mail.from_addr, mail.auto_reason)
            return Received("250 2.0.0 automatic mail recorded, not answered", ignored=mail.auto_reason)
        thread_ref = thread[0] if thread else mail.message_id
        incoming = self._incoming(mail, mailbox, thread_ref, new_thread=thread is None)
        assert self.engine is not None, "the email channel receives only after the app started"
        try:
            self.engine.validate(incoming)
        except InputError as exc:  # nothing of ours to store: the sender learns why at SMTP time
            return Received(f"550 5.6.0 {exc.user_text}")
        # Recorded before the message is stored: the bot's reply leaves from the outbox the moment the message
        # commits, and it threads (subject, In-Reply-To, References) from this record.
        self._record(mail, mailbox, "in", None, None, None)
        result = self.engine.handle(incoming)
        self._link(mail, result.conversation_id, result.user_message_id)
        # The bot's replies were queued with the message: they go out by mail through the outbox (retried).
        return Received("250 2.0.0 received", result.conversation_id)

    def _thread(self, s: Session, mail: InboundEmail) -> tuple[str, str, int] | None:
        """(thread_ref, user_ref, conversation id) of the conversation this mail continues, if any."""
        for mid in mail.thread_ids:
            # Only this sender's own thread: a Message-ID of someone else's mail (easy to copy) continues nothing.
            rec = s.scalar(select(EmailRecord).where(EmailRecord.peer == mail.from_addr, EmailRecord.message_id == mid))
            if rec is not None and rec.conversation_id is not None:
                conv = s.get(Conversation, rec.conversation_id)
                if conv is not None and conv.user_ref == mail.from_addr:
                    return conv.thread_ref, conv.user_ref, conv.id
        if mail.ticket_tag is not None:
            ticket = s.get(Ticket, mail.ticket_tag)
            # Only the requester continues a ticket by its tag: a tag is easy to guess.
            if ticket is not None and ticket.channel == CHANNEL and ticket.requester == mail.from_addr:
                conv = s.get(Conversation, ticket.conversation_id)
                return conv.thread_ref, conv.user_ref, conv.id
        return None

    def _incoming(self, mail: InboundEmail, mailbox: str, thread_ref: str, new_thread: bool) -> Incoming:
        text = mail.text
        if new_thread and mail.subject and mail.subject.lower() not in text.lower():
            text = f"{mail.subject}\n\n{text}".strip()  # a new mail's subject is often the whole question
        policy = AttachmentPolicy(self.config.max_attachment_bytes)
        attachments, refused = [], []
        for a in mail.attachments:
            refusal = policy.check(a.filename, a.data)
            if refusal is None:
                attachments.append(self._save(mail, a))
            else:  # the mail is still answered; the agent reads which file was turned away and why
                log.info("email %s: attachment refused: %s", mail.message_id, refusal.detail)
                refused.append(refusal)
        note = "\n".join(f"[attachment refused: {r.detail}]" for r in refused)
        room = self.config.max_chars - (len(note) + 2 if note else 0)
        if len(text) > room:
            # Long mails (signatures, pasted logs): the first part is the question, the whole text is kept.
            attachments.append(self._save_bytes(mail, "full-message.txt", "text/plain", text.encode()))
            text = text[: room - 1].rstrip() + "…"
        action = None
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        if not new_thread and len(text) < 60:
            action = "helped" if _HELPED.match(first_line) else "not_helped" if _NOT_HELPED.match(first_line) else None
        if new_thread and self.config.addresses.get(mailbox) == "ticket":
            action = "human"  # this address opens a ticket straight away
        if note and action not in ("helped", "not_helped"):
            text = f"{text}\n\n{note}".strip()
        return Incoming(
            channel=CHANNEL,
            user_ref=mail.from_addr,
            thread_ref=thread_ref,
            text="" if action in ("helped", "not_helped") else text,
            action=action,
            platform_msg_id=mail.message_id,
            user_name=mail.from_name or None,
            attachments=attachments,
            refused_attachments=[r.as_dict() for r in refused],
        )

    def _save(self, mail: InboundEmail, a) -> dict:
        return self._save_bytes(mail, a.filename, a.content_type, a.data)

    def _save_bytes(self, mail: InboundEmail, name: str, ctype: str, data: bytes) -> dict:
        """Attachments live under <data_dir>/attachments/email/ (never a served path), stored by content."""
        f = store(self.config.data_dir, CHANNEL, data)
        return {"kind": "document", "path": f.path, "name": name, "size": f.size, "type": ctype, "sha256": f.sha256}

    def _record(
        self,
        mail: InboundEmail,
        mailbox: str,
        direction: str,
        conversation_id: int | None,
        chat_message_id: int | None,
        reason: str | None,
    ) -> None:
        with self.sessions.begin() as s:
            if (
                s.scalar(
                    select(EmailRecord.id).where(
                        EmailRecord.peer == mail.from_addr, EmailRecord.message_id == mail.message_id
                    )
                )
                is not None
            ):
                return
            s.add(
                EmailRecord(
                    message_id=mail.message_id,
                    direction=direction,
                    conversation_id=conversation_id,
                    chat_message_id=chat_message_id,
                    mailbox=mailbox,
                    peer=mail.from_addr,
                    subject=mail.subject[:998],
                    refs=" ".join(mail.references + [mail.message_id])[-8000:],
                    reason=reason,
                )
            )

    def _link(self, mail: InboundEmail, conversation_id: int, chat_message_id: int | None) -> None:
        with self.sessions.begin() as s:
            rec = s.scalar(
                select(EmailRecord).where(EmailRecord.peer == mail.from_addr, EmailRecord.message_id == mail.message_id)
            )
            if rec is not None and rec.conversation_id is None:
                rec.conversation_id, rec.chat_message_id = conversation_id, chat_message_id

    # -- outbound --------------------------------------------------------------------------------------------
    def thread_for_reply(self, s: Session, conversation_id: int) -> tuple[str, str, str | None, list[str]]:
        """(our mailbox, subject, In-Reply-To, References) for a reply in this conversation's mail thread."""
        conv = s.get(Conversation, conversation_id)
        convs = select(Conversation.id).where(
            Conversation.channel == CHANNEL,
            Conversation.user_ref == conv.user_ref,
            Conversation.thread_ref == conv.thread_ref,
        )
        # The user's latest mail in the thread, found by its Message-ID (its record may not be linked to the
        # conversation yet when the reply goes out).
        last_mail = s.scalar(
            select(Message.platform_msg_id)
            .where(Message.conversation_id.in_(convs), Message.author == "user", Message.platform_msg_id.is_not(None))
            .order_by(Message.id.desc())
        )
        last_in = (
            s.scalar(
                select(EmailRecord).where(
                    EmailRecord.peer == conv.user_ref,
                    EmailRecord.direction == "in",
                    EmailRecord.message_id == last_mail,
                )
            )
            if last_mail
            else None
        )
        root = s.scalar(
            select(EmailRecord).where(EmailRecord.peer == conv.user_ref, EmailRecord.message_id == conv.thread_ref)
        )
        mailbox = (last_in or root).mailbox if (last_in or root) else self.config.default_address
        subject = (root or last_in).subject if (root or last_in) else ""
        refs = last_in.refs.split() if last_in else ([conv.thread_ref] if conv.thread_ref else [])
        return mailbox, subject, (last_in.message_id if last_in else None), refs


class _SMTPHandler:
    def __init__(self, channel: EmailChannel) -> None:
        self.channel = channel

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options) -> str:
        if self.channel.config.addresses and address.lower() not in self.channel.config.addresses:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        try:
            result = await asyncio.to_thread(
                self.channel.receive, envelope.original_content or envelope.content, list(envelope.rcpt_tos)
            )
        except Exception:
            log.exception("email: storing an inbound mail failed")
            return "451 4.3.0 temporary failure, please retry"  # the sending server keeps it and retries
        return result.status


class EmailSender:
    """Mails a message (bot answer, agent reply, status notice) to the employee, in their thread."""

    def __init__(self, channel: EmailChannel) -> None:
        self.channel = channel

    async def deliver(self, d: Delivery) -> Delivered | None:
        if d.audience != "user" or d.message is None or d.conversation is None:
            raise PermanentFailure(f"email has no {d.audience} side")
        cfg = self.channel.config
        if cfg.relay is None:
            raise PermanentFailure("no SMTP relay configured (FIRSTLINE_SMTP_RELAY)")
        # One Message-ID per outbox item: a resend after a crash is the same mail to the receiving side.
        message_id = f"<firstline.{d.item_id}.{d.message['id']}@{cfg.domain}>"
        # Database work off the event loop: a blocking SQLite BEGIN here would stall every request's cleanup
        # (which runs on the loop) while one of them holds the write lock — a deadlock until the busy timeout.
        mailbox, subject, in_reply_to, refs = await asyncio.to_thread(self._thread_for_reply, d.conversation["id"])
        text = d.message["text"]
        payload = d.message.get("payload") or {}
        automatic = d.message["author"] in ("bot", "system")
        if payload.get("kind") == "answer":
            text = f"{text}\n\n{_FOOTER.get(d.conversation.get('lang') or 'en', _FOOTER['en'])}"
        if d.message["author"] == "agent" and d.message.get("agent"):
            text = f"{text}\n\n— {d.message['agent']}, {cfg.from_name}"
        mail = compose_reply(
            message_id=message_id,
            from_addr=mailbox,
            from_name=cfg.from_name,
            to_addr=d.conversation["user_ref"],
            subject=subject,
            text=text,
            in_reply_to=in_reply_to,
            references=refs,
            ticket_number=(d.ticket or {}).get("number"),
            automatic=automatic,
        )
        host, port = cfg.relay
        try:
            await aiosmtplib.send(
                mail,
                hostname=host,
                port=port,
                username=cfg.username,
                password=cfg.password,
                use_tls=cfg.tls == "ssl",
                start_tls=True if cfg.tls == "starttls" else False,
                timeout=cfg.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure(f"the relay refused {d.conversation['user_ref']}: {exc}") from exc
        await asyncio.to_thread(self._record_sent, d, mail, message_id, mailbox, refs)
        return None

    def _thread_for_reply(self, conversation_id: int) -> tuple:
        with self.channel.sessions() as s:
            return self.channel.thread_for_reply(s, conversation_id)

    def _record_sent(self, d: Delivery, mail, message_id: str, mailbox: str, refs: list[str]) -> None:
        with self.channel.sessions.begin() as s:
            if (
                s.scalar(
                    select(EmailRecord.id).where(
                        EmailRecord.peer == d.conversation["user_ref"], EmailRecord.message_id == message_id
                    )
                )
                is None
            ):
                s.add(
                    EmailRecord(
                        message_id=message_id,
                        direction="out",
                        conversation_id=d.conversation["id"],
                        chat_message_id=d.message["id"],
                        mailbox=mailbox,
                        peer=d.conversation["user_ref"],
                        subject=str(mail["Subject"])[:998],
                        refs=" ".join(refs + [message_id])[-8000:],
                    )
                )
