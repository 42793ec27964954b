"""Rate limits per workspace and API, exact across processes, with the four enforcement modes.

The algorithm is GCRA (a token bucket kept as one "theoretical arrival time" per limit): the window
sets the sustained rate (``requests / per_seconds``) and ``burst`` is how many requests above it may
arrive at once. A bucket that starts full would let a 5 s test at twice the limit record 20% more
than the limit; GCRA records exactly the limit plus the burst.

Policies can change at run time (``PUT /__sandbox/limits``): the new set is written to shared memory
and each process reloads it when it sees the version word change.

State lives in shared memory under one process-shared lock, so N worker processes enforce one limit.
Cells per (workspace, api): theoretical arrival time, blocked-until, current window, excess in window.
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from typing import Any

from cio_contract import RateLimit
from sandbox.config import ConfigError, RatePolicy, policy_from_mapping
from sandbox.shared import CTL_LIMITS, SharedMemory

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
        """Apply ``{site_id or "*": {api: {requests, per_seconds, burst, mode, ...}}}`` in every process.

        Raises ConfigError naming the key at fault; nothing changes then.
        """
        self.refresh()
        if not isinstance(changes, dict):
            raise ConfigError("limits: expected {site_id or '*': {api: {requests, per_seconds, ...}}}")
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


def _policy(data: dict[str, Any]) -> RatePolicy:
    return replace(RatePolicy(RateLimit(**data.pop("limit"))), **data)
