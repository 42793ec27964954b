"""Charts drawn by the worker processes are the same PNGs as charts drawn in the report's process."""

from __future__ import annotations

from pathlib import Path

from analysis.drawing import chart_workers, draw_all, worth_workers
from analysis.render import chart_jobs
from analysis.results import analyse
from analysis.run import load_run


def test_worker_processes_draw_the_same_charts(real_run: Path) -> None:
    jobs = chart_jobs(analyse(load_run(real_run)))
    here = draw_all(jobs, None)
    with chart_workers(2) as pool:
        assert pool is not None
        there = draw_all(jobs, pool)
    assert list(there) == list(here) and len(here) >= 5
    assert all(there[name] == here[name] for name in here)  # Agg output is deterministic
    assert worth_workers(1024) == 0  # a short run draws in its own process
