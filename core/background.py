"""Stopping background tasks at shutdown without hanging on one that ignores its cancel.

A task can miss a cancellation when a library swallows the CancelledError mid-call (redis-py does this on
some paths, redis/redis-py#2028); awaiting it with no bound would hang the server's shutdown. Each task gets
`timeout` seconds, then is named in a warning and left behind.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Iterable

log = logging.getLogger(__name__)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], timeout: float = 10.0) -> None:
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    if not pending:
        return
    _, stuck = await asyncio.wait(pending, timeout=timeout)
    for task in stuck:
        log.warning("background task %s did not stop within %.0f s of its cancel; leaving it", task.get_name(), timeout)
