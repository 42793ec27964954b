"""When a sender may send: a request slot free, a batch waiting, a grant from the shared limiter.

Deliveries wait here with their request already built. A grant is asked for only when a slot is
free and a delivery is waiting that no grant is on its way for, and at most ``RESERVATIONS`` per
workspace at once; each grant goes to the first delivery in line, which sends at once. So grants are
never taken for requests that are not ready, a slot is held for the round trip and at most a few
reservations (not by every delivery for its whole wait, which capped throughput), and a process
that stalls wakes with at most ``RESERVATIONS`` requests due, never a pile of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from redis.exceptions import RedisError

from pipeline.limiter import Grant, RedisRateLimiter

__all__ = ["Admission"]

log = logging.getLogger("pipeline.admission")

RESERVATIONS = 3
"""Grants one process asks for at once, per workspace. One at a time, the rate of a process would
be capped at one grant per Redis round trip plus wake-up, which a loaded machine stretches to tens of
ms; a few keep the spacing exact, and a stall releases at most this many requests at once."""


class Admission:
    def __init__(self, limiter: RedisRateLimiter, slots: int, reservations: int = RESERVATIONS) -> None:
        self._limiter = limiter
        self._free = slots
        self._reservations = reservations
        self._waiting: dict[str, deque[asyncio.Future[Grant]]] = {}
        self._reserving: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._releases: set[asyncio.Task[None]] = set()

    async def turn(self, workspace: str) -> Grant:
        """Wait until this delivery may send; raises RedisError when the limiter is unreachable."""
        future: asyncio.Future[Grant] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(workspace, deque()).append(future)
        self._reserving.setdefault(workspace, 0)
        self._reserve(workspace)
        return await future

    def done(self, grant: Grant) -> None:
        """The grant's request was answered or failed: free its slot, tell the limiter when."""
        self._free += 1
        task = asyncio.ensure_future(self._release(grant))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)
        for workspace in self._waiting:
            self._reserve(workspace)

    def _reserve(self, workspace: str) -> None:
        """Ask for grants while deliveries wait that no request is under way for, slots are free,
        and fewer than ``reservations`` are under way (given-up deliveries, only at shutdown, may
        make one too many: it is released unused)."""
        waiting = self._waiting[workspace]
        while (self._free > 0 and self._reserving[workspace] < self._reservations
               and len(waiting) > self._reserving[workspace]):  # fmt: skip
            self._free -= 1
            self._reserving[workspace] += 1
            task = asyncio.ensure_future(self._acquire(workspace))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _acquire(self, workspace: str) -> None:
        waiting = self._waiting[workspace]
        try:
            grant = await self._limiter.acquire(workspace)
        except Exception as exc:  # noqa: BLE001 - handed to the delivery, which holds its batch
            self._free += 1
            self._reserving[workspace] -= 1
            if not isinstance(exc, RedisError):
                log.exception("rate limiter failed")
                exc = RedisError(f"rate limiter failed: {exc!r}")
            if (future := _first_waiting(waiting)) is not None:
                future.set_exception(exc)
            return
        self._reserving[workspace] -= 1
        if (future := _first_waiting(waiting)) is not None:
            future.set_result(grant)
        else:
            self.done(grant)
        self._reserve(workspace)

    async def _release(self, grant: Grant) -> None:
        try:
            await self._limiter.release(grant)
        except RedisError as exc:
            # Safe: the logged bound stays at "in flight", which only holds later grants back longer.
            log.warning("rate limiter unavailable (%s); the answered request still counts as in flight", exc)

    async def close(self, timeout: float = 2.0) -> None:
        """Stop asking for grants; let the releases of answered requests reach the limiter."""
        for waiting in self._waiting.values():
            for future in waiting:
                future.cancel()
        deadline = asyncio.get_running_loop().time() + timeout
        # Cancelled again until they end: on Python 3.11 redis-py loses about one cancellation in
        # three (see RedisRateLimiter.acquire), and a surviving ask would poll on, and take a grant.
        while self._tasks and (left := deadline - asyncio.get_running_loop().time()) > 0:
            for task in self._tasks:
                task.cancel()
            await asyncio.wait(set(self._tasks), timeout=min(0.05, left))
        if self._releases:
            await asyncio.wait(
                set(self._releases), timeout=max(0.0, deadline - asyncio.get_running_loop().time())
            )


def _first_waiting(waiting: deque[asyncio.Future[Grant]]) -> asyncio.Future[Grant] | None:
    while waiting:
        future = waiting.popleft()
        if not future.done():
            return future
    return None
