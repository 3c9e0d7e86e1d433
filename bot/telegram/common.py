"""What the Telegram adapter's parts share — the channel name, limits, errors of a download and the user's
language — so that `channel` (the adapter), `routers` (aiogram handlers) and `sender` (outbox delivery) import it
from here instead of from each other."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlparse

from aiogram import Bot
from aiogram.types import InlineKeyboardMarkup, Message
from sqlalchemy.orm import Session

from bot.attachments import Refusal
from bot.context import ChannelContext
from bot.engine import HandleResult, Incoming
from bot.language import locale_language

CHANNEL = "telegram"
MAX_INLINE_WAIT = 30.0  # longer flood waits are left to the outbox's rescheduling
DEFAULT_WEBHOOK_PATH = "/api/v1/telegram/webhook"
T = TypeVar("T")


@dataclass
class TelegramConfig:
    token: str
    api_base: str = "https://api.telegram.org"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    agents_chat_id: int | None = None
    data_dir: Path = Path("./var")
    polling_timeout: int = 25
    agents_lang: str = "en"  # the agents' group's posts; toasts follow each agent's Telegram language
    max_file_bytes: int = 20 * 1024 * 1024  # what the Bot API lets a bot download

    def __post_init__(self) -> None:
        # Telegram would refuse these at setWebhook; say so at start, not in a retry loop.
        if self.webhook_url and not self.webhook_url.startswith("https://"):
            raise ValueError("TELEGRAM_WEBHOOK_URL must be an https:// URL (Telegram only calls HTTPS webhooks)")
        if self.webhook_secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", self.webhook_secret):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET may only contain A-Z, a-z, 0-9, _ and - (1-256 characters)")

    @classmethod
    def from_settings(cls, settings: Any) -> "TelegramConfig":
        secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else None
        if settings.telegram_webhook_url and not secret:
            # We register the webhook ourselves, so a secret can be derived when none is configured.
            secret = hmac.new(settings.secret.encode(), b"telegram-webhook", hashlib.sha256).hexdigest()
        return cls(
            token=settings.telegram_bot_token.get_secret_value(),
            api_base=settings.telegram_api_base,
            max_file_bytes=min(settings.max_attachment_bytes, cls.max_file_bytes),
            webhook_url=settings.telegram_webhook_url or None,
            webhook_secret=secret,
            agents_chat_id=settings.telegram_agents_chat_id,
            data_dir=Path(settings.data_dir),
        )

    @property
    def webhook_path(self) -> str:
        path = urlparse(self.webhook_url or "").path.rstrip("/")
        return path or DEFAULT_WEBHOOK_PATH


class TelegramPort(Protocol):
    """What the routers and the sender use of the adapter (`channel.TelegramChannel`), so they need not import it."""

    bot: Bot
    config: TelegramConfig

    @property
    def context(self) -> ChannelContext: ...

    async def handle(self, incoming: Incoming) -> HandleResult: ...

    async def read(self, fn: Callable[[Session], T]) -> T: ...

    async def write(self, fn: Callable[[Session], T]) -> T: ...

    async def call(self, method: Callable[[], Awaitable[T]], attempts: int = 4) -> T | None: ...

    async def say(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        header_html: str = "",
        markdown: bool = False,
        **where: Any,
    ) -> list[Message]: ...

    async def drop_keyboard(self, chat_id: int, message_id: int) -> None: ...

    async def download(self, file_id: str, chat_id: int, message_id: int, name: str, kind: str) -> dict: ...

    async def agents_chat_is_forum(self) -> bool: ...


class DownloadFailed(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")


class AttachmentRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal


class FileTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"file of {size} bytes is over the Bot API download limit")
        self.size = size


def lang_of(user: Any) -> str:
    return locale_language(getattr(user, "language_code", None)) or "en"
