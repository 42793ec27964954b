"""Rate limits per workspace and API, exact across processes, with the four enforcement modes.

The algorithm is GCRA (a token bucket kept as one "theoretical arrival time" per limit): the window
sets the sustained rate (``requests / per_seconds``) and ``burst`` is how many requests above it may
arrive at once. A bucket that starts full would let a 5 s test at twice the limit record 20% more
than the limit; GCRA with burst 0 records the limit plus one.

State lives in shared memory under one process-shared lock, so N worker processes enforce one limit.
Cells per (workspace, api): theoretical arrival time, blocked-until, current window, excess in window.
"""

from __future__ import annotations

import math
from typing import Any

from sandbox.config import RatePolicy
from sandbox.shared import SharedMemory

__all__ = ["ACCEPT", "BLOCKED", "DELAY", "DROP", "REJECT", "RateLimiter", "APIS"]

ACCEPT, DELAY, REJECT, DROP, BLOCKED = range(5)
APIS = ("track", "app", "cdp")
_CELLS = 4


class RateLimiter:
    """``check(workspace, api)`` -> ``(verdict, seconds)``; seconds is the delay or the Retry-After."""

    def __init__(self, policies: list[dict[str, RatePolicy]]):
        self._policies = [[ws[api] for api in APIS] for ws in policies]
        self.cells = len(policies) * len(APIS) * _CELLS
        self._state: Any = None
        self._lock: Any = None

    def attach(self, shared: SharedMemory) -> None:
        self._state = shared.rate_cells()
        self._lock = shared.lock

    def policy(self, workspace: int, api: int) -> RatePolicy:
        return self._policies[workspace][api]

    def check(self, workspace: int, api: int, now: float) -> tuple[int, float]:
        policy = self._policies[workspace][api]
        mode = policy.mode
        if mode == "off":
            return ACCEPT, 0.0
        base = (workspace * len(APIS) + api) * _CELLS
        assert self._lock is not None
        with self._lock:
            return self._check_locked(policy, mode, base, now)

    def _check_locked(self, policy: RatePolicy, mode: str, base: int, now: float) -> tuple[int, float]:
        state = self._state
        assert state is not None
        if mode == "block" and state[base + 1] > now:
            return BLOCKED, state[base + 1] - now
        limit = policy.limit
        interval = limit.per_seconds / limit.requests
        tat = max(state[base], now)
        allowed_at = tat - limit.burst * interval
        if allowed_at <= now:
            state[base] = tat + interval
            return ACCEPT, 0.0
        wait = allowed_at - now
        if mode == "throttle":
            if wait > policy.throttle_max_delay:
                return REJECT, wait
            state[base] = tat + interval
            return DELAY, wait
        if mode == "drop":
            return DROP, 0.0
        if mode == "block":
            return self._excess(policy, base, now, wait)
        return REJECT, wait

    def _excess(self, policy: RatePolicy, base: int, now: float, wait: float) -> tuple[int, float]:
        state = self._state
        assert state is not None
        window = math.floor(now / policy.limit.per_seconds)
        if state[base + 2] != window:
            state[base + 2] = window
            state[base + 3] = 0
        state[base + 3] += 1
        if state[base + 3] >= policy.block_threshold:
            state[base + 1] = now + policy.block_seconds
            state[base] = 0.0  # the bucket is full again when the block ends
            return BLOCKED, policy.block_seconds
        return REJECT, wait
