"""A lease in Redis (SET NX PX, renewed by its holder) so that work meant for one process at a time — the
Telegram long poller — runs in exactly one of several; when the holder dies (kill -9) the lease expires and a
standby takes over within `ttl`.

Redis rather than a DB row: no table or migration, expiry is Redis's own clock (no clock skew between
hosts), and without Redis there is one process by definition (no lease needed). If Redis becomes unreachable
the holder keeps working (Telegram itself serves one getUpdates at a time and the engine drops a redelivered
message by its platform id) and standbys wait; when Redis is back the lease is settled again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Awaitable, Callable

from redis import asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class RedisLease:
    def __init__(self, client: aioredis.Redis, key: str, ttl: float = 15.0) -> None:
        self.client, self.key, self.ttl = client, key, ttl
        self.holder = uuid.uuid4().hex

    async def try_acquire(self) -> bool:
        return bool(await self.client.set(self.key, self.holder, nx=True, px=int(self.ttl * 1000)))

    async def renew(self) -> bool:
        """Extend our lease; False if it is no longer ours (it expired and someone else took it)."""
        return bool(await self.client.eval(_RENEW, 1, self.key, self.holder, int(self.ttl * 1000)))

    async def release(self) -> None:
        await self.client.eval(_RELEASE, 1, self.key, self.holder)


def _cancel_was_swallowed() -> bool:
    """redis-py can absorb a CancelledError that lands mid-command (redis/redis-py#2028): a cancelled holder
    then renewed its lease for ever and no standby could take over. `Task.cancelling()` still counts the
    request, so each Redis call below is followed by this check."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def run_while_holding(lease: RedisLease, work: Callable[[], Awaitable[None]], name: str) -> None:
    """Stand by until the lease is ours, run `work` while renewing it every ttl/3; stop the work if the lease
    is lost, then stand by again. Cancelling this (app shutdown) stops the work and releases the lease."""
    step = lease.ttl / 3
    while True:
        try:
            got = await lease.try_acquire()
        except (RedisError, OSError):
            got = False
        if _cancel_was_swallowed():
            if got:
                await asyncio.shield(lease.release())
            raise asyncio.CancelledError
        if not got:
            await asyncio.sleep(step)
            continue
        log.info("%s: this process holds the lease", name)
        task = asyncio.ensure_future(work())
        unsure = False  # Redis unreachable while holding: warn once per outage
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=step)
                if done:
                    break
                try:
                    if not await lease.renew():
                        log.warning("%s: lease lost to another process; standing by", name)
                        break
                    unsure = False
                except (RedisError, OSError) as exc:
                    if not unsure:
                        log.warning("%s: cannot renew the lease (%s); carrying on", name, type(exc).__name__)
                    unsure = True
                if _cancel_was_swallowed():
                    raise asyncio.CancelledError
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            try:
                await asyncio.shield(lease.release())
            except (RedisError, OSError, asyncio.CancelledError):
                pass
        if task.done() and not task.cancelled():
            failure = task.exception()
            if failure is None:
                return  # the work ended by itself
            log.error("%s stopped (%s: %s); standing by", name, type(failure).__name__, failure)
        await asyncio.sleep(step)
