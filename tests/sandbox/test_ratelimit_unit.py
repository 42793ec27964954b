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


def sliding(mode: str = "reject", requests: int = 100, per_seconds: float = 1.0, **kw) -> RateLimiter:
    """The default limit: at most ``requests`` in any ``per_seconds`` window (no burst given)."""
    policy = RatePolicy(RateLimit(requests, per_seconds), mode=mode, **kw)
    rl = RateLimiter([dict.fromkeys(("track", "app", "cdp"), policy)])
    rl.attach(SharedMemory(1, 1, rl.cells))
    return rl


def most_in_any_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times)), default=0)


@pytest.mark.parametrize("requests", [100, 10])
def test_default_records_the_limit_at_twice_it(requests):
    """Track 100/s and App 10/s: 2x the limit for 5 s admits 5 x limit (within 5%), never over it."""
    rl = sliding(requests=requests)
    rate, start = 2 * requests, 1000.0
    times = [start + i / rate for i in range(int(rate * 5))]
    admitted = [t for t in times if rl.check(0, 0, t)[0] == ACCEPT]
    assert abs(len(admitted) - 5 * requests) <= 0.05 * 5 * requests
    assert most_in_any_window(admitted) == requests


@pytest.mark.parametrize("clump", [1, 5, 20, 94])
def test_default_never_refuses_clumps_under_the_limit(clump):
    """95 requests a second for 10 s, released in clumps of up to 94 at one instant: none refused."""
    rl = sliding()
    times = []
    for second in range(10):
        sent = 0
        while sent < 95:
            n = min(clump, 95 - sent)
            times += [1000.0 + second + sent / 95] * n
            sent += n
    verdicts = [rl.check(0, 0, t) for t in times]
    assert {v for v, _ in verdicts} == {ACCEPT}


def test_default_admits_the_whole_limit_at_once_then_waits_for_the_window():
    """App 10/s: 10 at one instant are admitted, the 11th waits until the first leaves the window."""
    rl = sliding(requests=10)
    assert [rl.check(0, 0, 50.0)[0] for _ in range(10)] == [ACCEPT] * 10
    verdict, retry = rl.check(0, 0, 50.5)
    assert verdict == REJECT and retry == pytest.approx(0.5)
    assert rl.check(0, 0, 51.0)[0] == ACCEPT


def test_default_window_of_several_seconds():
    """Pipelines 3000/3 s: 3000 at once pass, the next is refused until 3 s later."""
    rl = sliding(requests=3000, per_seconds=3.0)
    assert all(rl.check(0, 0, 10.0)[0] == ACCEPT for _ in range(3000))
    assert rl.check(0, 0, 12.9)[0] == REJECT
    assert rl.check(0, 0, 13.0)[0] == ACCEPT


def test_default_throttle_and_block_hold_the_window():
    """throttle delays the excess to when the window has room; block still blocks after excess."""
    rl = sliding("throttle", requests=10, throttle_max_delay=5.0)
    verdicts = [rl.check(0, 0, 0.0 + 5.0) for _ in range(25)]
    assert [v for v, _ in verdicts[:10]] == [ACCEPT] * 10
    assert [round(s, 6) for _, s in verdicts[10:20]] == [1.0] * 10
    assert [round(s, 6) for _, s in verdicts[20:]] == [2.0] * 5
    rl = sliding("block", requests=10, block_seconds=2.0, block_after=3)
    verdicts = [rl.check(0, 0, 5.0)[0] for _ in range(14)]
    assert verdicts == [ACCEPT] * 10 + [REJECT] * 2 + [BLOCKED] * 2
    assert rl.check(0, 0, 7.01)[0] == ACCEPT


def test_tight_burst_stays_available():
    """An explicit burst 0 spaces requests at 1/rate: two at one instant are one too many."""
    rl = limiter("reject", requests=10, burst=0)
    assert [rl.check(0, 0, 5.0)[0] for _ in range(2)] == [ACCEPT, REJECT]
