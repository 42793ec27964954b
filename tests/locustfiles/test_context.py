"""The payload pool is built off the gevent loop, so a worker's heartbeats go on meanwhile."""

from __future__ import annotations

import gevent

import time

from locustfiles.context import build_pool


def test_pool_build_leaves_the_gevent_loop_running() -> None:
    ticks: list[float] = []

    def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            gevent.sleep(0.02)

    ticker = gevent.spawn(tick)
    gevent.sleep(0)
    started = time.monotonic()
    pool = build_pool(7, 10_000)
    took = time.monotonic() - started
    ticker.kill()
    during = [t for t in ticks if t >= started]
    gaps = [b - a for a, b in zip(during, during[1:], strict=False)]
    # On the loop itself the ticker would not run at all until the build returned: one gap as long
    # as the build. Threaded, the ticker keeps going (generous: a loaded machine stalls it at times).
    assert len(during) >= 5, f"ticker ran {len(during)} times in a {took:.2f} s build"
    assert max(gaps) < max(took / 2, 0.05), f"longest stall {max(gaps):.2f} s of a {took:.2f} s build"
    assert len(pool.people) == 10_000 and pool.seed == 7
