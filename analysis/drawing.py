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
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor
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
    # zlib level 3 instead of PIL's 6: the same pixels, 1 % more bytes, 40 % less encoding time.
    figure.savefig(buffer, format="png", dpi=100, pil_kwargs={"compress_level": 3})
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
    """A pool already importing matplotlib, or None (one core, or threads that are greenlets).

    Returns at once: the workers are started from a thread, because starting the first one waits
    for the fork server to finish its imports (seconds), which must overlap the caller's reading.
    """
    count = min(MAX_WORKERS, os.cpu_count() or 1) if workers is None else workers
    if count < 2 or _threads_are_greenlets():
        yield None
        return
    # A fork server imports matplotlib once; each worker is a cheap fork of it, and never of
    # this process (no copy of its threads or of the data it is about to read).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["analysis.charts"])
    pool = ProcessPoolExecutor(count, mp_context=context)
    starter = threading.Thread(target=_start_workers, args=(pool, count), daemon=True)
    starter.start()
    try:
        yield pool
    finally:
        starter.join()
        pool.shutdown(wait=True, cancel_futures=True)


def _start_workers(pool: ProcessPoolExecutor, count: int) -> None:
    try:
        for _ in range(count):  # each submit to an idle pool starts one worker
            pool.submit(_ready)
    except OSError:
        pass  # a pool that cannot start processes is broken: draw_all then draws here


def draw_all(jobs: Mapping[str, ChartJob], pool: Executor | None) -> dict[str, bytes]:
    """name -> PNG for every job, in the jobs' order; drawn by ``pool`` when it works, else here."""
    if pool is not None:
        try:
            futures = {name: pool.submit(draw_png, job) for name, job in jobs.items()}
            return {name: future.result() for name, future in futures.items()}
        except (BrokenExecutor, OSError):
            pass  # the workers could not start or died: the same charts, drawn here
    return {name: draw_png(job) for name, job in jobs.items()}
