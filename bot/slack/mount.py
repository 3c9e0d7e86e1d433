"""The Slack channel as the app plugs it in: a Bolt AsyncApp behind /slack/events, /slack/actions and
/slack/commands (HTTP mode; Bolt verifies every request's signature and timestamp), or Socket Mode when an
app-level token is given; plus the outbox sender for pushed messages."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.context import ChannelContext
from bot.slack.listeners import SlackBot
from bot.slack.sender import SlackSender

log = logging.getLogger(__name__)
PATHS = ("/slack/events", "/slack/actions", "/slack/commands")


class SlackChannel:
    def __init__(
        self,
        *,
        bot_token: str,
        signing_secret: str,
        api_base: str = "https://slack.com/api/",
        agents_channel: str | None = None,
        app_token: str | None = None,
    ) -> None:
        if not signing_secret:
            raise ValueError("SLACK_SIGNING_SECRET is required: every request from Slack is verified with it")
        base_url = api_base if api_base.endswith("/") else api_base + "/"
        self.app_token = app_token
        # Listeners answer users directly: a rate-limited call is retried here (Retry-After honoured).
        self.client = AsyncWebClient(
            token=bot_token,
            base_url=base_url,
            retry_handlers=[AsyncConnectionErrorRetryHandler(), AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
        )
        # The outbox sender gets rate limits as RetryAfter instead, so the dispatcher never sleeps on one.
        self.sender = SlackSender(AsyncWebClient(token=bot_token, base_url=base_url), agents_channel)
        self.bolt = AsyncApp(
            client=self.client,
            signing_secret=signing_secret,
            process_before_response=False,
            request_verification_enabled=True,
            ignoring_self_events_enabled=True,
        )
        self.bot = SlackBot(self.bolt)
        self.handler = AsyncSlackRequestHandler(self.bolt)
        self.socket_handler: Any = None
        self.router = APIRouter(tags=["slack"])
        for path in PATHS:
            self.router.add_api_route(path, self._endpoint, methods=["POST"], include_in_schema=False)

    async def _endpoint(self, request: Request):
        # Everything goes through Bolt's dispatch, whose first middleware checks X-Slack-Signature and
        # X-Slack-Request-Timestamp (5 minutes) and answers 401 before any listener runs.
        return await self.handler.handle(request)

    def start(self, ctx: ChannelContext):
        """Bind to the app's engine/desk; returns the background work (token check, Socket Mode)."""
        self.bot.bind(ctx)
        if self.app_token:
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            self.socket_handler = AsyncSocketModeHandler(self.bolt, self.app_token)
        return self._run()

    async def _run(self) -> None:
        try:
            who = await self.client.auth_test()
            log.info("slack: connected as %s (%s) in %s", who.get("user"), who.get("user_id"), who.get("team"))
        except SlackApiError as exc:
            log.error(
                "slack: the bot token was refused (%s); Slack messages will fail until it is fixed",
                exc.response.get("error"),
            )
        except Exception as exc:  # network: Bolt checks the token again on the first request
            log.warning("slack: could not check the bot token: %s", exc)
        if self.socket_handler is not None:
            try:
                await self.socket_handler.start_async()
            except Exception:
                log.exception("slack: Socket Mode connection failed")
                raise

    async def stop(self) -> None:
        if self.socket_handler is not None:
            try:
                await self.socket_handler.close_async()
            except Exception:
                log.exception("slack: closing Socket Mode failed")
