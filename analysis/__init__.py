"""Analysis of Locust runs: load a run's files as tidy frames, chart them, gate on SLOs.

Notebook use::

    from analysis import load_run, analyse
    run = load_run("reports/20261128-170000-ramp")
    run.history.head()          # one row per (second, endpoint)
    results = analyse(run, delivery=run_delivery(run))
    results.delivery            # lost / duplicates / e2e, when the run recorded acks and arrivals

The names below are imported on first use, not with the package: importing ``analysis`` (as
``python -m analysis.report`` does before anything else) must not import pandas, so that the
report can start its chart workers first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOME = {
    "InputError": "analysis.errors",
    "Knee": "analysis.knee",
    "KneeThresholds": "analysis.knee",
    "find_knee": "analysis.knee",
    "Results": "analysis.results",
    "analyse": "analysis.results",
    "final_table": "analysis.results",
    "run_delivery": "analysis.results",
    "Run": "analysis.run",
    "load_run": "analysis.run",
    "Threshold": "analysis.slo",
    "Verdict": "analysis.slo",
    "load_slo_file": "analysis.slo",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
