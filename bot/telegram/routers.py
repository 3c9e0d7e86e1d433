"""aiogram Routers: users in private chats, and agents in the agents' group. Thin: a Telegram event
becomes an `Incoming` for the engine (or a Desk call), and the result becomes Telegram messages."""

from __future__ import annotations

import logging
import re
from typing import Callable

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message, User
from sqlalchemy.orm import Session

from bot.engine import Incoming, InputError
from bot.telegram import render
from bot.telegram.common import CHANNEL, AttachmentRefused, FileTooLarge, TelegramPort, lang_of
from bot.texts import t
from tickets import conversations, service
from tickets.agents import by_platform_user
from tickets.models import Agent, ConversationState, Ticket
from tickets.service import Conflict, Forbidden, NotFound, TicketError

log = logging.getLogger(__name__)
WITH_PEOPLE = (ConversationState.waiting_for_agent.value, ConversationState.with_agent.value)
FILE_KINDS = {"photo", "document", "video", "voice", "audio", "animation", "video_note", "sticker"}


def display_name(user: User) -> str:
    return f"{user.full_name} (@{user.username})" if user.username else user.full_name


def msg_id(chat_id: int, message_id: int) -> str:
    return f"tg:{chat_id}:{message_id}"


# -- users --------------------------------------------------------------------------------------------
def user_router(ch: TelegramPort) -> Router:
    r = Router(name="telegram-users")
    r.message.filter(F.chat.type == ChatType.PRIVATE)
    r.callback_query.filter(F.data.startswith("fb:"))

    async def converse(
        message: Message, text: str = "", action: str | None = None, attachments: list[dict] | None = None
    ) -> None:
        user = message.from_user
        incoming = Incoming(
            CHANNEL,
            str(user.id),
            text=text,
            action=action,
            platform_msg_id=msg_id(message.chat.id, message.message_id),
            locale=user.language_code,
            user_name=display_name(user),
            attachments=attachments or [],
        )
        try:
            await ch.handle(incoming)  # the bot's replies go out through the outbox (retried, never lost)
        except InputError as exc:
            await ch.say(message.chat.id, exc.user_text)

    @r.message(CommandStart())
    async def start(message: Message) -> None:
        await ch.say(message.chat.id, t(lang_of(message.from_user), "greeting"))

    @r.message(Command("help"))
    async def help_(message: Message) -> None:
        await ch.say(message.chat.id, t(lang_of(message.from_user), "tg_help"))

    @r.message(Command("human"))
    async def human(message: Message) -> None:
        await converse(message, action="human")

    @r.message(Command("ticket", "tickets"))
    async def tickets(message: Message) -> None:
        lang = lang_of(message.from_user)
        user_ref = str(message.from_user.id)

        def mine(s: Session) -> list[tuple[int, str, str, str | None]]:
            rows = service.open_tickets_of(s, CHANNEL, user_ref)
            return [
                (tk.id, tk.subject, tk.status, s.get(Agent, tk.assignee_id).name if tk.assignee_id else None)
                for tk in rows
            ]

        rows = await ch.read(mine)
        if not rows:
            await ch.say(message.chat.id, t(lang, "tg_no_open_tickets"))
            return
        lines = [t(lang, "tg_my_tickets")]
        for number, subject, status, agent in rows:
            label = t(lang, f"tg_status_{status}")
            lines.append(f"#{number} · {render.clip(subject, 80)} · {label}" + (f" ({agent})" if agent else ""))
        await ch.say(message.chat.id, "\n".join(lines))

    @r.message(Command("cancel"))
    async def cancel(message: Message) -> None:
        user_ref = str(message.from_user.id)

        def active(s: Session) -> tuple[str, str] | None:
            conv = conversations.active_conversation(s, CHANNEL, user_ref)
            return (conv.state, conv.lang) if conv is not None else None

        conv = await ch.read(active)
        if conv is None or conv[0] not in WITH_PEOPLE:
            await ch.say(message.chat.id, t(lang_of(message.from_user), "tg_cancel_nothing"))
            return
        # The request stays the agents' to close: they are told, in the ticket, that the user withdrew it.
        incoming = Incoming(
            CHANNEL,
            user_ref,
            text=t(conv[1], "tg_cancel_note"),
            platform_msg_id=msg_id(message.chat.id, message.message_id),
            locale=message.from_user.language_code,
            user_name=display_name(message.from_user),
        )
        result = await ch.handle(incoming)
        if not result.duplicate and result.ticket_number is not None:
            await ch.say(message.chat.id, t(result.lang, "tg_cancel_ticket", number=result.ticket_number))

    @r.message(Command("link"))
    async def link(message: Message) -> None:
        # The engine hands out a link code (or redeems one): one bridge for every channel (bot.engine, /link).
        await converse(message, text=message.text)

    @r.message(F.text.startswith("/"))
    async def unknown_command(message: Message) -> None:
        command = message.text.split()[0].split("@")[0]
        await ch.say(message.chat.id, t(lang_of(message.from_user), "unknown_command", command=command))

    @r.message(F.text)
    async def text(message: Message) -> None:
        await converse(message, text=message.text)

    @r.message(F.photo | F.document)
    async def attachment(message: Message) -> None:
        lang = lang_of(message.from_user)
        if message.photo:
            item, kind, name = message.photo[-1], "photo", f"photo_{message.message_id}.jpg"
        else:
            item, kind = message.document, "document"
            name = message.document.file_name or f"document_{message.message_id}"
        limit_mb = ch.config.max_file_bytes // (1024 * 1024)
        try:
            if item.file_size and item.file_size > ch.config.max_file_bytes:
                raise FileTooLarge(item.file_size)
            saved = await ch.download(item.file_id, message.chat.id, message.message_id, name, kind)
        except FileTooLarge as exc:
            size = round(exc.size / (1024 * 1024), 1)
            await ch.say(message.chat.id, t(lang, "tg_file_too_large", size=size, limit=limit_mb))
            return
        except AttachmentRefused as exc:  # the user learns which file and why (bot/attachments.py)
            log.info("telegram: refused a file from chat %s: %s", message.chat.id, exc.refusal.detail)
            await ch.say(message.chat.id, t(lang, f"file_refused_{exc.refusal.reason}", name=name, limit=limit_mb))
            return
        except Exception:
            log.exception("telegram: downloading %s from chat %s failed", kind, message.chat.id)
            await ch.say(message.chat.id, t(lang, "tg_file_failed"))
            return
        await converse(message, text=message.caption or "", attachments=[saved])

    @r.message(F.sticker)
    async def sticker(message: Message) -> None:
        await ch.say(message.chat.id, t(lang_of(message.from_user), "tg_sticker"))

    @r.message()
    async def unsupported(message: Message) -> None:
        await ch.say(message.chat.id, t(lang_of(message.from_user), "tg_unsupported"))

    @r.callback_query()
    async def feedback(cb: CallbackQuery) -> None:
        action = cb.data.split(":", 1)[1]
        chat_id = cb.message.chat.id if cb.message is not None else cb.from_user.id
        await ch.call(lambda: cb.answer())
        incoming = Incoming(
            CHANNEL,
            str(cb.from_user.id),
            action=action,
            platform_msg_id=f"tgcb:{cb.id}",
            locale=cb.from_user.language_code,
            user_name=display_name(cb.from_user),
        )
        try:
            result = await ch.handle(incoming)
        except InputError as exc:
            await ch.say(chat_id, exc.user_text)
            return
        if not result.duplicate and cb.message is not None:  # one answer per question: the buttons go
            await ch.drop_keyboard(chat_id, cb.message.message_id)

    return r


# -- agents ---------------------------------------------------------------------------------------------
_TICKET_TAG = re.compile(r"#(\d+)")


def ticket_of(s: Session, message: Message, bot_id: int) -> Ticket | None:
    """The ticket an agents'-group message belongs to: its forum topic, the notice it replies to, or
    (plain groups) any of the bot's ticket messages it replies to, which start with "#N"."""
    chat = str(message.chat.id)
    thread = str(message.message_thread_id) if message.is_topic_message and message.message_thread_id else ""
    replied = message.reply_to_message
    ticket = conversations.ticket_by_thread(s, CHANNEL, chat, thread, str(replied.message_id) if replied else "")
    if ticket is None and replied is not None and replied.from_user and replied.from_user.id == bot_id:
        found = _TICKET_TAG.search(replied.text or replied.caption or "")
        if found:
            th = conversations.ticket_thread(s, int(found.group(1)), CHANNEL)
            if th is not None and th.chat_ref == chat:
                ticket = s.get(Ticket, th.ticket_id)
    return ticket


def agents_router(ch: TelegramPort) -> Router:
    r = Router(name="telegram-agents")
    chat_id = ch.config.agents_chat_id
    r.message.filter(F.chat.id == chat_id, F.from_user.is_bot.is_(False))
    r.callback_query.filter(F.data.startswith("take:"), F.message.chat.id == chat_id)
    lang = ch.config.agents_lang

    async def answer_in_thread(message: Message, text: str) -> None:
        await ch.say(
            message.chat.id,
            text,
            thread_id=message.message_thread_id if message.is_topic_message else None,
            reply_to=message.message_id,
        )

    @r.callback_query()
    async def take(cb: CallbackQuery) -> None:
        number = int(cb.data.split(":", 1)[1])
        user_id = cb.from_user.id
        toast_lang = lang_of(cb.from_user)

        def claim(s: Session) -> tuple[str, str]:
            agent = by_platform_user(s, CHANNEL, str(user_id))
            if agent is None:
                return "not_linked", ""
            try:
                ch.context.desk.claim(s, number, agent)
                return "done", agent.name
            except Conflict:
                ticket = s.get(Ticket, number)
                if ticket.assignee_id is not None:
                    return "conflict", s.get(Agent, ticket.assignee_id).name
                return "closed", ticket.status
            except NotFound:
                return "closed", "deleted"
            except Forbidden as exc:  # above the agent's line, or a skill group they are not in
                return "forbidden", str(exc)

        outcome, detail = await ch.write(claim)
        text = {
            "not_linked": lambda: t(toast_lang, "tg_not_linked", user_id=user_id),
            "done": lambda: t(toast_lang, "tg_take_done", number=number),
            "conflict": lambda: t(toast_lang, "tg_take_conflict", number=number, agent=detail),
            "closed": lambda: t(toast_lang, "tg_take_closed", number=number, status=detail),
            "forbidden": lambda: detail,
        }[outcome]()
        await ch.call(lambda: cb.answer(text[:200], show_alert=outcome != "done"))

    async def act(message: Message, action: Callable[[Session, Agent, Ticket], object], *, quiet_outside: bool) -> None:
        user_id = message.from_user.id
        pid = msg_id(message.chat.id, message.message_id)

        def work(s: Session) -> str:
            ticket = ticket_of(s, message, ch.bot.id)
            if ticket is None:
                return "no_ticket"
            agent = by_platform_user(s, CHANNEL, str(user_id))
            if agent is None:
                return "not_linked"
            if conversations.message_by_platform_id(s, pid, f"agent:{agent.id}") is not None:
                return "duplicate"
            action(s, agent, ticket)
            return "ok"

        try:
            outcome = await ch.write(work)
        except TicketError as exc:
            await answer_in_thread(message, t(lang, "tg_not_sent", reason=str(exc)))
            return
        if outcome == "no_ticket" and not quiet_outside:
            await answer_in_thread(message, t(lang, "tg_thread_only"))
        elif outcome == "not_linked":
            await answer_in_thread(message, t(lang, "tg_not_linked", user_id=user_id))

    @r.message(Command("resolve"))
    async def resolve(message: Message, command: CommandObject) -> None:
        resolution = (command.args or "").strip()
        if not resolution:
            await answer_in_thread(message, t(lang, "tg_resolve_usage"))
            return
        await act(
            message, lambda s, agent, tk: ch.context.desk.resolve(s, tk.id, agent, resolution), quiet_outside=False
        )

    @r.message(Command("handback"))
    async def handback(message: Message, command: CommandObject) -> None:
        note = (command.args or "").strip()
        await act(message, lambda s, agent, tk: ch.context.desk.hand_back(s, tk.id, agent, note), quiet_outside=False)

    @r.message(Command("help"))
    async def agent_help(message: Message) -> None:
        await answer_in_thread(message, t(lang, "tg_agent_help"))

    @r.message(F.text.startswith("/"))
    async def other_command(message: Message) -> None:
        # Never relayed: a mistyped command is not meant for the user.
        if await ch.read(lambda s: ticket_of(s, message, ch.bot.id) is not None):
            await answer_in_thread(message, t(lang, "tg_agent_help"))

    @r.message(F.text | F.caption)
    async def relay(message: Message) -> None:
        text = message.text or message.caption
        pid = msg_id(message.chat.id, message.message_id)
        await act(
            message,
            lambda s, agent, tk: ch.context.desk.reply(s, tk.id, agent, text, source=CHANNEL, platform_msg_id=pid),
            quiet_outside=True,
        )

    @r.message(F.content_type.in_(FILE_KINDS))
    async def files(message: Message) -> None:
        if await ch.read(lambda s: ticket_of(s, message, ch.bot.id) is not None):
            await answer_in_thread(message, t(lang, "tg_not_sent", reason=t(lang, "tg_text_only")))

    return r
