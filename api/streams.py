"""Live streams (server-sent events) for the web chat and the console, with sse-starlette: a keep-alive ping every
15 s (proxies and load balancers drop idle connections), `X-Accel-Buffering: no` (nginx would hold events back), and
the stream ends when the server shuts down, so a restart finishes in seconds instead of waiting for every browser.
A client that goes away ends its stream too (sse-starlette listens for the disconnect)."""

from __future__ import annotations

from typing import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent

PING_SECONDS = 15


def live_stream(events: AsyncIterator[ServerSentEvent]) -> EventSourceResponse:
    return EventSourceResponse(
        events, ping=PING_SECONDS, sep="\n", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
