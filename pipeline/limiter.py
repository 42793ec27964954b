"""One request rate per workspace shared by every sender process, kept in Redis (GCRA, one Lua call).

In the spirit of Bottleneck's Redis clustering: the state is a single "theoretical arrival time" per
workspace, updated atomically by a script that uses Redis's own clock, so senders on different hosts
agree without clock sync. Each call reserves the next free slot and returns how long to wait for it,
which spaces requests evenly at ``rate`` instead of letting them burst at the start of each second.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

__all__ = ["RedisRateLimiter", "GCRA_SCRIPT"]

# KEYS[1] = state key; ARGV = interval_us, tolerance_us, max_ahead_us.
# Returns the wait in microseconds (>= 0, slot reserved) or -(wait) when the slot is further away than
# max_ahead (nothing reserved: the caller sleeps and asks again, so a dead caller holds no slot long).
GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_ahead = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if wait > max_ahead then return -wait end
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', math.ceil((tat + interval - now) / 1000) + 1000)
return wait
"""


class RedisRateLimiter:
    def __init__(self, client: aioredis.Redis, rate: float, burst: int = 0, max_ahead: float = 1.0,
                 prefix: str = "cio:rate:") -> None:  # fmt: skip
        self._client = client
        self._interval_us = int(1_000_000 / rate)
        self._tolerance_us = int(burst * self._interval_us)
        self._max_ahead_us = int(max_ahead * 1_000_000)
        self._prefix = prefix
        self._script = client.register_script(GCRA_SCRIPT)

    async def acquire(self, workspace: str) -> float:
        """Wait for this workspace's next slot; returns the seconds waited. Raises redis errors."""
        started = time.monotonic()
        key = self._prefix + workspace
        while True:
            wait_us = int(await self._script(keys=[key], args=[self._interval_us, self._tolerance_us,
                                                               self._max_ahead_us]))  # fmt: skip
            if wait_us >= 0:
                if wait_us:
                    await asyncio.sleep(wait_us / 1_000_000)
                return time.monotonic() - started
            await asyncio.sleep(min(-wait_us, self._max_ahead_us) / 1_000_000)
