"""Chat platforms plugged into the app: each brings a sender for the outbox, optional HTTP routes
(webhooks), optional background work (long polling), and says whether it has an agents' side."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable

from fastapi import APIRouter

from api.settings import Settings
from bot.outbox import Sender


@dataclass
class ChannelMount:
    name: str  # the channel name stored on conversations/outbox items, e.g. "telegram"
    sender: Sender | None = None
    router: APIRouter | None = None
    has_agent_side: bool = False
    # Called once the app's engine/desk exist (app.state is ready); may return a coroutine to run
    # in the background for the app's lifetime (e.g. long polling).
    start: Callable[[object], Awaitable[None] | None] | None = None
    stop: Callable[[], Awaitable[None]] | None = None
    extra: dict = field(default_factory=dict)


def configured_channels(settings: Settings) -> list[ChannelMount]:
    """The channels whose settings are present. Each channel package adds itself here."""
    mounts: list[ChannelMount] = []
    return mounts
