"""Charts drawn by the worker processes are the same PNGs as charts drawn in the report's process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from analysis.drawing import Charts, worth_workers
from analysis.locust_csv import PERCENTILES
from analysis.render import final_chart_jobs

# In a fresh interpreter, as `python -m analysis.report` runs: the test session itself has gevent's
# patches (from the Locust tests) and many imports that a report process never has.
_COMPARE = """
import json, multiprocessing, os, sys
from concurrent.futures import ProcessPoolExecutor
from analysis.drawing import chart_workers, draw_all
from analysis.render import chart_jobs
from analysis.results import analyse
from analysis.run import load_run

jobs = chart_jobs(analyse(load_run(sys.argv[1])))
here = draw_all(jobs, None)
with chart_workers(2) as pool:
    assert pool is not None, "no worker pool on this machine"
    there = draw_all(jobs, pool)
# A pool whose worker died: the same charts come back, drawn in this process.
broken = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"))
try:
    broken.submit(os._exit, 1).result()
except Exception:
    pass
first = next(iter(jobs))
fallback = draw_all({first: jobs[first]}, broken)
print(json.dumps({"here": sorted(here), "there": sorted(there),
                  "differ": sorted(n for n in here if there.get(n) != here[n]),
                  "fallback_differ": sorted(n for n in fallback if fallback[n] != here[n]),
                  "fallback": sorted(fallback)}))
"""


def test_worker_processes_draw_the_same_charts(real_run: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _COMPARE, str(real_run)], capture_output=True, text=True,
                          timeout=240, env={**os.environ, "MPLBACKEND": "Agg"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["there"] == result["here"] and len(result["here"]) >= 5
    assert result["differ"] == []  # Agg output is deterministic
    assert result["fallback"] and result["fallback_differ"] == []
    assert worth_workers(1024) == 0  # a short run draws in its own process


def test_charts_started_early_keep_their_job_and_come_back_in_the_order_asked() -> None:
    """Charts(None) draws here at collect; a name added twice keeps its first job (the report adds
    the final figures' charts before the history is analysed, then every chart in report order)."""
    final = pd.DataFrame(
        {"endpoint": ["GET /a", "Aggregated"], "requests": [10, 10], "failures": [1, 1],
         "error_rate": [0.1, 0.1], "rps": [2.0, 2.0], **{c: [5.0, 5.0] for c in PERCENTILES.values()}}
    )  # fmt: skip
    early = final_chart_jobs(final)
    assert list(early) == ["latency_distribution", "endpoints"]
    charts = Charts(None)
    charts.add("endpoints", early["endpoints"])
    charts.add("endpoints", ("no_such_chart", ()))  # ignored: already started
    charts.add("latency_distribution", early["latency_distribution"])
    images = charts.collect(["latency_distribution", "endpoints"])
    assert list(images) == ["latency_distribution", "endpoints"]
    assert all(png.startswith(b"\x89PNG") for png in images.values())
    assert final_chart_jobs(final.assign(requests=0)) == {}  # no traffic: no charts
