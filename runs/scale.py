"""``python -m runs scale --events-per-day 50M --peak-factor 3``: plan, run, compare.

Runs the capacity plan (``deploy.capacity``), starts the tier it recommends at the planned size (the
direct API; or the pipeline with the planned senders, partitions, batch size and Locust workers),
drives the planned test rate for a bounded time, and writes ``scale.md``/``scale.json``: the plan
against what was measured (delivery ceiling, events/s per sender and per Locust worker, lag, e2e
delay, the component that saturated first, and whether the plan holds on this machine).

One machine cannot carry a plan sized for a fleet: the rate is scaled down to ``--machine-rate``
(default 300 calls/s, what a loaded 2-core machine drives through every process of the stack at
once), and the report says so. The measured per-sender and per-worker rates are also given per CPU
core, which is what ``python -m deploy.capacity --from-run DIR`` plans with.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deploy.capacity import CapacityPlan, format_plan, parse_count, plan
from runs.pipeline import REPO, RunPlan, _reported, _seconds, run_direct, run_pipeline

__all__ = ["SCALE_FILE", "main", "measure"]

SCALE_FILE = "scale.json"
_LOCUST_WORKERS_MAX = 4
_SENDERS_MAX = 6


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m runs scale", description=__doc__.splitlines()[0])
    p.add_argument("--events-per-day", required=True, help="daily volume, e.g. 50M, 750K")
    p.add_argument("--peak-factor", type=float, default=3.0, help="peak / average (default 3)")
    p.add_argument(
        "--duration", type=_seconds, default=60.0, help="how long the planned peak is driven (default 60s)"
    )
    p.add_argument("--machine-rate", type=float, default=300.0,
                   help="most calls/s this machine drives through the whole stack (default 300; the "
                        "planned rate is scaled down to it and the report says by how much)")  # fmt: skip
    p.add_argument("--drain-timeout", type=_seconds, default=60.0, help="longest drain wait (default 60s)")
    p.add_argument("--out", type=Path, default=REPO / "reports", help="parent of the run directory")
    return p


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    try:
        events = parse_count(args.events_per_day)
    except (ValueError, IndexError):
        print(
            f"runs scale: --events-per-day {args.events_per_day!r} is not a count like 50M", file=sys.stderr
        )
        return 2
    if args.peak_factor < 1 or args.machine_rate <= 0:
        print("runs scale: --peak-factor must be >= 1 and --machine-rate > 0", file=sys.stderr)
        return 2
    capacity = plan(events, peak_factor=args.peak_factor)
    print(format_plan(capacity))
    run_dir = args.out / f"{time.strftime('%Y%m%d-%H%M%S')}-scale"
    run_dir.mkdir(parents=True, exist_ok=True)
    scale = min(1.0, args.machine_rate / capacity.test_rps)
    run_plan = sized(capacity, scale, args.duration, args.drain_timeout)
    runner = run_direct if capacity.tier == "direct" else run_pipeline

    def run() -> dict[str, Any]:
        result = runner(run_plan, run_dir)
        report = measure(capacity, scale, result, run_dir)
        (run_dir / SCALE_FILE).write_text(json.dumps(report, indent=2) + "\n")
        text = render(report)
        (run_dir / "scale.md").write_text(text + "\n")
        print(text)
        return {"exit_code": 0 if report["holds"] else 1}

    return _reported(run)


def sized(capacity: CapacityPlan, scale: float, duration: float, drain_timeout: float) -> RunPlan:
    """The planned tier at the planned size, the rate scaled by ``scale`` (processes capped for one host)."""
    return RunPlan(
        rate=round(capacity.test_rps * scale, 1),
        duration=duration,
        workers=max(1, min(capacity.locust_workers, _LOCUST_WORKERS_MAX)),
        senders=max(1, min(capacity.sender_workers, _SENDERS_MAX)),
        partitions=max(1, capacity.partitions),
        drain_timeout=drain_timeout,
        sender_args=("--max-batch-operations", str(capacity.batch_size)),
    )


def measure(capacity: CapacityPlan, scale: float, result: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Plan next to measurement, from the run's result and files."""
    plan_ = result["plan"]
    busy_s = result["load_s"] + (result["drain_s"] or 0.0)
    cpu = (result.get("cpu") or {}).get("components", {})
    client = result.get("client") or {}
    client_rps = float(client.get("rps") or 0.0)
    per_worker = client_rps / plan_["workers"]
    worker_cpu = _mean([v["mean"] for k, v in cpu.items() if k.startswith("locust-worker")])
    delivered = [n for n in result.get("senders_delivered", []) if n is not None]
    per_sender = sum(delivered) / len(delivered) / busy_s if delivered and busy_s else None
    sender_cpu = _mean([v["mean"] for k, v in cpu.items() if k.startswith("sender")])
    delivery = result.get("delivery") or {}
    max_delivered = _max_column(run_dir / "system_history.csv", "pipeline_delivered_per_s")
    measured = {
        "rate_driven": plan_["rate"],
        "client_rps": round(client_rps, 1),
        "worker_rps": round(per_worker, 1),
        "worker_cpu_percent": worker_cpu,
        "worker_rps_per_core": _per_core(per_worker, worker_cpu),
        "events_per_sender": None if per_sender is None else round(per_sender, 1),
        "sender_cpu_percent": sender_cpu,
        "events_per_sender_per_core": _per_core(per_sender, sender_cpu),
        "delivered_per_s_max": max_delivered,
        "lag_max": result.get("lag_max"),
        "drain_s": result.get("drain_s"),
        "e2e_ms": delivery.get("e2e_ms"),
        "lost": delivery.get("lost"),
        "rate_limited": result["sandbox"]["rate_limited"],
        "saturated_first": (result.get("cpu") or {}).get("saturated_first"),
        "busiest": (result.get("cpu") or {}).get("busiest"),
    }
    ceiling = capacity.budget_rps * capacity.batch_size
    holds = _holds(capacity, measured, result)
    return {
        "plan": {
            "events_per_day": capacity.events_per_day, "tier": capacity.tier, "peak_per_s": capacity.peak_per_s,
            "test_rps": capacity.test_rps, "batch_size": capacity.batch_size, "delivery_ceiling": ceiling,
            "sender_workers": capacity.sender_workers, "partitions": capacity.partitions,
            "locust_workers": capacity.locust_workers, "events_per_sender": 2000.0, "worker_rps": 1000.0,
        },
        "scale": round(scale, 4),
        "run": {"dir": str(run_dir), "senders": plan_["senders"], "partitions": plan_["partitions"],
                "workers": plan_["workers"], "rate": plan_["rate"], "duration": plan_["duration"]},
        "measured": measured,
        "holds": holds["holds"],
        "reasons": holds["reasons"],
    }  # fmt: skip


def _holds(capacity: CapacityPlan, m: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    reasons = []
    if not result.get("passed"):
        failed = [k for k, ok in result.get("checks", {}).items() if not ok]
        reasons.append("the run failed: " + ", ".join(failed))
    if capacity.tier != "direct":
        per_core = m["events_per_sender_per_core"]
        if per_core is not None and per_core < 2000:
            reasons.append(
                f"a sender manages {per_core:,.0f} events/s per core here, under the 2,000 assumed"
            )
    if m["worker_rps_per_core"] is not None and m["worker_rps_per_core"] < 1000:
        reasons.append(
            f"a Locust worker manages {m['worker_rps_per_core']:,.0f} req/s per core, under the 1,000 assumed"
        )
    return {"holds": not reasons, "reasons": reasons}


def _per_core(rate: float | None, cpu_percent: float | None) -> float | None:
    if rate is None or not cpu_percent:
        return None
    return round(rate / (cpu_percent / 100.0), 1)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _max_column(path: Path, column: str) -> float | None:
    import csv

    if not path.exists():
        return None
    with path.open(newline="") as f:
        values = [float(r[column]) for r in csv.DictReader(f) if r.get(column)]
    return max(values) if values else None


def render(report: dict[str, Any]) -> str:
    p, m, r = report["plan"], report["measured"], report["run"]

    def n(v: Any, unit: str = "") -> str:
        return "-" if v is None else f"{v:,.0f}{unit}" if isinstance(v, int | float) else str(v)

    e2e = m.get("e2e_ms") or {}
    rows = [
        ("tier", p["tier"], p["tier"]),
        ("peak events/s (test rate)", f"{n(p['peak_per_s'])} ({n(p['test_rps'])})",
         f"{n(r['rate'])} driven, {n(m['client_rps'])} achieved (scale 1:{1 / report['scale']:.1f})"),
        ("senders / partitions / Locust workers", f"{p['sender_workers']} / {p['partitions']} / {p['locust_workers']}",
         f"{r['senders']} / {r['partitions']} / {r['workers']}"),
        ("delivery ceiling (events/s)", n(p["delivery_ceiling"]), f"{n(m['delivered_per_s_max'])} max delivered/s seen"),
        ("events/s per sender", n(p["events_per_sender"]),
         f"{n(m['events_per_sender'])} at {n(m['sender_cpu_percent'])}% CPU = {n(m['events_per_sender_per_core'])} per core"),
        ("req/s per Locust worker", n(p["worker_rps"]),
         f"{n(m['worker_rps'])} at {n(m['worker_cpu_percent'])}% CPU = {n(m['worker_rps_per_core'])} per core"),
        ("queue lag max / drained after", "-", f"{n(m['lag_max'])} / {n(m['drain_s'], ' s')}"),
        ("e2e delay p50 / p99", "-", f"{n(e2e.get('p50'), ' ms')} / {n(e2e.get('p99'), ' ms')}"),
        ("lost / 429 at the sandbox", "0 / 0", f"{n(m['lost'])} / {n(m['rate_limited'])}"),
        ("saturated first (CPU)", "-", m["saturated_first"] or f"none at 90% (busiest: {m['busiest']})"),
    ]  # fmt: skip
    lines = [
        f"# Scale run: {n(p['events_per_day'])} events/day",
        "",
        f"This machine drove {n(r['rate'])} calls/s, 1:{1 / report['scale']:.1f} of the planned test rate; "
        "process counts are the plan's (capped at "
        f"{_SENDERS_MAX} senders, {_LOCUST_WORKERS_MAX} Locust workers), all on one host.",
        "",
        "| | plan | measured here |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        "",
        "**The plan holds here.**" if report["holds"] else "**The plan does not hold here:** " + "; ".join(report["reasons"]),
        "",
        f"Re-plan with the measured rates: `python -m deploy.capacity --from-run {r['dir']}`",
    ]  # fmt: skip
    return "\n".join(lines)
