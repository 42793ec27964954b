"""Analysis of Locust runs: load a run's files as tidy frames, chart them, gate on SLOs.

Notebook use::

    from analysis import load_run, analyse
    run = load_run("reports/20261128-170000-ramp")
    run.history.head()          # one row per (second, endpoint)
    results = analyse(run, delivery=run_delivery(run))
    results.delivery            # lost / duplicates / e2e, when the run recorded acks and arrivals
"""

from __future__ import annotations

from analysis.errors import InputError
from analysis.knee import Knee, KneeThresholds, find_knee
from analysis.results import Results, analyse, final_table, run_delivery
from analysis.run import Run, load_run
from analysis.slo import Threshold, Verdict, load_slo_file

__all__ = [
    "InputError",
    "Knee",
    "KneeThresholds",
    "Results",
    "Run",
    "Threshold",
    "Verdict",
    "analyse",
    "final_table",
    "find_knee",
    "load_run",
    "load_slo_file",
    "run_delivery",
]
