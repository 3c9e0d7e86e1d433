"""SMS channel, provider-neutral: a signed inbound webhook and an outbound sender interface with one HTTP
implementation.

Inbound: POST /api/v1/sms/inbound, JSON or form, fields `from`, `to`, `text` (or `body`), `id` (provider's
message id; a redelivery is processed once). The raw body must be signed: header
`X-Firstline-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`. Providers that cannot sign put a relay
in front (every major one can). Outbound: `SmsProvider.send(to, text, client_ref)`; `HttpSmsProvider` POSTs
JSON {"to", "from", "text", "client_ref"} with a Bearer token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from bot.context import ChannelContext
from bot.engine import Incoming, InputError
from bot.language import detect_language
from bot.outbox import Delivered, Delivery, PermanentFailure, RetryAfter

log = logging.getLogger(__name__)
CHANNEL = "sms"
MAX_SMS_CHARS = 1000  # long answers are cut (with the article link kept by the engine's text) — SMS is short
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{4,30}$")


class SmsProvider(Protocol):
    async def send(self, to: str, text: str, client_ref: str) -> None: ...


class HttpSmsProvider:
    def __init__(self, url: str, token: str | None, sender_id: str | None, timeout: float = 15.0) -> None:
        self.url, self.token, self.sender_id, self.timeout = url, token, sender_id, timeout

    async def send(self, to: str, text: str, client_ref: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            r = await client.post(
                self.url,
                json={"to": to, "from": self.sender_id, "text": text, "client_ref": client_ref},
                headers=headers,
            )
        if r.status_code == 429:
            raise RetryAfter(float(r.headers.get("Retry-After", "5") or 5), "SMS provider rate limit")
        if 400 <= r.status_code < 500 and r.status_code != 408:
            raise PermanentFailure(f"SMS provider refused the message: HTTP {r.status_code} {r.text[:200]}")
        r.raise_for_status()  # 5xx / 408: the dispatcher retries with backoff


@dataclass
class SmsSender:
    provider: SmsProvider

    async def deliver(self, d: Delivery) -> Delivered | None:
        if d.audience != "user" or d.message is None or d.conversation is None:
            raise PermanentFailure(f"SMS has no {d.audience} side")
        text = d.message["text"]
        if len(text) > MAX_SMS_CHARS:
            text = text[: MAX_SMS_CHARS - 1].rstrip() + "…"
        # client_ref is stable per outbox item, so a provider that deduplicates drops our retries.
        await self.provider.send(d.conversation["user_ref"], text, client_ref=f"firstline-{d.item_id}")
        return None


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _fields(request: Request, raw: bytes) -> dict:
    ctype = request.headers.get("content-type", "")
    try:
        if ctype.startswith("application/json"):
            data = json.loads(raw or b"{}")
            if not isinstance(data, dict):
                raise ValueError("a JSON object is expected")
        else:
            data = {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(422, f"unreadable SMS webhook body: {exc}") from exc
    low = {str(k).lower(): v for k, v in data.items()}
    return {
        "from": str(low.get("from") or "").strip(),
        "to": str(low.get("to") or "").strip(),
        "text": str(low.get("text") or low.get("body") or ""),
        "id": str(low.get("id") or low.get("messagesid") or low.get("message_id") or "").strip(),
    }


class SmsInbound:
    """The signed inbound webhook. Its route exists from the start; the app's engine arrives with `start(ctx)`
    (api.channels), until then the provider is told to come back (503)."""

    def __init__(self, secret: str) -> None:
        self.ctx: ChannelContext | None = None
        self.router = _inbound_router(secret, self)

    def start(self, ctx: ChannelContext) -> None:
        self.ctx = ctx


def _inbound_router(secret: str, channel: SmsInbound) -> APIRouter:
    router = APIRouter(tags=["sms"])

    @router.post(
        "/api/v1/sms/inbound",
        summary="Inbound SMS webhook (signed)",
        responses={
            429: {
                "description": "Too many messages from this sender this minute: nothing was "
                "stored; redeliver after Retry-After seconds"
            }
        },
    )
    async def inbound(request: Request) -> dict:
        raw = await request.body()
        given = request.headers.get("x-firstline-signature", "")
        if not hmac.compare_digest(given, signature(secret, raw)):
            raise HTTPException(401, "bad or missing X-Firstline-Signature")
        f = _fields(request, raw)
        if not _PHONE.match(f["from"]):
            raise HTTPException(422, "`from` must be a phone number")
        if not f["id"]:
            raise HTTPException(422, "`id` (the provider's message id) is required")
        ctx = channel.ctx
        if ctx is None:
            raise HTTPException(503, "the SMS channel is starting")
        msg = Incoming(
            channel=CHANNEL, user_ref=re.sub(r"[ ()-]", "", f["from"]), text=f["text"], platform_msg_id=f["id"]
        )
        # Per sender, before anything is stored: the provider redelivers after Retry-After (same id, so once).
        if ctx.rate_limiter is not None:
            await run_in_threadpool(ctx.rate_limiter.check, f"{CHANNEL}:{msg.user_ref}", detect_language(msg.text))
        try:
            result = await ctx.handle(msg)
        except InputError as exc:
            raise HTTPException(422, exc.user_text) from exc
        return {
            "status": "ok",
            "duplicate": result.duplicate,
            "conversation": result.conversation_id,
            "ticket": result.ticket_number,
        }

    return router
