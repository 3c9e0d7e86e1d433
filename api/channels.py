"""Chat platforms plugged into the app: each brings a sender for the outbox, optional HTTP routes
(webhooks), optional background work (long polling), and says whether it has an agents' side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable

from fastapi import APIRouter

from bot.context import ChannelContext
from bot.outbox import Sender

if TYPE_CHECKING:
    from bot.telegram import TelegramChannel
from core.settings import Settings


@dataclass
class ChannelMount:
    name: str  # the channel name stored on conversations/outbox items, e.g. "telegram"
    sender: Sender | None = None
    router: APIRouter | None = None
    has_agent_side: bool = False
    # Called once the app's engine/desk exist, with them (bot.context); may return a coroutine to run
    # in the background for the app's lifetime (e.g. long polling).
    start: Callable[[ChannelContext], Awaitable[None] | None] | None = None
    stop: Callable[[], Awaitable[None]] | None = None
    extra: dict = field(default_factory=dict)


def configured_channels(settings: Settings) -> list[ChannelMount]:
    """The channels whose settings are present. Each channel package adds itself here."""
    mounts: list[ChannelMount] = []
    if settings.telegram_bot_token is not None:
        from bot.telegram import TelegramChannel, TelegramConfig  # aiogram loads only when configured

        tg = TelegramChannel(TelegramConfig.from_settings(settings))
        mounts.append(
            ChannelMount(
                "telegram",
                tg.sender,
                tg.router,
                has_agent_side=tg.has_agent_side,
                start=_telegram_start(tg, settings),
                stop=tg.stop,
                extra={"telegram": tg},
            )
        )
    if settings.slack_bot_token and settings.slack_signing_secret:
        from bot.slack import SlackChannel

        slack = SlackChannel(
            bot_token=settings.slack_bot_token.get_secret_value(),
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            api_base=settings.slack_api_base,
            agents_channel=settings.slack_agents_channel,
            app_token=settings.slack_app_token.get_secret_value() if settings.slack_app_token else None,
        )
        mounts.append(
            ChannelMount(
                "slack",
                slack.sender,
                slack.router,
                has_agent_side=bool(settings.slack_agents_channel),
                start=slack.start,
                stop=slack.stop,
                extra={"slack": slack},
            )
        )
    if settings.smtp_listen or settings.smtp_relay:
        from bot.email import EmailChannel, EmailConfig

        addresses = EmailConfig.parse_addresses(settings.email_addresses)
        email = EmailChannel(
            EmailConfig(
                addresses=addresses,
                listen=EmailConfig.host_port(settings.smtp_listen, 25),
                relay=EmailConfig.host_port(settings.smtp_relay, 25),
                username=settings.smtp_username,
                password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
                tls=settings.smtp_tls,
                max_bytes=settings.email_max_bytes,
                max_chars=settings.max_message_chars,
                max_attachment_bytes=settings.max_attachment_bytes,
                data_dir=settings.data_dir,
                domain=(next(iter(addresses), "support@firstline.local").split("@", 1)[1]),
            )
        )
        mounts.append(
            ChannelMount("email", email.sender, None, start=email.start, stop=email.stop, extra={"email": email})
        )
    if settings.sms_webhook_secret is not None or settings.sms_api_url:
        from bot.sms import HttpSmsProvider, SmsInbound, SmsSender

        sender = (
            SmsSender(
                HttpSmsProvider(
                    settings.sms_api_url,
                    settings.sms_api_token.get_secret_value() if settings.sms_api_token else None,
                    settings.sms_from,
                )
            )
            if settings.sms_api_url
            else None
        )
        inbound = SmsInbound(settings.sms_webhook_secret.get_secret_value()) if settings.sms_webhook_secret else None
        mounts.append(
            ChannelMount(
                "sms",
                sender,
                inbound.router if inbound else None,
                start=inbound.start if inbound else None,
            )
        )
    return mounts


def _telegram_start(tg: TelegramChannel, settings: Settings) -> Callable[[ChannelContext], Awaitable[None] | None]:
    """Webhook mode: every process takes the updates the load balancer gives it. Long polling with Redis:
    only the holder of a lease polls (Telegram serves one getUpdates per bot); the others stand by and take
    over when it dies. Without Redis there is one process: it polls."""

    def start(ctx: ChannelContext) -> Awaitable[None] | None:
        relay = ctx.relay
        if tg.config.webhook_url or relay is None or relay.redis is None:
            return tg.start(ctx)
        from core.lease import RedisLease, run_while_holding

        lease = RedisLease(relay.redis, f"{relay.namespace}:telegram-poller", ttl=15.0)
        return run_while_holding(lease, lambda: tg.start(ctx), "telegram poller")

    return start
