"""Benchmark: the full analysis report on a 24-hour soak next to a bare ``pandas.read_csv``.

Generates a synthetic soak as Locust writes it with ``--csv-full-history`` (one history row per
second for each of 10 endpoints plus ``Aggregated``), a matching ``locust.json`` and a
``system_history.csv``, then runs, each in its own fresh subprocess, (a) ``pandas.read_csv`` of
every CSV and (b) ``python -m analysis.report`` on the run, and prints wall time and peak RSS
side by side (alternating). Goals: report <= 3x the bare read's wall time, and its peak RSS
(summed over its process tree) <= the bare read's plus 50 %.

    .venv/bin/python benchmarks/bench_analysis.py [--quick] [--keep DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from record import (  # a sibling script; a script's own directory comes first on the import path
    Record,
    add_json_option,
)

ROOT = Path(__file__).resolve().parent.parent
PERCENTILES = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"]
SPREAD = np.array([1.0, 1.15, 1.25, 1.35, 1.6, 2.0, 2.6, 3.2, 5.0, 7.0, 9.0])
ENDPOINTS = [
    ("POST", "/api/v1/customers/[id]/events"),
    ("PUT", "/api/v1/customers/[id]"),
    ("POST", "/api/v2/batch"),
    ("POST", "/api/v2/entity"),
    ("POST", "/api/v1/events"),
    ("DELETE", "/api/v1/customers/[id]"),
    ("PUT", "/api/v1/customers/[id]/devices"),
    ("POST", "/api/v1/merge_customers"),
    ("POST", "/v1/batch"),
    ("POST", "/v1/track"),
]
START = 1_795_800_000
CSV_FILES = [
    "locust_stats.csv",
    "locust_stats_history.csv",
    "locust_failures.csv",
    "locust_exceptions.csv",
    "system_history.csv",
]
GOAL_RATIO = 3.0
GOAL_RSS_RATIO = 1.5  # the bare read's peak plus 50 %
BARE_READ = """
import sys, pandas as pd
for f in sys.argv[1:]:
    pd.read_csv(f)
"""


def history_frame(seconds: int, rng: np.random.Generator) -> pd.DataFrame:
    """One row per (second, endpoint) and an Aggregated row per second, in Locust's column order."""
    t = np.arange(seconds)
    n = len(ENDPOINTS)
    rate = rng.uniform(5, 40, n)[None, :] * (1 + 0.2 * np.sin(t / 3600.0))[:, None]
    counts = rng.poisson(rate)
    fails = rng.binomial(counts, 0.01)
    base = rng.uniform(20, 200, n)[None, :] * (1 + 0.1 * rng.standard_normal((seconds, n)).clip(-0.5, 2))
    parts = []
    for i, (method, name) in enumerate(ENDPOINTS):
        parts.append(_rows(t, method, name, counts[:, i], fails[:, i], base[:, i]))
    parts.append(_rows(t, "", "Aggregated", counts.sum(1), fails.sum(1), base.mean(1)))
    frame = pd.concat(parts)
    order = np.lexsort((np.repeat(np.arange(n + 1), seconds), frame["Timestamp"].to_numpy()))
    return frame.iloc[order].reset_index(drop=True)


def _rows(
    t: np.ndarray, method: str, name: str, count: np.ndarray, fail: np.ndarray, p50: np.ndarray
) -> pd.DataFrame:
    total = np.cumsum(count)
    cols: dict[str, object] = {
        "Timestamp": START + t,
        "User Count": 500,
        "Type": method,
        "Name": name,
        "Requests/s": [f"{v:.6f}" for v in count.astype(float)],
        "Failures/s": [f"{v:.6f}" for v in fail.astype(float)],
    }
    for label, factor in zip(PERCENTILES, SPREAD, strict=True):
        cols[label] = (p50 * factor).astype("int64")
    cols["Total Request Count"] = total
    cols["Total Failure Count"] = np.cumsum(fail)
    cols["Total Median Response Time"] = p50.astype("int64")
    cols["Total Average Response Time"] = p50 * 1.1
    cols["Total Min Response Time"] = p50 * 0.3
    cols["Total Max Response Time"] = p50 * 9
    cols["Total Average Content Size"] = 17.0
    return pd.DataFrame(cols)


def write_soak(directory: Path, seconds: int) -> list[Path]:
    """Write the soak's files; returns the CSVs (what the bare read reads)."""
    rng = np.random.default_rng(7)
    history = history_frame(seconds, rng)
    history.to_csv(directory / "locust_stats_history.csv", index=False)
    last = history.groupby(["Type", "Name"], sort=False).tail(1)
    stats = pd.DataFrame(
        {
            "Type": last["Type"],
            "Name": last["Name"],
            "Request Count": last["Total Request Count"],
            "Failure Count": last["Total Failure Count"],
            "Median Response Time": last["Total Median Response Time"],
            "Average Response Time": last["Total Average Response Time"],
            "Min Response Time": last["Total Min Response Time"],
            "Max Response Time": last["Total Max Response Time"],
            "Average Content Size": 17.0,
            "Requests/s": last["Total Request Count"] / seconds,
            "Failures/s": last["Total Failure Count"] / seconds,
            **{p: last[p] for p in PERCENTILES},
        }
    )
    stats.to_csv(directory / "locust_stats.csv", index=False)
    failures = stats[stats["Name"] != "Aggregated"][["Type", "Name", "Failure Count"]]
    pd.DataFrame(
        {
            "Method": failures["Type"],
            "Name": failures["Name"],
            "Error": "CatchResponseError('server error (5xx): 503')",
            "Occurrences": failures["Failure Count"],
            "First Seen": "2026-11-27T00:00:00Z",
            "Last Seen": "2026-11-28T00:00:00Z",
        }
    ).to_csv(directory / "locust_failures.csv", index=False)
    (directory / "locust_exceptions.csv").write_text("Count,Message,Traceback,Nodes\n")
    _write_json(directory / "locust.json", history, seconds, rng)
    _write_system(directory / "system_history.csv", history, seconds)
    return [directory / f for f in CSV_FILES]


def _write_json(path: Path, history: pd.DataFrame, seconds: int, rng: np.random.Generator) -> None:
    """Locust's --json-file: totals, a latency histogram and per-second counts for each entry."""
    entries = []
    rows = history[history["Name"] != "Aggregated"]
    for (method, name), group in rows.groupby(["Type", "Name"], sort=False):
        count = np.diff(group["Total Request Count"].to_numpy(), prepend=0)
        total = int(count.sum())
        p50 = float(group["50%"].median())
        samples = np.round(rng.lognormal(np.log(p50), 0.5, 5000)).astype(int)
        values, freq = np.unique(samples, return_counts=True)
        scaled = np.maximum(1, (freq * total / freq.sum()).astype(int))
        scaled[-1] += total - scaled.sum()
        per_sec = {str(START + i): int(c) for i, c in enumerate(count)}
        entries.append(
            {
                "name": name,
                "method": method,
                "last_request_timestamp": START + seconds - 0.5,
                "start_time": float(START),
                "num_requests": total,
                "num_none_requests": 0,
                "num_failures": int(group["Total Failure Count"].iloc[-1]),
                "total_response_time": float(total * p50 * 1.1),
                "max_response_time": float(values.max()),
                "min_response_time": float(values.min()),
                "total_content_length": total * 17,
                "response_times": {str(v): int(f) for v, f in zip(values, scaled, strict=True)},
                "num_reqs_per_sec": per_sec,
                "num_fail_per_sec": {},
            }
        )
    path.write_text(json.dumps(entries))


def _write_system(path: Path, history: pd.DataFrame, seconds: int) -> None:
    agg = history[history["Name"] == "Aggregated"]
    rps = agg["Requests/s"].astype(float).to_numpy()
    pd.DataFrame(
        {
            "timestamp": START + np.arange(seconds) + 0.25,
            "sandbox_requests_per_s": rps,
            "sandbox_accepted_per_s": rps * 0.97,
            "sandbox_rate_limited_per_s": rps * 0.02,
            "sandbox_dropped_per_s": "",
            "sandbox_errors_per_s": rps * 0.01,
            "sandbox_budget_used": rps / 300,
            "pipeline_ingested_per_s": "",
            "pipeline_delivered_per_s": "",
            "pipeline_consumer_lag": "",
            "pipeline_dead_letters_per_s": "",
        }
    ).to_csv(path, index=False)


def _tree_memory(processes: list[psutil.Process]) -> int:
    """Resident bytes of a process tree: each one's private pages, plus the file-backed shared
    pages (libraries, mostly the same in every process) counted once. One process: its RSS."""
    infos = [p.memory_info() for p in processes]
    return sum(i.rss - i.shared for i in infos) + max(i.shared for i in infos)


def measure(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS bytes of one fresh subprocess and every process it starts.

    Memory is sampled every 20 ms over the whole process tree: the report draws charts in worker
    processes, whose memory counts too (``ru_maxrss`` would give only the largest single process).
    """
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            peak = max(peak, _tree_memory([root, *root.children(recursive=True)]))
        except psutil.Error:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd[:4])} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 1-hour soak instead of 24 hours")
    parser.add_argument("--keep", type=Path, help="write the soak here and keep it")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command; the best is reported")
    parser.add_argument("--generate-only", type=Path, help=argparse.SUPPRESS)
    add_json_option(parser)
    args = parser.parse_args()
    seconds = 3600 if args.quick else 86_400
    if args.generate_only:
        args.generate_only.mkdir(parents=True, exist_ok=True)
        write_soak(args.generate_only, seconds)
        return 0
    record = Record(
        "bench_analysis", quick=args.quick, settings={"soak_seconds": seconds, "repeat": args.repeat}
    )
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        marker = directory / "soak-seconds"
        if not (marker.is_file() and marker.read_text() == str(seconds)):  # --keep DIR is reused
            # Generate in a child, so this process stays small.
            generate = [sys.executable, __file__, "--generate-only", str(directory)] + (
                ["--quick"] if args.quick else []
            )
            subprocess.run(generate, check=True)
            marker.write_text(str(seconds))
        csvs = [directory / f for f in CSV_FILES]
        size = sum(p.stat().st_size for p in csvs) / 1024**2
        rows = sum(1 for _ in (directory / "locust_stats_history.csv").open()) - 1
        print(
            f"soak: {seconds:,} s, {rows:,} history rows, {size:,.0f} MiB of CSV, "
            f"{(directory / 'locust.json').stat().st_size / 1024**2:,.0f} MiB json "
            f"(generated in {time.perf_counter() - t0:.0f} s); load average {record.data['load_average_start']}\n"
        )
        bare_cmd = [sys.executable, "-c", BARE_READ, *map(str, csvs)]
        report_cmd = [
            sys.executable,
            "-m",
            "analysis.report",
            str(directory),
            "--out",
            str(directory / "out"),
        ]
        # Alternate the two so a machine that gets busier or quieter favours neither.
        bare_runs, report_runs = [], []
        for _ in range(args.repeat):
            bare_runs.append(measure(bare_cmd))
            report_runs.append(measure(report_cmd))
    bare = (min(w for w, _ in bare_runs), min(r for _, r in bare_runs))
    report = (min(w for w, _ in report_runs), min(r for _, r in report_runs))
    ratio = report[0] / bare[0]
    rss_ratio = report[1] / bare[1]
    record.add("soak history rows", rows)
    record.add("bare pandas.read_csv wall time", bare[0], "s", note=f"best of {args.repeat}")
    record.add("bare pandas.read_csv peak RSS", bare[1] / 1024**2, "MiB")
    record.add("analysis.report wall time", report[0], "s", note=f"best of {args.repeat}")
    record.add("analysis.report peak RSS (process tree)", report[1] / 1024**2, "MiB")
    # The goals are the 24-hour soak's: a 1-hour one (--quick) is mostly the report's fixed cost.
    goals = (None, None) if args.quick else (("<=", GOAL_RATIO), ("<=", GOAL_RSS_RATIO))
    note = "the goal applies to the 24 h soak" if args.quick else ""
    record.add("report / bare read, wall time", ratio, "x", goal=goals[0], note=note)
    record.add("report / bare read, peak RSS", rss_ratio, "x", goal=goals[1], note=note)
    record.write(args.json)
    print("| step | wall time (s) | peak RSS (MiB) |")
    print("|---|---:|---:|")
    print(f"| bare pandas.read_csv of the CSVs | {bare[0]:.2f} | {bare[1] / 1024**2:,.0f} |")
    print(f"| python -m analysis.report (all outputs) | {report[0]:.2f} | {report[1] / 1024**2:,.0f} |")
    print(
        f"| ratio report / bare read | {ratio:.2f}x (goal <= {GOAL_RATIO:g}x) | {rss_ratio:.2f}x (goal <= {GOAL_RSS_RATIO:g}x) |"
    )
    print(
        f"\nall runs (s): bare {[round(w, 2) for w, _ in bare_runs]}, report {[round(w, 2) for w, _ in report_runs]}; "
        f"load average at the end {[round(x, 2) for x in os.getloadavg()]}"
    )
    print(
        f"\n{'OK' if record.passed else 'GOAL MISSED'}: report is {ratio:.2f}x the bare read, peak {report[1] / 1024**2:,.0f} MiB"
    )
    return 0 if record.passed else 1


if __name__ == "__main__":
    sys.exit(main())
