"""Admission against a real redis-server: grants only for waiting deliveries, slots held for the
round trip alone, and the limiter's failure handed to the delivery."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from pipeline.admission import Admission
from pipeline.limiter import Grant, RedisRateLimiter

SLOTS = 5
RESERVATIONS = 2
DELIVERIES = 12


class CountingLimiter(RedisRateLimiter):
    """The real limiter, counting how many grants are being asked for at once."""

    asking = most_asking = 0

    async def acquire(self, workspace: str, timeout: float | None = None) -> Grant:
        self.asking += 1
        self.most_asking = max(self.most_asking, self.asking)
        try:
            return await super().acquire(workspace, timeout)
        finally:
            self.asking -= 1


async def _evalsha_calls(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def _deliver_through_admission(url: str, prefix: str) -> tuple[int, int, int, int, int]:
    client = aioredis.from_url(url)
    limiter = CountingLimiter(client, 500.0, window=1.0, window_limit=1000, prefix=prefix)
    admission = Admission(limiter, SLOTS, RESERVATIONS)
    sending = most = delivered = 0

    async def deliver() -> None:
        nonlocal sending, most, delivered
        grant = await admission.turn("demo-site")
        sending += 1
        most = max(most, sending)
        await asyncio.sleep(0.02)  # the round trip
        sending -= 1
        admission.done(grant)
        delivered += 1

    try:
        await asyncio.wait_for(asyncio.gather(*(deliver() for _ in range(DELIVERIES))), 60)
        await asyncio.sleep(0.2)  # the releases land
        idle_before = await _evalsha_calls(client)
        await asyncio.sleep(0.5)  # nothing waits: nothing is asked of Redis
        idle_after = await _evalsha_calls(client)
        logged = await client.zcard(prefix + "demo-site:log")
    finally:
        await admission.close()
        await client.aclose()
    return most, limiter.most_asking, delivered, idle_after - idle_before, logged


def test_admission_holds_slots_for_the_round_trip_and_asks_only_for_waiting_deliveries(
    redis_url: str,
) -> None:
    """12 deliveries, 5 slots, 2 reservations: never more asked for at once (a stalled process
    wakes with at most 2 requests due), never more in flight than slots, one grant each, and no
    limiter call while nothing waits."""
    most, asking, delivered, idle_calls, logged = asyncio.run(
        _deliver_through_admission(redis_url, f"admission:{time.time()}:")
    )
    assert delivered == DELIVERIES
    assert asking == RESERVATIONS, f"{asking} grants asked for at once, {RESERVATIONS} allowed"
    assert most <= SLOTS, f"{most} requests in flight with {SLOTS} slots"
    assert idle_calls == 0, f"{idle_calls} limiter calls while no delivery waited"
    assert logged == DELIVERIES, "each delivery took exactly one grant"


async def _close_while_asking(url: str, prefix: str, rounds: int) -> tuple[int, int]:
    """Rounds of: deliveries wait behind a full window (one grant held unanswered for 60 s), the
    admission asks for grants on their behalf, and is closed. Returns the asks still running after
    the closes and the limiter calls made once every admission was closed."""
    client = aioredis.from_url(url)
    survivors = 0
    try:
        for n in range(rounds):
            limiter = RedisRateLimiter(client, 1000.0, window=1.0, window_limit=1, inflight_bound=60.0,
                                       prefix=f"{prefix}{n}:")  # fmt: skip
            await limiter.acquire("demo-site", timeout=10)
            admission = Admission(limiter, SLOTS, RESERVATIONS)
            turns = [asyncio.ensure_future(admission.turn("demo-site")) for _ in range(DELIVERIES)]
            await asyncio.sleep(0.05)  # the asks are polling the full window
            await admission.close()
            survivors += len(admission._tasks)
            await asyncio.gather(*turns, return_exceptions=True)
        before = await _evalsha_calls(client)
        await asyncio.sleep(0.3)
        return survivors, await _evalsha_calls(client) - before
    finally:
        await client.aclose()


def test_closing_stops_every_ask_for_a_grant(redis_url: str) -> None:
    """After close(), no ask goes on polling the limiter: cancelled once, about one redis-py call in
    three on Python 3.11 carries on (asyncio.wait_for loses the cancellation), and would take a grant
    after the sender stopped."""
    survivors, calls = asyncio.run(_close_while_asking(redis_url, f"close:{time.time()}:", rounds=10))
    assert survivors == 0, f"{survivors} asks for a grant still running after close()"
    assert calls == 0, f"{calls} limiter calls after every admission was closed"


async def _turn_without_redis(url: str) -> str:
    client = aioredis.from_url(url, socket_connect_timeout=2)
    admission = Admission(RedisRateLimiter(client, 100.0), SLOTS)
    try:
        await asyncio.wait_for(admission.turn("demo-site"), 30)
    except RedisError as exc:
        return type(exc).__name__
    finally:
        await admission.close()
        await client.aclose()
    return "granted"


def test_an_unreachable_limiter_is_handed_to_the_waiting_delivery() -> None:
    """The delivery gets the error (and holds its batch for a retry) instead of waiting forever."""
    from plumbing.ports import free_port

    outcome = asyncio.run(_turn_without_redis(f"redis://127.0.0.1:{free_port()}/0"))
    assert outcome == "ConnectionError"
