"""The GCRA limiter on a simulated clock: exact admissions per mode, without any process or socket."""

from __future__ import annotations

import pytest

from cio_contract import RateLimit
from sandbox.config import RatePolicy
from sandbox.ratelimit import ACCEPT, BLOCKED, DELAY, DROP, REJECT, RateLimiter
from sandbox.shared import SharedMemory


def limiter(mode: str, requests: int = 100, burst: int = 0, **kw) -> RateLimiter:
    policy = RatePolicy(RateLimit(requests, 1.0, burst), mode=mode, **kw)
    rl = RateLimiter([dict.fromkeys(("track", "app", "cdp"), policy)])
    rl.attach(SharedMemory(1, 1, rl.cells))
    return rl


def offered(rl: RateLimiter, rate: float, seconds: float, start: float = 1000.0) -> list[tuple[int, float]]:
    n = int(rate * seconds)
    return [rl.check(0, 0, start + i / rate) for i in range(n)]


@pytest.mark.parametrize("burst", [0, 10])
def test_reject_admits_rate_times_time_plus_burst(burst):
    """At 2x the limit for 5 s (1000 requests), exactly 5 x limit + burst are admitted."""
    verdicts = offered(limiter("reject", burst=burst), 200, 5)
    assert sum(v == ACCEPT for v, _ in verdicts) == 500 + burst
    assert {v for v, _ in verdicts} == {ACCEPT, REJECT}


def test_under_the_limit_everything_passes():
    """Requests spaced at the limit's interval are all admitted."""
    assert {v for v, _ in offered(limiter("reject"), 100, 3)} == {ACCEPT}


def test_drop_and_throttle_verdicts():
    """drop says DROP past the limit; throttle says DELAY with a growing wait, capped by max delay."""
    assert DROP in {v for v, _ in offered(limiter("drop"), 200, 1)}
    verdicts = offered(limiter("throttle", throttle_max_delay=0.2), 1000, 1)
    delays = [s for v, s in verdicts if v == DELAY]
    assert delays and max(delays) <= 0.2 and REJECT in {v for v, _ in verdicts}


def test_block_starts_after_threshold_and_lasts():
    """block: after block_after over-limit requests everything is BLOCKED for block_seconds."""
    rl = limiter("block", block_seconds=2.0, block_after=5)
    verdicts = offered(rl, 1000, 0.2)
    first = next(i for i, (v, _) in enumerate(verdicts) if v == BLOCKED)
    assert all(v == BLOCKED for v, _ in verdicts[first:])
    t = 1000.0 + first / 1000
    assert rl.check(0, 0, t + 1.9)[0] == BLOCKED
    assert rl.check(0, 0, t + 2.01)[0] == ACCEPT


def test_off_never_limits():
    """off admits everything."""
    assert {v for v, _ in offered(limiter("off"), 10_000, 1)} == {ACCEPT}
