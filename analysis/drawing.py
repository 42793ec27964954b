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
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

__all__ = ["ChartJob", "Charts", "chart_workers", "draw_all", "draw_png", "worth_workers"]

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


class Charts:
    """Charts drawn as soon as their frames are ready.

    With a pool, each chart goes to a worker when added, so it is drawn while the caller goes on
    analysing; without one (or when the pool broke) it is drawn here when collected.
    """

    def __init__(self, pool: Executor | None) -> None:
        self._pool = pool
        self._jobs: dict[str, ChartJob] = {}
        self._drawing: dict[str, Future[bytes]] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._jobs

    def add(self, name: str, job: ChartJob) -> None:
        """Start drawing ``job`` as ``name``; a name already added keeps its first job."""
        if name in self._jobs:
            return
        self._jobs[name] = job
        if self._pool is None:
            return
        try:
            self._drawing[name] = self._pool.submit(draw_png, job)
        except (BrokenExecutor, OSError):
            self._pool = None  # the workers could not start or died: the rest is drawn here

    def collect(self, names: Iterable[str] | None = None) -> dict[str, bytes]:
        """name -> PNG for ``names`` (default: every chart, in the order added)."""
        images = {}
        for name in self._jobs if names is None else names:
            future = self._drawing.get(name)
            try:
                images[name] = future.result() if future is not None else draw_png(self._jobs[name])
            except BrokenExecutor:
                images[name] = draw_png(self._jobs[name])
        return images


def draw_all(jobs: Mapping[str, ChartJob], pool: Executor | None) -> dict[str, bytes]:
    """name -> PNG for every job, in the jobs' order; drawn by ``pool`` when it works, else here."""
    charts = Charts(pool)
    for name, job in jobs.items():
        charts.add(name, job)
    return charts.collect()
