"""Benchmark: the Locust master's CPU per second with and without 10 live SLO rules, at 4 workers.

The same headless distributed run (the suite's locustfile, ``TrackUser`` at a fixed rate, against
the real sandbox with rate limiting off) runs with no ``--slo`` and with a file of 10 live rules
(windowed percentiles per endpoint, error rate, rate, target-side series), in the order
off, on, on, off per round so a machine that gets busier or quieter favours neither. The master's
CPU time is read with psutil while it runs; the figure is CPU seconds per wall second.

    .venv/bin/python benchmarks/bench_gate.py [--quick] [--seconds S] [--rounds R] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from record import Record, add_json_option  # a sibling script

from runs.cluster import start_local_cluster  # noqa: E402
from runs.processes import start_service  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORKERS = 4
RULES = """global:
  - "p95 < 500ms over 10s for 5s abort"
  - "p99 < 1s over 30s warn"
  - "error_rate < 5% over 10s for 10s abort"
  - "rps > 1 over 10s after 10s warn"
  - "max < 5s over 5s warn"
  - "target_429_per_s == 0 for 5s warn"
  - "dropped == 0 warn"
  - "queue_lag < 50000 for 30s warn"
endpoints:
  "*": ["p95 < 800ms over 5s warn"]
  /api/v1/customers/[id]/events: ["avg < 300ms over 10s warn"]
"""


class CpuWatch:
    """Samples a process's CPU time (user + system) until it exits; keeps the last reading."""

    def __init__(self, pid: int):
        self.process = psutil.Process(pid)
        self.first: tuple[float, float] | None = None
        self.last: tuple[float, float] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                times = self.process.cpu_times()
            except psutil.Error:
                return
            reading = (time.monotonic(), times.user + times.system)
            self.first = self.first or reading
            self.last = reading
            time.sleep(0.25)

    def per_second(self) -> float:
        self._thread.join(5)
        if self.first is None or self.last is None or self.last[0] <= self.first[0]:
            return float("nan")
        return (self.last[1] - self.first[1]) / (self.last[0] - self.first[0])


def run_once(
    target: str, seconds: int, run_dir: Path, slo: Path | None, users: int, rate: float
) -> dict[str, Any]:
    args = [
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--only-summary",
        "--user-rate",
        str(rate),
    ]
    args += ["--csv", str(run_dir / "locust"), "TrackUser"]
    if slo is not None:
        args += ["--slo", str(slo)]
    with start_local_cluster(
        locustfile=REPO / "locustfiles" / "locustfile.py", host=target, workers=WORKERS, run_dir=run_dir,
        locust_args=args,
    ) as cluster:  # fmt: skip
        cluster.wait_for_workers(timeout=90)
        watch = CpuWatch(cluster.master.pid)
        code = cluster.wait(timeout=seconds + 120)
    gated = (run_dir / "slo_live.json").is_file()
    return {"exit": code, "rules": 10 if slo else 0, "cpu_per_s": watch.per_second(), "record": gated}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 s per run, one round (default 20 s, two)")
    parser.add_argument("--seconds", type=int, help="run time per configuration")
    parser.add_argument("--rounds", type=int, help="rounds of (off, on, on, off)")
    parser.add_argument("--users", type=int, default=20, help="users in all (default 20)")
    parser.add_argument("--user-rate", type=float, default=5.0, help="requests/s per user (default 5)")
    add_json_option(parser)
    args = parser.parse_args()
    seconds = args.seconds or (8 if args.quick else 20)
    order = [False, True, True, False] * (args.rounds or (1 if args.quick else 2))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        work = Path(tmp)
        slo = work / "rules.yaml"
        slo.write_text(RULES)
        sandbox_args = ["sandbox", "--port", "0", "--rate-mode", "off", "--store", "count"]
        with start_service("sandbox", sandbox_args, log_dir=work / "sandbox") as sandbox:
            runs = [
                run_once(
                    sandbox.url, seconds, work / f"run-{i}", slo if on else None, args.users, args.user_rate
                )
                for i, on in enumerate(order)
            ]
    off = statistics.median(r["cpu_per_s"] for r in runs if not r["rules"])
    on = statistics.median(r["cpu_per_s"] for r in runs if r["rules"])
    record = Record("bench_gate", quick=args.quick,
                    settings={"workers": WORKERS, "users": args.users, "target_rate": args.users * args.user_rate,
                              "seconds_per_run": seconds, "runs_per_side": len(order) // 2})  # fmt: skip
    record.add("master CPU per second without rules", off * 1000, "ms/s", note="median of the runs")
    record.add("master CPU per second with 10 live rules", on * 1000, "ms/s")
    record.add("master CPU with rules / without", on / off if off else None, "x")
    record.add("failed runs", sum(r["exit"] != 0 for r in runs), goal=("==", 0))
    record.add(
        "gated runs without slo_live.json", sum(not r["record"] for r in runs if r["rules"]), goal=("==", 0)
    )
    record.write(args.json)
    print(f"\nLive SLO gate: master CPU, {WORKERS} workers, {args.users} users x {args.user_rate:g} req/s, "
          f"{seconds} s per run, median of {len(order) // 2} runs per row, {os.cpu_count()} cores "
          f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after)\n")  # fmt: skip
    print("| rules | master CPU (ms per s) | vs no rules |")
    print("|---:|---:|---:|")
    print(f"| 0 | {off * 1000:.1f} | 1.00x |")
    print(f"| 10 | {on * 1000:.1f} | {on / off:.2f}x |")
    return 0 if record.passed else 1


if __name__ == "__main__":
    sys.exit(main())
