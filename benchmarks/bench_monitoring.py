"""Benchmark: what sampling the target's /metrics costs, the target and the Locust master.

In one run:
- the sandbox's throughput under ``wrk`` (identify calls, rate limits off) with no sampler, with the
  sampler at its 1 s cadence, and at 10 per second (10x the real load), alternating so drift hits
  all three alike; printed as requests/s and the ratio to the unsampled runs;
- the master-side cost of one sample (scrape + parse + rates + CSV row) of that sandbox's /metrics,
  and parse time of a 2,000-series page (a pipeline with many partitions), as a share of the 1 s
  interval.

    .venv/bin/python benchmarks/bench_monitoring.py [--quick]
"""

from __future__ import annotations

from gevent import subprocess

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The sandbox benchmark's identify script (PUT /api/v1/customers/{id}, demo credentials).
from bench_sandbox import LUA  # noqa: E402 - a sibling script; a script's own directory comes first on the import path
from record import Record, add_json_option, missing_tool  # noqa: E402 - a sibling script

from locustfiles.monitoring.sampler import SystemSampler  # noqa: E402
from locustfiles.monitoring.scrape import parse  # noqa: E402
from runs.processes import start_service  # noqa: E402


def wrk(url: str, seconds: int, script: Path) -> float:
    """Requests per second ``wrk`` reached against ``url``."""
    done = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, timeout=seconds + 30, check=True,
    )  # fmt: skip
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if match is None:
        raise SystemExit(f"wrk printed no Requests/sec:\n{done.stdout}{done.stderr}")
    return float(match.group(1))


def throughput(url: str, seconds: int, rounds: int, script: Path, work: Path) -> dict[str, list[float]]:
    """wrk runs with no sampler, a 1 s sampler and a 0.1 s sampler, interleaved."""
    results: dict[str, list[float]] = {"no sampler": [], "sampler 1/s": [], "sampler 10/s": []}
    cases = [("no sampler", None), ("sampler 1/s", 1.0), ("sampler 10/s", 0.1)]
    for round_ in range(rounds):
        for label, interval in cases[round_ % 3 :] + cases[: round_ % 3]:  # rotate: drift hits all alike
            sampler = None
            if interval is not None:
                sampler = SystemSampler([f"{url}/metrics"], work / "h.csv", interval=interval)
                sampler.start()
            try:
                results[label].append(wrk(url, seconds, script))
            finally:
                if sampler is not None:
                    sampler.stop()
    return results


def sample_cost_ms(url: str, samples: int) -> float:
    """Median wall time of one sample (scrape, parse, rates, CSV row) of ``url``/metrics."""
    with tempfile.TemporaryDirectory() as tmp:
        sampler = SystemSampler([f"{url}/metrics"], Path(tmp) / "h.csv", timeout=0.5)
        sampler.start()
        sampler.stop()  # opens the CSV; samples below are taken by hand
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            sampler.sample()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def big_page(series: int) -> str:
    lines = ["# TYPE pipeline_consumer_lag gauge"]
    lines += [f'pipeline_consumer_lag{{topic="events",partition="{i}"}} {i}' for i in range(series)]
    return "\n".join(lines) + "\n"


def parse_cost_ms(series: int, repeats: int) -> float:
    page = big_page(series)
    started = time.perf_counter()
    for _ in range(repeats):
        parse(page)
    return (time.perf_counter() - started) * 1000 / repeats


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds of 3 s per case (default 3 of 5 s)")
    add_json_option(parser)
    args = parser.parse_args()
    if missing_tool("bench_monitoring"):
        return 2
    seconds, rounds = (3, 2) if args.quick else (5, 3)
    record = Record("bench_monitoring", quick=args.quick, settings={"seconds": seconds, "rounds": rounds})
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        script = work / "identify.lua"
        script.write_text(LUA["identify"])
        with start_service(
            "sandbox", ["sandbox", "--port", "0", "--rate-mode", "off", "--store", "count"], log_dir=work
        ) as sandbox:
            wrk(sandbox.url, 2, script)  # warm up, and give /metrics some series
            results = throughput(sandbox.url, seconds, rounds, script, work)
            per_sample = sample_cost_ms(sandbox.url, 30 if args.quick else 100)
    big = parse_cost_ms(2000, 5 if args.quick else 20)
    base = statistics.mean(results["no sampler"])
    print(f"\n### Monitoring overhead ({rounds} x {seconds} s per case, wrk -t1 -c16, sandbox 1 process)\n")
    print("| case | sandbox req/s (mean) | runs min-max | vs no sampler |")
    print("|---|---:|---:|---:|")
    for label, values in results.items():
        mean = statistics.mean(values)
        print(f"| {label} | {mean:,.0f} | {min(values):,.0f}-{max(values):,.0f} | {mean / base:.3f} |")
    print("\n| master-side cost | ms | share of the 1 s interval |")
    print("|---|---:|---:|")
    print(
        f"| one sample of the sandbox /metrics (scrape+parse+row) | {per_sample:.2f} | {per_sample / 10:.2f}% |"
    )
    print(f"| parse a 2,000-series page | {big:.1f} | {big / 10:.1f}% |")
    for label, values in results.items():
        record.add(
            f"sandbox req/s, {label}", statistics.mean(values), "req/s", note=f"{rounds} x {seconds} s"
        )
    # Run-to-run spread on a shared machine is about +-8 %: the goal is "no visible cost".
    record.add("sandbox req/s, sampler 1/s / no sampler", statistics.mean(results["sampler 1/s"]) / base, "x",
               goal=(">=", 0.9))  # fmt: skip
    record.add("one sample of the sandbox /metrics, master side", per_sample, "ms", goal=("<", 10.0))
    record.add("parse a 2,000-series page", big, "ms")
    return record.finish(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
