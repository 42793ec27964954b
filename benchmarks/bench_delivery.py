"""Benchmark: what delivery accounting costs, what it holds in memory, and e2e delay at half the ceiling.

In one run:
- **accounting cost, sandbox side**: wrk sends Track events with unique ULID ids to a sandbox with and
  without ``--arrivals-dir`` (best of two, interleaved): requests/s and sandbox CPU per request;
- **accounting cost, end to end**: one headless Locust process of the traffic model (identify + track)
  against the sandbox, with accounting on (acks file + arrivals) and off (``--acks-file off``,
  ``--no-delivery-ids``, no arrivals dir): requests/s each way;
- **sandbox memory per million events tracked**: RSS of a sandbox (``--store count``) before and after
  1,000,000 tracked ids arrive in v2 batches of 100, with arrivals on and off;
- **e2e delay at half the delivery ceiling**: ``python -m runs pipeline`` with senders capped at 5
  operations per batch (ceiling 90 req/s x 5 = 450 events/s) driven at 225 calls/s.

Prints markdown tables; ``--json FILE`` writes the record (``benchmarks/record.py``: every figure,
its goal, the load average at start and end), as ``make bench`` asks of every benchmark.

    .venv/bin/python benchmarks/bench_delivery.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from bench_sandbox import (
    AUTH,
    cpu_seconds,
    run_wrk,
    served,
)  # a sibling script (a script's own directory comes first on the import path)
from record import Record, add_json_option, missing_tool  # a sibling script

from runs.processes import ManagedProcess, start_service

ROOT = Path(__file__).resolve().parent.parent

# Unique, valid ULIDs from Lua: ten fixed time digits, then a 16-digit counter (digits are Crockford).
TRACK_ULIDS = f"""
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "{AUTH}"
    local n = 0
    local prefix = string.format("%010d", math.random(0, 999999999))
    request = function()
      n = n + 1
      local body = '{{"name":"viewed","id":"' .. prefix .. string.format("%016d", n) .. '","data":{{"sku":"A-1"}}}}'
      return wrk.format(nil, "/api/v1/customers/u" .. (n % 100000) .. "/events", nil, body)
    end
"""
BATCH_ULIDS = f"""
    wrk.method = "POST"
    wrk.path = "/api/v2/batch"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "{AUTH}"
    local n = 0
    local prefix = string.format("%010d", math.random(0, 999999999))
    request = function()
      local ops = {{}}
      for i = 1, 100 do
        n = n + 1
        ops[i] = '{{"type":"person","action":"event","identifiers":{{"id":"u' .. (n % 1000) .. '"}},"name":"v","id":"'
                 .. prefix .. string.format("%016d", n) .. '"}}'
      end
      return wrk.format(nil, nil, nil, '{{"batch":[' .. table.concat(ops, ",") .. ']}}')
    end
"""


def sandbox(work: Path, arrivals: bool, *extra: str) -> ManagedProcess:
    args = ["sandbox", "--port", "0", "--rate-mode", "off", *extra]
    if arrivals:
        args += ["--arrivals-dir", str(work / f"arrivals-{time.monotonic_ns()}")]
    return start_service("sandbox", args, log_dir=work)


def bench_sandbox_cost(work: Path, seconds: float) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    best: dict[str, float] = {}
    for _ in range(2):
        for on in (False, True):
            with sandbox(work, on) as box:
                cpu0, n0 = cpu_seconds(box.pid), served(box.url)
                rps, p50, p99 = run_wrk(box.url, TRACK_ULIDS, seconds / 2)
                cpu_per_k = (cpu_seconds(box.pid) - cpu0) / max(1, served(box.url) - n0) * 1000
            key = "on" if on else "off"
            if rps > best.get(key, 0):
                best[key] = rps
                results[key] = {"rps": rps, "p50_ms": p50, "p99_ms": p99, "cpu_ms_per_1k": cpu_per_k * 1000}
    return results


def bench_memory(work: Path, events: int = 1_000_000) -> dict[str, float]:
    out = {}
    for on in (False, True):
        with sandbox(work, on, "--store", "count") as box:
            rss0 = psutil.Process(box.pid).memory_info().rss
            start = served(box.url)
            # wrk runs for whole seconds: repeat until a million ids have arrived.
            while (served(box.url) - start) * 100 < events:
                run_wrk(box.url, BATCH_ULIDS, 3, connections=8)
            rss1 = psutil.Process(box.pid).memory_info().rss
            tracked = (served(box.url) - start) * 100
        out["on" if on else "off"] = (rss1 - rss0) / 2**20 / (tracked / 1e6)
    return out


def _locust(work: Path, host: str, seconds: float, accounting: bool) -> float:
    run = work / f"locust-{'on' if accounting else 'off'}-{time.monotonic_ns()}"
    run.mkdir()
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "locustfile.py"), "--headless",
               "--host", host, "-u", "20", "-r", "20", "-t", f"{seconds:g}s", "--user-rate", "1000",
               "--csv", str(run / "locust"), "--only-summary", "--no-target-metrics", "IdentifyUser", "TrackUser"]  # fmt: skip
    if not accounting:
        command += ["--acks-file", "off", "--no-delivery-ids"]
    subprocess.run(command, cwd=ROOT, capture_output=True, timeout=seconds + 60, check=False)
    import csv

    with (run / "locust_stats.csv").open(newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return float(row["Requests/s"])


def bench_end_to_end_cost(work: Path, seconds: float) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(2):
        for on in (False, True):
            with sandbox(work, on) as box:
                rps = _locust(work, box.url, seconds, on)
            key = "on" if on else "off"
            best[key] = max(best.get(key, 0.0), rps)
    return best


def bench_e2e_at_half_ceiling(work: Path, seconds: float) -> dict[str, object]:
    from runs.pipeline import RunPlan, run_pipeline

    plan = RunPlan(rate=225, duration=seconds, senders=2, partitions=4,
                   sender_args=("--max-batch-operations", "5"))  # fmt: skip
    result = run_pipeline(plan, work / "pipeline")
    return {"ceiling_events_per_s": 450, "rate": 225, "achieved_rps": (result["client"] or {}).get("rps"),
            "e2e_ms": (result["delivery"] or {}).get("e2e_ms"), "lost": (result["delivery"] or {}).get("lost"),
            "rate_limited": result["sandbox"]["rate_limited"], "lag_max": result["lag_max"]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter measurements")
    add_json_option(parser)
    args = parser.parse_args()
    if missing_tool("bench_delivery"):
        return 2
    seconds = 4.0 if args.quick else 8.0
    record = Record("bench_delivery", quick=args.quick, settings={"seconds": seconds})
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"bench_delivery: {os.cpu_count()} cores, load average {load}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        work = Path(tmp)
        cost = bench_sandbox_cost(work, seconds)
        print(f"sandbox cost: {cost}", flush=True)
        end_to_end = bench_end_to_end_cost(work, seconds)
        print(f"end-to-end cost: {end_to_end}", flush=True)
        memory = bench_memory(work)
        print(f"memory: {memory}", flush=True)
        e2e = bench_e2e_at_half_ceiling(work, 20.0 if args.quick else 30.0)
    cpu_ratio = cost["on"]["cpu_ms_per_1k"] / cost["off"]["cpu_ms_per_1k"]
    for key in ("off", "on"):
        record.add(f"sandbox Track events with ULIDs (wrk), accounting {key}", cost[key]["rps"], "req/s")
        record.add(f"sandbox CPU per 1,000 requests, accounting {key}", cost[key]["cpu_ms_per_1k"], "ms")
        record.add(f"traffic model (1 Locust process) -> sandbox, accounting {key}", end_to_end[key], "req/s")
        record.add(f"sandbox RSS growth per million events tracked, accounting {key}", memory[key], "MiB")
    record.add("sandbox CPU per request, accounting on / off", round(cpu_ratio, 3), "x", goal=("<=", 1.5),
               note="recording an arrival is a 41-byte append to a buffer")  # fmt: skip
    record.add("sandbox memory added by accounting per million events tracked", round(memory["on"] - memory["off"], 1),
               "MiB", goal=("<=", 64), note="the arrivals buffer is bounded (256 KiB); the file grows")  # fmt: skip
    ms = e2e["e2e_ms"] or {}
    for q in ("p50", "p95", "p99", "max"):
        record.add(f"e2e delay {q} at half the delivery ceiling (225 of 450 events/s)", ms.get(q), "ms")
    record.add("lost at half the delivery ceiling", e2e["lost"], "events", goal=("==", 0))
    record.add("sandbox 429 answers at half the delivery ceiling", e2e["rate_limited"], goal=("==", 0))
    print()
    print("| measurement | accounting off | accounting on | on / off |")
    print("|---|---:|---:|---:|")
    print(f"| sandbox, Track events with ULIDs (wrk), req/s | {cost['off']['rps']:,.0f} | {cost['on']['rps']:,.0f} "
          f"| {cost['on']['rps'] / cost['off']['rps']:.2f} |")  # fmt: skip
    print(f"| sandbox CPU per 1,000 requests, ms | {cost['off']['cpu_ms_per_1k']:.0f} | {cost['on']['cpu_ms_per_1k']:.0f} "
          f"| {cpu_ratio:.2f} |")  # fmt: skip
    print(f"| traffic model (1 Locust process) -> sandbox, req/s | {end_to_end['off']:,.0f} | {end_to_end['on']:,.0f} "
          f"| {end_to_end['on'] / end_to_end['off']:.2f} |")  # fmt: skip
    print(
        f"| sandbox RSS growth per million events tracked, MiB | {memory['off']:.1f} | {memory['on']:.1f} | |"
    )
    print()
    print(f"e2e delay at half the delivery ceiling (225 of 450 events/s, achieved {e2e['achieved_rps']}): "
          f"p50 {ms.get('p50')} ms, p95 {ms.get('p95')} ms, p99 {ms.get('p99')} ms, max {ms.get('max')} ms; "
          f"lost {e2e['lost']}, 429 x{e2e['rate_limited']}")  # fmt: skip
    print()
    print(record.goals_markdown())
    record.write(args.json)
    return 0 if record.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
