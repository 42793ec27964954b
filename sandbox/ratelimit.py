"""Rate limits per workspace and API, exact across processes, with the four enforcement modes.

By default "N per second" means what it says: at most N requests in *any* window of the limit's
length, and nothing refused while a client stays under that however it clumps. That is a sliding
window log kept as a ring of the last N admission times: a request is admitted when the oldest of
them has left the window, an O(1) check. Unlike GCRA with a burst of N-1 (which also never refuses
such a client), it holds the sustained rate too: a 5 s test at twice the limit records 5 x N, where
that GCRA would record 6 x N. Limits above ``RING_SLOTS`` requests per window (settings meant as
"practically unlimited") use that GCRA instead, to keep shared memory small.

An explicit ``burst`` selects the tight form: GCRA (a token bucket kept as one "theoretical arrival
time"), requests spaced at the sustained rate with ``burst`` extra allowed at once.

Policies can change at run time (``PUT /__sandbox/limits``): the new set is written to shared memory
and each process reloads it when it sees the version word change.

State lives in shared memory under one process-shared lock, so N worker processes enforce one limit.
Cells per (workspace, api): theoretical arrival time, blocked-until, current window, excess in window,
ring head; then one ring of ``RING_SLOTS`` expiry times per (workspace, api).
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from typing import Any

from cio_contract import RateLimit
from sandbox.config import ConfigError, RatePolicy, policy_from_mapping
from sandbox.shared import CTL_LIMITS, SharedMemory

__all__ = ["ACCEPT", "BLOCKED", "DELAY", "DROP", "REJECT", "RING_SLOTS", "RateLimiter", "APIS"]

ACCEPT, DELAY, REJECT, DROP, BLOCKED = range(5)
APIS = ("track", "app", "cdp")
_CELLS = 5
RING_SLOTS = 8192
"""Largest limit (requests per window) enforced as an exact sliding window: 64 KB per limit."""


class RateLimiter:
    """``check(workspace, api)`` -> ``(verdict, seconds)``; seconds is the delay or the Retry-After."""

    def __init__(self, policies: list[dict[str, RatePolicy]]):
        self._policies = [[ws[api] for api in APIS] for ws in policies]
        self._rings = len(policies) * len(APIS) * _CELLS
        self.cells = self._rings + len(policies) * len(APIS) * RING_SLOTS
        self._state: Any = None
        self._lock: Any = None
        self._control: Any = None
        self._shared: SharedMemory | None = None
        self._version = 0

    def attach(self, shared: SharedMemory) -> None:
        self._state = shared.rate_cells()
        self._lock = shared.lock
        self._control = shared.control()
        self._shared = shared

    def policy(self, workspace: int, api: int) -> RatePolicy:
        self.refresh()
        return self._policies[workspace][api]

    def refresh(self) -> None:
        if self._control is not None and self._control[CTL_LIMITS] != self._version:
            assert self._shared is not None
            self._version = self._control[CTL_LIMITS]
            document = self._shared.limits.read()
            self._policies = [[_policy(p) for p in ws] for ws in document]

    def update(self, workspaces: list[str], changes: Any) -> None:
        """Apply ``{workspace name or "*": {api: {requests, per_seconds, burst, mode, ...}}}`` in every process.

        Raises ConfigError naming the key at fault; nothing changes then.
        """
        self.refresh()
        if not isinstance(changes, dict):
            raise ConfigError("limits: expected {workspace name or '*': {api: {requests, per_seconds, ...}}}")
        policies = [list(ws) for ws in self._policies]
        for site, apis in changes.items():
            if site != "*" and site not in workspaces[1:]:
                raise ConfigError(f"limits: unknown workspace {site!r}; known: {', '.join(workspaces[1:])}")
            if not isinstance(apis, dict) or set(apis) - set(APIS):
                raise ConfigError(f"limits[{site!r}]: expected a mapping of track, app, cdp to limits")
            targets = range(1, len(policies)) if site == "*" else [workspaces.index(site)]
            for index in targets:
                for api, spec in apis.items():
                    where = f"limits[{site!r}].{api}"
                    policies[index][APIS.index(api)] = policy_from_mapping(
                        where, spec, policies[index][APIS.index(api)]
                    )
        assert self._shared is not None
        self._shared.limits.write([[asdict(p) for p in ws] for ws in policies])
        with self._lock:
            self._control[CTL_LIMITS] += 1
        self.refresh()

    def check(self, workspace: int, api: int, now: float) -> tuple[int, float]:
        if self._control[CTL_LIMITS] != self._version:
            self.refresh()
        policy = self._policies[workspace][api]
        mode = policy.mode
        if mode == "off":
            return ACCEPT, 0.0
        cell = workspace * len(APIS) + api
        assert self._lock is not None
        with self._lock:
            return self._check_locked(policy, mode, cell, now)

    def _check_locked(self, policy: RatePolicy, mode: str, cell: int, now: float) -> tuple[int, float]:
        state = self._state
        assert state is not None
        base = cell * _CELLS
        if mode == "block" and state[base + 1] > now:
            return BLOCKED, state[base + 1] - now
        limit = policy.limit
        if limit.sliding and limit.requests <= RING_SLOTS:
            # The ring holds when each of the last N admissions leaves the window; the slot at the
            # head is the oldest, so its expiry is when the next request may be admitted.
            head = int(state[base + 4]) % limit.requests
            slot = self._rings + cell * RING_SLOTS + head
            expiry = state[slot]
            if expiry <= now:
                state[slot] = now + limit.per_seconds
                state[base + 4] = head + 1
                return ACCEPT, 0.0
            wait = expiry - now
            admit_at = expiry
        else:
            interval = limit.per_seconds / limit.requests
            tat = max(state[base], now)
            allowed_at = tat - limit.effective_burst * interval
            if allowed_at <= now:
                state[base] = tat + interval
                return ACCEPT, 0.0
            wait = allowed_at - now
        if mode == "throttle":
            if wait > policy.throttle_max_delay:
                return REJECT, wait
            if limit.sliding and limit.requests <= RING_SLOTS:
                state[slot] = admit_at + limit.per_seconds
                state[base + 4] = head + 1
            else:
                state[base] = tat + interval
            return DELAY, wait
        if mode == "drop":
            return DROP, 0.0
        if mode == "block":
            return self._excess(policy, cell, now, wait)
        return REJECT, wait

    def _excess(self, policy: RatePolicy, cell: int, now: float, wait: float) -> tuple[int, float]:
        state = self._state
        assert state is not None
        base = cell * _CELLS
        window = math.floor(now / policy.limit.per_seconds)
        if state[base + 2] != window:
            state[base + 2] = window
            state[base + 3] = 0
        state[base + 3] += 1
        if state[base + 3] >= policy.block_threshold:
            state[base + 1] = now + policy.block_seconds
            state[base] = 0.0  # the bucket is full again when the block ends
            ring = self._rings + cell * RING_SLOTS
            state[ring : ring + RING_SLOTS] = memoryview(bytes(8 * RING_SLOTS)).cast("d")
            return BLOCKED, policy.block_seconds
        return REJECT, wait


def _policy(data: dict[str, Any]) -> RatePolicy:
    return replace(RatePolicy(RateLimit(**data.pop("limit"))), **data)
