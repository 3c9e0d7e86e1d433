"""Outbox deliveries to a configured HTTP endpoint (FIRSTLINE_DEV_WEBHOOK_URL): e.g. a request to an
application's developers (event `dev_request`), POSTed as JSON.

The body is signed when a secret is set: `X-Firstline-Signature: sha256=<hex HMAC-SHA256(secret, body)>`
(the receiver recomputes it over the raw body). `X-Firstline-Delivery` is the outbox item's id, the same on
every retry, so a receiver can drop duplicates. 2xx = delivered; 408, 429 and 5xx, timeouts and connection
errors are retried with the dispatcher's backoff (429's Retry-After honoured); any other 4xx is a
`PermanentFailure` (the receiver refuses this request; retrying cannot help).
"""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from bot.outbox import Delivery, PermanentFailure, RetryAfter

SIGNATURE_HEADER = "X-Firstline-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookFailed(Exception):
    """A transient failure (5xx, 408, 429 without Retry-After): the dispatcher tries again later."""


class WebhookSender:
    def __init__(
        self, url: str, secret: str | None = None, *, timeout: float = 10.0, client: httpx.AsyncClient | None = None
    ) -> None:
        self.url = url
        self._secret = secret or None
        self.client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def deliver(self, d: Delivery) -> None:
        body = json.dumps(
            {"event": d.event, **d.payload}, ensure_ascii=False, separators=(",", ":"), default=str
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Firstline-Webhook/1",
            "X-Firstline-Event": d.event,
            "X-Firstline-Delivery": str(d.item_id),
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        # Transport errors and timeouts propagate as they are: the dispatcher records them and retries.
        # (Neither the URL's query nor the secret goes into an error message: both may be credentials.)
        resp = await self.client.post(self.url, content=body, headers=headers)
        status = resp.status_code
        if 200 <= status < 300:
            return None
        if status == 429:
            try:
                wait = max(float(resp.headers.get("retry-after", "")), 1.0)
            except ValueError:
                raise WebhookFailed("webhook: HTTP 429") from None
            raise RetryAfter(wait, "webhook: HTTP 429")
        if status == 408 or status >= 500:
            raise WebhookFailed(f"webhook: HTTP {status}")
        raise PermanentFailure(f"webhook: HTTP {status} {resp.text[:200]!r}")

    async def aclose(self) -> None:
        await self.client.aclose()
