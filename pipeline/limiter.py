"""One request rate per workspace shared by every sender process, kept in Redis (one Lua call per try).

Two rules, both kept in Redis and judged by Redis's own clock, so senders on different hosts agree
without clock sync:

* **Spacing** (GCRA): each grant reserves the workspace's next slot, ``1 / rate`` after the last
  (``burst`` may come early), and says how long to wait for it; a slot further away than
  ``max_ahead`` is not reserved (the caller asks again later). Reserving keeps the rate exact
  when a caller wakes a little late, and a caller that takes one grant at a time (the sender's
  admission loop, one per process) holds at most one slot: after a stall, at most one request per
  process goes out late, never a pile of reserved slots at once.
* **The window log** (when ``window`` is set): the target counts requests when they *arrive*, "at
  most N in any window", and an arrival lies somewhere between the grant and the moment the answer
  came back. Each grant is logged with the latest time its request can have arrived (while in
  flight: the grant plus ``inflight_bound``; once answered, :meth:`release` lowers it to the moment
  of the answer). A grant is refused while ``window_limit`` logged requests may still lie within
  ``window`` of now. Then no window of arrivals holds more than ``window_limit`` requests, however
  late a stalled sender or a stalled server handles them: if the last request of a window was
  granted at ``g``, every earlier one in that window may have arrived after ``g - window``, so it
  was counted when ``g`` was granted. The spacing keeps the log from binding while round trips are
  short: at 90 % of the limit it binds only when answers take over 0.1 of the window.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from itertools import count

import redis.asyncio as aioredis

__all__ = ["GRANTED", "Grant", "RedisRateLimiter", "SPACING", "WINDOW"]

_TIMER_MARGIN_US = 2000
"""How much sooner than asked an event loop's timer may fire (uvloop rounds to milliseconds)."""

GRANTED, SPACING, WINDOW = 0, 1, 2
"""What one try returned: a grant, or a wait for the spacing, or a wait for the window log."""

# KEYS[1] = spacing state (theoretical arrival time, µs), KEYS[2] = window log (member -> latest
# possible arrival, µs). ARGV = interval, tolerance, window (0: no log), window_limit, member,
# inflight_bound, max_ahead, margin (µs except the limit). Returns {GRANTED, wait for the slot µs,
# how long the workspace's spacing had gone unused, up to 1 s, µs (0 for the first grant: the state
# is kept for a minute after the last slot, so only a workspace idle that long starts afresh)} or
# {SPACING|WINDOW, wait before asking again µs}. Numbers go back to Redis through '%.0f': Lua's own
# conversion keeps 14 digits, too few for µs since 1970.
GRANT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local idle = 0
if tat < now then if tat > 0 then idle = now - tat end; tat = now end
local wait = tat - tolerance - now
local max_ahead = tonumber(ARGV[7])
if wait > max_ahead then return {1, wait - max_ahead} end
if wait < 0 then wait = 0 end
if window > 0 then
  -- Judged at the reserved slot (the request leaves no sooner; 'margin' covers a timer firing a
  -- hair early), so a reservation made ahead is not held back by answers due before its slot.
  -- Slots only move forward, so what leaves the window here has left it for every later check.
  local check = now + wait - tonumber(ARGV[8])
  local limit = tonumber(ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', check - window))
  local logged = redis.call('ZCARD', KEYS[2])
  if logged >= limit then
    local oldest = redis.call('ZRANGE', KEYS[2], logged - limit, logged - limit, 'WITHSCORES')
    return {2, math.max(1, tonumber(oldest[2]) + window - check)}
  end
  local bound = tonumber(ARGV[6])
  redis.call('ZADD', KEYS[2], string.format('%.0f', now + wait + bound), ARGV[5])
  redis.call('PEXPIRE', KEYS[2], math.ceil((wait + bound + window) / 1000) + 1000)
end
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', math.ceil((tat + interval - now) / 1000) + 60000)
return {0, wait, math.min(idle, 1000000)}
"""

# KEYS[1] = window log, ARGV[1] = member: its request was answered, so it arrived by now.
RELEASE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[1], 'XX', 'LT', string.format('%.0f', now), ARGV[1])
return 0
"""


@dataclass(frozen=True)
class Grant:
    """Permission to send one request now; hand it back to :meth:`RedisRateLimiter.release`."""

    workspace: str
    member: str
    waited: float
    """Seconds between asking and the grant."""
    window_waits: int
    """Tries the window log refused on the way (a sign of slow answers)."""
    idle: float = 0.0
    """Seconds the workspace's spacing went unused before this grant (up to 1): no sender was
    waiting for it. Summed over a busy drain, the rate a backlog failed to use."""


class RedisRateLimiter:
    def __init__(self, client: aioredis.Redis, rate: float, burst: int = 0, window: float = 0.0,
                 window_limit: int = 0, inflight_bound: float = 30.0, max_ahead: float = 1.0,
                 prefix: str = "cio:rate:") -> None:  # fmt: skip
        """``rate`` grants per second, ``burst`` of them early; with ``window`` > 0 also at most
        ``window_limit`` requests whose arrival may lie in any ``window`` seconds (``inflight_bound``:
        the longest a request can be on its way, e.g. the request timeout)."""
        if window > 0 and window_limit < 1:
            raise ValueError("window_limit must be at least 1 when a window is set")
        self._client = client
        self._interval_us = int(1_000_000 / rate)
        self._tolerance_us = int(burst * self._interval_us)
        self._window_us = int(window * 1_000_000)
        self._window_limit = window_limit
        self._bound_us = int(inflight_bound * 1_000_000)
        self._max_ahead_us = int(max_ahead * 1_000_000)
        self._max_poll = 1.0 / rate
        self._prefix = prefix
        self._grant = client.register_script(GRANT_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)
        self._token = f"{os.getpid()}-{os.urandom(4).hex()}-"
        self._serial = count()

    async def acquire(self, workspace: str, timeout: float | None = None) -> Grant:
        """Reserve this workspace's next slot and wait for it; send at once. Raises redis errors, and
        :class:`TimeoutError` when no grant came within ``timeout`` seconds.

        Give up through ``timeout``, not by cancelling: on Python 3.11 redis-py sends each command
        through ``asyncio.wait_for`` (its default 5 s socket timeout), which loses a cancellation
        that lands as the send completes (fixed in 3.12), so about one cancelled call in three
        carries on polling, and returns a grant nobody asked for any more."""
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        keys = [self._prefix + workspace, self._prefix + workspace + ":log"]
        member = self._token + str(next(self._serial))
        args: list[int | str] = [self._interval_us, self._tolerance_us, self._window_us, self._window_limit, member,
                self._bound_us, self._max_ahead_us, _TIMER_MARGIN_US]  # fmt: skip
        window_waits = 0
        while True:
            verdict, wait_us, *idle_us = await self._grant(keys=keys, args=args)
            if int(verdict) == GRANTED:
                if int(wait_us):
                    await asyncio.sleep(int(wait_us) / 1_000_000)
                return Grant(workspace, member, time.monotonic() - started, window_waits,
                             int(idle_us[0]) / 1_000_000)  # fmt: skip
            if int(verdict) == WINDOW:
                window_waits += 1
            # A window wait may end early (an answer lowers its bound): polled once per spacing.
            pause = min(int(wait_us) / 1_000_000, self._max_poll)
            if deadline is not None and time.monotonic() + pause >= deadline:
                raise TimeoutError(f"no grant for workspace {workspace!r} within {timeout:g} s")
            await asyncio.sleep(pause)

    async def release(self, grant: Grant) -> None:
        """The grant's request was answered (or failed): it can no longer arrive later than now."""
        if self._window_us:
            await self._release(keys=[self._prefix + grant.workspace + ":log"], args=[grant.member])
