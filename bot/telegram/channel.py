"""The Telegram channel: one aiogram Bot + Dispatcher over the conversation engine, run by long polling
or fed by a webhook route, plus the outbox sender for pushed messages.

The engine and the database are synchronous: every call goes through `asyncio.to_thread`, so the event
loop (polling, webhook requests, outbox delivery) never blocks on encoding or on a database lock.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections import OrderedDict
from typing import Any, Awaitable, Callable, TypeVar

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import ErrorEvent, InlineKeyboardMarkup, Message, ReplyParameters, Update
from fastapi import APIRouter, HTTPException, Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.attachments import AttachmentPolicy, inside_attachments, store
from bot.context import ChannelContext
from bot.engine import HandleResult, Incoming
from bot.telegram import render
from bot.telegram.common import (
    CHANNEL,
    MAX_INLINE_WAIT,
    AttachmentRefused,
    DownloadFailed,
    FileTooLarge,
    TelegramConfig,
    lang_of,
)
from bot.telegram.routers import agents_router, user_router
from bot.telegram.sender import TelegramSender
from bot.texts import t

log = logging.getLogger(__name__)
T = TypeVar("T")


class UpdateGate(BaseMiddleware):
    """Outer middleware on every update: an update id seen recently is skipped (webhook retries, polling
    redelivery within this process; across restarts the engine's platform-message dedupe takes over), and
    updates from one chat are handled one at a time, in order, while different chats run concurrently."""

    def __init__(self, remember: int = 10_000) -> None:
        self.remember = remember
        self.seen: OrderedDict[int, None] = OrderedDict()
        self.locks: dict[int, list] = {}  # chat id → [lock, users]

    @staticmethod
    def chat_key(update: Update) -> int | None:
        if update.message is not None:
            return update.message.chat.id
        cb = update.callback_query
        if cb is not None:
            return cb.message.chat.id if cb.message is not None else cb.from_user.id
        return None

    async def __call__(self, handler, update: Update, data: dict) -> Any:
        if update.update_id in self.seen:
            log.info("telegram update %s already handled: skipped", update.update_id)
            return None
        self.seen[update.update_id] = None
        while len(self.seen) > self.remember:
            self.seen.popitem(last=False)
        key = self.chat_key(update)
        entry = self.locks.setdefault(key, [asyncio.Lock(), 0]) if key is not None else None
        try:
            if entry is None:
                return await handler(update, data)
            entry[1] += 1
            try:
                async with entry[0]:
                    return await handler(update, data)
            finally:
                entry[1] -= 1
                if entry[1] == 0:
                    self.locks.pop(key, None)
        except BaseException:
            self.seen.pop(update.update_id, None)  # failed: a redelivery may try again
            raise


class TelegramChannel:
    name = CHANNEL

    def __init__(self, config: TelegramConfig) -> None:

        self.config = config
        session = AiohttpSession(api=TelegramAPIServer.from_base(config.api_base))
        self.bot = Bot(config.token, session=session)
        self.dp = Dispatcher(name="firstline-telegram")
        self.dp.update.outer_middleware(UpdateGate())
        self.dp.errors.register(self._on_error)
        self.dp.include_router(user_router(self))
        if config.agents_chat_id is not None:
            self.dp.include_router(agents_router(self))
        self.sender = TelegramSender(self)
        self.router = self._webhook_router() if config.webhook_url else None
        self.ctx: ChannelContext | None = None  # the app's engine, desk and database, from start()
        self._forum: bool | None = None

    @property
    def has_agent_side(self) -> bool:
        return self.config.agents_chat_id is not None

    # -- lifecycle (ChannelMount.start/stop) -------------------------------------------------------
    def start(self, ctx: ChannelContext) -> Awaitable[None]:
        self.ctx = ctx
        return self._set_webhook() if self.config.webhook_url else self._poll()

    async def stop(self) -> None:
        await self.bot.session.close()

    async def _poll(self) -> None:
        delay = 1.0
        while True:
            try:
                await self.bot.delete_webhook(drop_pending_updates=False)  # getUpdates is refused while one is set
                polling = asyncio.create_task(
                    self.dp.start_polling(
                        self.bot,
                        handle_signals=False,
                        close_bot_session=False,
                        polling_timeout=self.config.polling_timeout,
                    )
                )
                try:
                    await asyncio.shield(polling)
                except asyncio.CancelledError:
                    # App shutdown: stop aiogram's own way, so its getUpdates loop ends with it.
                    await self.dp.stop_polling()
                    await asyncio.gather(polling, return_exceptions=True)
                    raise
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Telegram unreachable or token refused: keep the app up, retry
                log.error(
                    "telegram polling could not start (%s: %s); retrying in %.0fs", type(exc).__name__, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def _set_webhook(self) -> None:
        delay = 1.0
        while True:
            try:
                await self.bot.set_webhook(
                    url=self.config.webhook_url,
                    secret_token=self.config.webhook_secret,
                    allowed_updates=self.dp.resolve_used_update_types(),
                    drop_pending_updates=False,
                )
                log.info("telegram webhook set to %s", self.config.webhook_url)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error(
                    "telegram setWebhook failed (%s: %s); retrying in %.0fs",
                    type(exc).__name__,
                    self.redact(str(exc)),
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 300.0)

    def _webhook_router(self) -> APIRouter:
        router = APIRouter(tags=["telegram"])
        secret = (self.config.webhook_secret or "").encode()

        @router.post(self.config.webhook_path, include_in_schema=False)
        async def telegram_webhook(request: Request) -> dict:
            got = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
            if not secret or not hmac.compare_digest(got, secret):
                raise HTTPException(401, "wrong or missing X-Telegram-Bot-Api-Secret-Token")
            if self.ctx is None:
                raise HTTPException(503, "the Telegram channel is starting")
            try:
                update = Update.model_validate(await request.json(), context={"bot": self.bot})
            except Exception as exc:
                raise HTTPException(422, f"not a Telegram update: {exc}") from exc
            try:
                await self.dp.feed_update(self.bot, update)
            except OperationalError:
                # The database is down or the transaction lost a deadlock: nothing was stored. Answer 503 so
                # Telegram redelivers the update (the update gate and message ids make it count once).
                raise
            except Exception:  # answered 200 anyway: Telegram would redeliver a poison update forever
                log.exception("telegram update %s failed", update.update_id)
            return {"ok": True}

        return router

    async def _on_error(self, event: ErrorEvent) -> bool:
        if isinstance(event.exception, OperationalError) and self.config.webhook_url:
            # A database outage in webhook mode: answer 503 so Telegram redelivers the update, instead of a
            # "sorry" to the user. (Polling has moved past the update: there the user is told, below.)
            raise event.exception
        log.error("telegram update %s failed: %s", event.update.update_id, event.exception, exc_info=event.exception)
        msg = event.update.message
        if msg is not None and msg.chat.type == "private":
            await self.say(msg.chat.id, t(lang_of(msg.from_user), "bot_error"))
        return True

    # -- the app's engine, desk and database (bot.context) -------------------------------------------
    @property
    def context(self) -> ChannelContext:
        if self.ctx is None:
            raise RuntimeError("the Telegram channel has not started")
        return self.ctx

    async def handle(self, incoming: Incoming) -> HandleResult:
        return await self.context.handle(incoming)

    async def write(self, fn: Callable[[Session], T]) -> T:
        return await self.context.write(fn)

    async def read(self, fn: Callable[[Session], T]) -> T:
        return await self.context.read(fn)

    # -- direct replies that are not stored (refusals, hints); stored messages go through the outbox sender --
    async def call(self, method: Callable[[], Awaitable[T]], attempts: int = 4) -> T | None:
        """Call the Bot API for a reply: wait out flood control, retry a network or server error a few times, and
        never crash on a user who blocked the bot (logged; None)."""
        for attempt in range(attempts):
            try:
                return await method()
            except TelegramRetryAfter as exc:
                if attempt == attempts - 1 or exc.retry_after > MAX_INLINE_WAIT:
                    log.warning("telegram flood control: giving up a reply (%s)", exc)
                    return None
                await asyncio.sleep(exc.retry_after)
            except (TelegramNetworkError, TelegramServerError) as exc:
                if attempt == attempts - 1:
                    log.warning(
                        "telegram: a reply could not be sent after %d attempts (%s)", attempts, self.redact(str(exc))
                    )
                    return None
                await asyncio.sleep(0.5 * 2**attempt)
            except TelegramForbiddenError as exc:
                log.info("telegram: cannot message this chat (%s)", exc)
                return None
        return None

    async def send_html(
        self,
        chat_id: int,
        chunks: list[str],
        markup: InlineKeyboardMarkup | None = None,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> list[Message]:
        sent: list[Message] = []
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            m = await self.call(
                lambda chunk=chunk, last=last: self.bot.send_message(
                    chat_id,
                    chunk,
                    parse_mode=render.PARSE_MODE,
                    message_thread_id=thread_id,
                    reply_markup=markup if last else None,
                    reply_parameters=ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
                    if reply_to
                    else None,
                )
            )
            if m is None:
                break
            sent.append(m)
        return sent

    async def say(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        header_html: str = "",
        markdown: bool = False,
        **where: Any,
    ) -> list[Message]:
        return await self.send_html(chat_id, render.compose(header_html, text, markdown=markdown), markup, **where)

    async def drop_keyboard(self, chat_id: int, message_id: int) -> None:
        try:
            await self.call(
                lambda: self.bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=None)
            )
        except TelegramBadRequest:  # too old, already edited: nothing to do
            pass

    # -- the agents' group ----------------------------------------------------------------------------
    async def agents_chat_is_forum(self) -> bool:
        if self._forum is None:
            chat = await self.bot.get_chat(self.config.agents_chat_id)
            self._forum = bool(chat.is_forum)
        return self._forum

    # -- files -------------------------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        """`text` without the bot token (Bot API URLs contain it: /bot<token>/..., /file/bot<token>/...)."""
        return text.replace(self.config.token, "<bot token>") if self.config.token else text

    async def download(self, file_id: str, chat_id: int, message_id: int, name: str, kind: str) -> dict:
        """Fetch a user's file through the Bot API (getFile + download from the API base) and store it by content
        under <data_dir>/attachments/telegram/ (bot/attachments.store); the path is relative to the data dir.
        Checked by bot/attachments.py (AttachmentRefused): documents by name before downloading and by
        content after; photos by size only (Telegram re-encodes every photo as a JPEG of its own)."""
        policy = AttachmentPolicy(self.config.max_file_bytes)
        refusal = policy.check_name(name) if kind != "photo" else None
        if refusal is not None:
            raise AttachmentRefused(refusal)
        file = await self.bot.get_file(file_id)
        if not file.file_path:
            raise FileTooLarge(file.file_size or 0)
        folder = inside_attachments(self.config.data_dir, self.config.data_dir / "attachments" / CHANNEL)
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f".download-{chat_id}-{message_id}-{secrets.token_hex(4)}.part"
        try:
            await self.bot.download_file(file.file_path, destination=part, timeout=120)
        except Exception as exc:
            # The download URL carries the bot token, and aiohttp's errors quote the URL: never let it reach a log.
            part.unlink(missing_ok=True)
            raise DownloadFailed(type(exc).__name__, self.redact(str(exc))) from None
        try:
            data = part.read_bytes()
            refusal = policy.check(name, data) if kind != "photo" else policy.check_size(name, len(data))
            if refusal is not None:
                raise AttachmentRefused(refusal)
            f = store(self.config.data_dir, CHANNEL, data)
        finally:
            part.unlink(missing_ok=True)
        return {"kind": kind, "path": f.path, "name": name, "size": f.size, "sha256": f.sha256}
