"""The outbox sender: messages pushed to Telegram users (agent replies, ticket notifications), ticket
events for the agents' group (notice with Take, transcript, relayed messages, resolution), and staff
notices (escalations, SLA warnings, digests) as direct messages to an agent's linked Telegram account.

Failures map onto the outbox's contract: a user who blocked the bot (403) or a chat that is gone is a
`PermanentFailure` (recorded, never retried, nothing else blocked); flood control (429) is `RetryAfter`
with Telegram's `retry_after`. Once part of a delivery is out, a short flood wait is waited out in place
so a retry does not post the first part twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, TypeVar

from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import FSInputFile, InlineKeyboardMarkup, ReplyParameters

from bot.outbox import Delivered, Delivery, PermanentFailure, RetryAfter
from bot.telegram import render
from bot.telegram.common import CHANNEL, MAX_INLINE_WAIT, TelegramPort
from bot.texts import t

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Calls:
    """Bot API calls of one delivery, with the outbox's failure semantics."""

    def __init__(self) -> None:
        self.done = 0

    async def __call__(self, method: Callable[[], Awaitable[T]]) -> T:
        while True:
            try:
                result = await method()
                self.done += 1
                return result
            except TelegramRetryAfter as exc:
                if self.done == 0 or exc.retry_after > MAX_INLINE_WAIT:
                    raise RetryAfter(exc.retry_after, str(exc)) from exc
                await asyncio.sleep(exc.retry_after)
            except (TelegramForbiddenError, TelegramNotFound, TelegramMigrateToChat) as exc:
                raise PermanentFailure(str(exc)) from exc
            except TelegramBadRequest as exc:  # chat not found, bad thread, ...: retrying cannot help
                raise PermanentFailure(str(exc)) from exc


class TelegramSender:
    def __init__(self, channel: TelegramPort) -> None:
        self.ch = channel

    @property
    def bot(self):
        return self.ch.bot

    async def deliver(self, d: Delivery) -> Delivered | None:
        calls = _Calls()
        if d.audience == "user":
            await self._to_user(d, calls)
            return None
        if d.audience == "staff":
            await self._to_staff(d, calls)
            return None
        if self.ch.config.agents_chat_id is None:
            return None  # queued while an agents' group was configured; nowhere to post now
        return await self._to_agents(d, calls)

    async def _send(
        self,
        calls: _Calls,
        chat_id: int,
        chunks: list[str],
        markup: InlineKeyboardMarkup | None = None,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> list:
        sent = []
        for i, chunk in enumerate(chunks):
            markup_here = markup if i == len(chunks) - 1 else None
            sent.append(
                await calls(
                    lambda chunk=chunk, markup_here=markup_here: self.bot.send_message(
                        chat_id,
                        chunk,
                        parse_mode=render.PARSE_MODE,
                        message_thread_id=thread_id,
                        reply_markup=markup_here,
                        reply_parameters=ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
                        if reply_to
                        else None,
                    )
                )
            )
        return sent

    # -- to the user ------------------------------------------------------------------------------------
    async def _to_user(self, d: Delivery, calls: _Calls) -> None:
        if not d.message or not d.conversation:
            return
        chat_id = int(d.conversation["user_ref"])  # a private chat's id is the user's id
        header, markup, markdown = "", None, False
        payload = d.message.get("payload") or {}
        if d.message["author"] == "agent":
            header = f"🧑‍💼 <b>{render.esc(d.message.get('agent') or 'agent')}</b>:\n"
        elif d.message["author"] == "bot":  # the bot's answer to a user's message, with its feedback buttons
            markup = render.feedback_keyboard(
                d.conversation.get("lang") or "en", list(payload.get("actions") or []), payload.get("choices")
            )
            markdown = payload.get("kind") == "answer"
        await self._send(calls, chat_id, render.compose(header, d.message["text"], markdown=markdown), markup)

    # -- to one staff member ----------------------------------------------------------------------------
    async def _to_staff(self, d: Delivery, calls: _Calls) -> None:
        """A direct message to the agent's own Telegram account (they must have started the bot once)."""
        user_id = (d.agent or {}).get("telegram_user_id")
        if not user_id:
            raise PermanentFailure("the agent has no linked Telegram account any more")
        text = str(d.payload.get("text") or "")
        if text.strip():
            await self._send(calls, int(user_id), render.compose("", text))

    # -- to the agents' group ----------------------------------------------------------------------------
    async def _to_agents(self, d: Delivery, calls: _Calls) -> Delivered | None:
        if not d.ticket:
            return None
        lang = self.ch.config.agents_lang
        number = d.ticket["number"]
        payload = (d.message or {}).get("payload") or {}
        if d.event == "agent_message" and payload.get("source") == CHANNEL:
            return None  # written in the agents' group: everyone there has seen it
        opened: Delivered | None = None
        thread = d.thread
        if d.event == "ticket_opened" or thread is None:
            opened = await self._open_thread(d, calls)
            thread = opened.thread
            if d.event == "ticket_opened":
                return opened
        where = self._where(thread)
        if d.event == "ticket_claimed":
            await self._claimed(d, calls, thread, where)
        elif d.event == "user_message" and d.message:
            await self._relay_user(d, calls, where)
        elif d.event == "agent_message" and d.message:
            who = t(lang, "tg_to_user", agent=d.message.get("agent") or "agent")
            await self._send(
                calls,
                self.chat,
                render.compose(f"🧑‍💼 #{number} · <b>{render.esc(who)}</b>: ", d.message["text"]),
                **where,
            )
        elif d.event == "ticket_resolved":
            text = t(
                lang,
                "tg_resolved",
                number=number,
                agent=d.ticket.get("assignee") or "?",
                resolution=d.ticket.get("resolution") or "",
            )
            await self._send(calls, self.chat, render.compose("✅ ", text), **where)
        elif d.event == "ticket_handed_back":
            text = t(lang, "tg_handed_back", number=number, agent=d.ticket.get("assignee") or "?")
            await self._send(calls, self.chat, render.compose("↩️ ", text), **where)
        else:
            log.info("telegram: no rendering for agents' event %s", d.event)
        return opened

    @property
    def chat(self) -> int:
        return self.ch.config.agents_chat_id

    @staticmethod
    def _where(thread: dict) -> dict[str, Any]:
        if thread.get("thread_ref"):
            return {"thread_id": int(thread["thread_ref"])}
        if thread.get("root_ref"):
            return {"reply_to": int(thread["root_ref"])}
        return {}

    async def _open_thread(self, d: Delivery, calls: _Calls) -> Delivered:
        """A forum topic for the ticket (forum groups), and the notice with the Take button in it."""
        lang = self.ch.config.agents_lang
        ticket = d.ticket
        topic_id: int | None = None
        if await calls(self.ch.agents_chat_is_forum):
            try:
                topic = await calls(lambda: self.bot.create_forum_topic(self.chat, render.topic_name(ticket)))
                topic_id = topic.message_thread_id
            except PermanentFailure as exc:  # e.g. the bot may not manage topics: post in the group instead
                log.warning("telegram: no topic for #%s (%s); the notice goes to the group", ticket["number"], exc)
        text = render.notice(lang, ticket, d.conversation, taken_by=ticket.get("assignee"))
        markup = None if ticket.get("assignee") else render.take_keyboard(lang, ticket["number"])
        sent = await self._send(calls, self.chat, [text], markup, thread_id=topic_id)
        return Delivered(
            thread={"chat_ref": str(self.chat), "thread_ref": str(topic_id or ""), "root_ref": str(sent[-1].message_id)}
        )

    async def _claimed(self, d: Delivery, calls: _Calls, thread: dict, where: dict) -> None:
        lang = self.ch.config.agents_lang
        agent = d.ticket.get("assignee") or "?"
        if thread.get("root_ref"):  # the notice loses its Take button and says who took it
            text = render.notice(lang, d.ticket, d.conversation, taken_by=agent)
            try:
                await calls(
                    lambda: self.bot.edit_message_text(
                        text,
                        chat_id=self.chat,
                        message_id=int(thread["root_ref"]),
                        parse_mode=render.PARSE_MODE,
                        reply_markup=None,
                    )
                )
            except PermanentFailure as exc:  # deleted or too old to edit: the transcript still goes out
                log.info("telegram: could not edit the notice of #%s: %s", d.ticket["number"], exc)
        user = render.requester_label(d.conversation, d.ticket)
        lines = [f"📜 <b>{render.esc(t(lang, 'tg_transcript', number=d.ticket['number'], agent=agent))}</b>"]
        for m in d.transcript:
            lines.extend(render.message_lines(m, user, lang=lang))
        await self._send(calls, self.chat, render.pack(lines), **where)

    async def _relay_user(self, d: Delivery, calls: _Calls, where: dict) -> None:
        user = render.requester_label(d.conversation, d.ticket)
        lines = render.message_lines(d.message, user, d.ticket["number"], self.ch.config.agents_lang)
        await self._send(calls, self.chat, lines, **where)
        for a in (d.message.get("payload") or {}).get("attachments") or []:
            path = self.ch.config.data_dir / a.get("path", "")
            if not a.get("path") or not path.is_file():
                continue
            caption = render.esc(
                render.clip(f"#{d.ticket['number']} · {a.get('name') or path.name}", render.CAPTION_LIMIT)
            )
            await calls(
                lambda path=path, a=a, caption=caption: self.bot.send_document(
                    self.chat,
                    FSInputFile(path, filename=a.get("name") or path.name),
                    caption=caption,
                    parse_mode=render.PARSE_MODE,
                    message_thread_id=where.get("thread_id"),
                    reply_parameters=ReplyParameters(message_id=where["reply_to"], allow_sending_without_reply=True)
                    if where.get("reply_to")
                    else None,
                )
            )
