"""What the Telegram adapter's parts share — the channel name, limits, errors of a download and the user's
language — so that `channel` (the adapter), `routers` (aiogram handlers) and `sender` (outbox delivery) import it
from here instead of from each other."""

from __future__ import annotations

from typing import Any

from bot.attachments import Refusal
from bot.language import locale_language

CHANNEL = "telegram"
MAX_INLINE_WAIT = 30.0  # longer flood waits are left to the outbox's rescheduling


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
