"""When a sender may send: a request slot free, a batch waiting, a grant from the shared limiter.

Deliveries wait here with their request already built. One loop per workspace asks the limiter for
a grant only once a slot is free and a delivery is waiting, and hands the grant to the first one in
line, which sends at once. So a slot is held for the round trip alone (not for the wait for a
grant), grants are never taken ahead for requests that are not ready, and a process has at most
one grant pending per workspace: when it stalls, nothing piles up to fire all at once afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from redis.exceptions import RedisError

from pipeline.limiter import Grant, RedisRateLimiter

__all__ = ["Admission"]

log = logging.getLogger("pipeline.admission")


class Admission:
    def __init__(self, limiter: RedisRateLimiter, slots: int) -> None:
        self._limiter = limiter
        self._free = slots
        self._waiting: dict[str, deque[asyncio.Future[Grant]]] = {}
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._releases: set[asyncio.Task[None]] = set()

    async def turn(self, workspace: str) -> Grant:
        """Wait until this delivery may send; raises RedisError when the limiter is unreachable."""
        future: asyncio.Future[Grant] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(workspace, deque()).append(future)
        if workspace not in self._loops:
            self._changed[workspace] = asyncio.Event()
            self._loops[workspace] = asyncio.ensure_future(self._admit(workspace))
        self._changed[workspace].set()
        return await future

    def done(self, grant: Grant) -> None:
        """The grant's request was answered or failed: free its slot, tell the limiter when."""
        self._free += 1
        for changed in self._changed.values():
            changed.set()
        task = asyncio.ensure_future(self._release(grant))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, grant: Grant) -> None:
        try:
            await self._limiter.release(grant)
        except RedisError as exc:
            # Safe: the logged bound stays at "in flight", which only holds later grants back longer.
            log.warning("rate limiter unavailable (%s); the answered request still counts as in flight", exc)

    async def _admit(self, workspace: str) -> None:
        waiting = self._waiting[workspace]
        changed = self._changed[workspace]
        while True:
            while waiting and waiting[0].done():  # given up (shutdown)
                waiting.popleft()
            if not waiting or self._free <= 0:
                changed.clear()
                await changed.wait()
                continue
            self._free -= 1
            try:
                grant = await self._limiter.acquire(workspace)
            except Exception as exc:  # noqa: BLE001 - handed to the delivery, which holds its batch
                self._free += 1
                if not isinstance(exc, RedisError):
                    log.exception("rate limiter failed")
                    exc = RedisError(f"rate limiter failed: {exc!r}")
                while waiting and waiting[0].done():
                    waiting.popleft()
                if waiting:
                    waiting.popleft().set_exception(exc)
                continue
            while waiting and waiting[0].done():
                waiting.popleft()
            if waiting:
                waiting.popleft().set_result(grant)
            else:
                self.done(grant)

    async def close(self, timeout: float = 2.0) -> None:
        """Stop asking for grants; let the releases of answered requests reach the limiter."""
        for task in self._loops.values():
            task.cancel()
        for waiting in self._waiting.values():
            for future in waiting:
                future.cancel()
        if self._releases:
            await asyncio.wait(set(self._releases), timeout=timeout)
