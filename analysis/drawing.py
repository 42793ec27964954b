"""Draw a report's charts in worker processes, started before the data is read.

Drawing and PNG encoding are most of a long run's report after reading the CSVs, and importing
matplotlib alone takes most of a second. Workers started at the beginning import it while the main
process reads and analyses; the main process then sends each chart's (already downsampled, small)
frames and gets PNG bytes back. Without workers (one core, or a platform that cannot start them)
the same charts are drawn in this process.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

__all__ = ["ChartJob", "chart_workers", "draw_all", "draw_png", "worth_workers"]

ChartJob = tuple[str, tuple[Any, ...]]
"""A chart as ``(name of an analysis.charts function, its arguments)``: picklable and small."""

MAX_WORKERS = 2


def _ready() -> bool:
    return True


def draw_png(job: ChartJob) -> bytes:
    """One chart as PNG bytes; the figure is dropped at once (no pyplot state to leak)."""
    from analysis import charts

    function, args = job
    figure = getattr(charts, function)(*args)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


# Below this much history the charts take well under a second: not worth starting processes for.
WORTH_IT_BYTES = 20 * 1024 * 1024


def worth_workers(history_bytes: int) -> int:
    """How many chart workers to start: none for a short run, or when no core is idle (the
    one-minute load average already fills them), else up to ``MAX_WORKERS``."""
    cores = os.cpu_count() or 1
    if history_bytes < WORTH_IT_BYTES or os.getloadavg()[0] > cores - 0.5:
        return 0
    return min(MAX_WORKERS, cores)


def _threads_are_greenlets() -> bool:
    # In a process where gevent has patched threading (one that imported Locust), the pool's
    # feeder thread would be a greenlet, and waiting for a chart would block the loop it runs on:
    # such a process draws its charts itself.
    gevent_monkey = sys.modules.get("gevent.monkey")
    return gevent_monkey is not None and bool(gevent_monkey.is_module_patched("threading"))


@contextmanager
def chart_workers(workers: int | None = None) -> Iterator[Executor | None]:
    """A pool already importing matplotlib, or None (one core, or threads that are greenlets)."""
    count = min(MAX_WORKERS, os.cpu_count() or 1) if workers is None else workers
    if count < 2 or _threads_are_greenlets():
        yield None
        return
    try:
        # A fork server imports matplotlib once; each worker is a cheap fork of it, and never of
        # this process (no copy of its threads or of the data it is about to read).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["analysis.charts"])
        pool = ProcessPoolExecutor(count, mp_context=context)
        for _ in range(count):  # spawn them now, so their imports overlap the reading
            pool.submit(_ready)
    except OSError:
        yield None
        return
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def draw_all(jobs: Mapping[str, ChartJob], pool: Executor | None) -> dict[str, bytes]:
    """name -> PNG for every job, in the jobs' order; largest charts are submitted first."""
    if pool is None:
        return {name: draw_png(job) for name, job in jobs.items()}
    futures = {name: pool.submit(draw_png, job) for name, job in jobs.items()}
    return {name: future.result() for name, future in futures.items()}
