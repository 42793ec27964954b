"""Benchmark: the same headless Locust test with 1 and with 2 local workers, side by side in one run.

Target: the real sandbox with rate limiting off and count-only storage (the fastest it gets), so the
load generators are the bottleneck. Each worker is one process and uses at most one core; on a
2-core machine the sandbox and the master share those cores, so read the ratio with that in mind.

    .venv/bin/python benchmarks/bench_distributed.py [--quick] [--seconds S] [--users N] [--rounds R] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from record import Record, add_json_option  # noqa: E402 - a sibling script

from runs.cluster import start_local_cluster  # noqa: E402
from runs.processes import start_service  # noqa: E402

LOCUSTFILE = '''
from locust import FastHttpUser, task


class FixedIdentify(FastHttpUser):
    """No wait time: as many identify calls as the worker can send."""

    @task
    def identify(self):
        self.client.put(
            "/api/v1/customers/bench-person",
            json={"email": "bench@example.com", "plan": "pro"},
            auth=("demo-site", "demo-track-key"),
            name="/api/v1/customers/[id]",
        )
'''


def run_once(
    target: str, workers: int, users: int, seconds: int, run_dir: Path, locustfile: Path
) -> dict[str, float]:
    """One headless distributed run; requests/s and failures from the master's final JSON."""
    args = ["-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--only-summary"]
    args += ["--json-file", str(run_dir / "locust")]
    with start_local_cluster(
        locustfile=locustfile, host=target, workers=workers, run_dir=run_dir, locust_args=args
    ) as cluster:
        cluster.wait_for_workers(timeout=60)
        code = cluster.wait(timeout=seconds + 90)
    entries = json.loads((run_dir / "locust.json").read_text())
    requests = sum(e["num_requests"] for e in entries)
    failures = sum(e["num_failures"] for e in entries)
    # Throughput over the whole run time (spawning is instant at -r = -u).
    return {"exit": code, "requests": requests, "failures": failures, "rps": requests / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="5 s per run and one round, instead of 15 s and two"
    )
    parser.add_argument("--seconds", type=int, help="run time per configuration")
    parser.add_argument("--users", type=int, default=40, help="users per run (default 40)")
    parser.add_argument(
        "--rounds", type=int, help="rounds of (1, 2, 2, 1) workers; each row keeps its best run"
    )
    add_json_option(parser)
    args = parser.parse_args()
    seconds = args.seconds or (5 if args.quick else 15)
    # 1, 2, 2, 1: a machine that gets busier or quieter during the run favours neither side.
    order = [1, 2, 2, 1] * (args.rounds or (1 if args.quick else 2))
    load_before = os.getloadavg()[0]
    record = Record(
        "bench_distributed",
        quick=args.quick,
        settings={"seconds": seconds, "users": args.users, "order": order},
    )
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        work = Path(tmp)
        locustfile = work / "bench_locustfile.py"
        locustfile.write_text(LOCUSTFILE)
        sandbox_args = [
            "sandbox",
            "--port",
            "0",
            "--rate-mode",
            "off",
            "--store",
            "count",
            "--processes",
            "1",
        ]
        with start_service("sandbox", sandbox_args, log_dir=work / "sandbox") as sandbox:
            runs = [
                (n, run_once(sandbox.url, n, args.users, seconds, work / f"run-{i}", locustfile))
                for i, n in enumerate(order)
            ]
    best = {n: max((r for m, r in runs if m == n), key=lambda r: r["rps"]) for n in (1, 2)}
    print(f"\nDistributed Locust: {args.users} users, {seconds} s per run, best of {len(order) // 2} runs per row, "
          f"{os.cpu_count()} CPU cores (load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after); "
          "target: sandbox, rate limit off, count-only store\n")  # fmt: skip
    print("| workers | requests | failures | req/s | vs 1 worker |")
    print("|---:|---:|---:|---:|---:|")
    for n, r in best.items():
        ratio = r["rps"] / best[1]["rps"]
        print(f"| {n} | {r['requests']:,.0f} | {r['failures']:,.0f} | {r['rps']:,.0f} | {ratio:.2f}x |")
        record.add(f"{n} worker(s) requests/s", r["rps"], "req/s", note=f"{r['failures']:,.0f} failures")
    record.add("2 local workers / 1", best[2]["rps"] / best[1]["rps"], "x", goal=(">=", 1.7))
    record.add("failed runs", sum(r["exit"] != 0 for _, r in runs), goal=("==", 0))
    return record.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
