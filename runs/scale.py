"""``python -m runs scale --events-per-day 50M --peak-factor 3``: plan, run, compare.

Runs the capacity plan (``deploy.capacity``), starts the tier it recommends at the planned size (the
direct API; or the pipeline with the planned senders, partitions, batch size and Locust workers),
drives the planned test rate for a bounded time, and writes ``scale.md``/``scale.json``: the plan
against what was measured (delivery ceiling, events/s per sender and per Locust worker, lag, e2e
delay, the component that saturated first, and whether the plan holds on this machine).

One machine cannot carry a plan sized for a fleet: the rate is scaled down to ``--machine-rate``
(its default is what a loaded 2-core machine drives through every process of the stack at once,
declared in ``runs.options``), and the report says so. At that rate each process uses a fraction of a core, so what it
managed per second is no capacity: the report gives each one's CPU share too (``runs.cpu``) and its
rate per CPU-second (events delivered / CPU-seconds spent), which is what ``python -m
deploy.capacity --from-run DIR`` plans with (one core per sender and per worker). ``--run-on compose``
runs the pipeline as the compose pipeline profile instead of loopback processes (``runs.compose``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deploy.capacity import LOW_UTILISATION, CapacityPlan, format_plan, plan
from deploy.capacity import OPTIONS as CAPACITY_OPTIONS
from plumbing.errors import SuiteError
from plumbing.options import Options, Parser
from plumbing.options import report as report_error
from runs.cpu import CPU_FILE, cpu_seconds
from runs.options import PIPELINE, new_run_dir
from runs.pipeline import RunPlan, _reported, run_direct, run_pipeline, system_series

__all__ = ["SCALE_FILE", "main", "measure"]

SCALE_FILE = "scale.json"
_LOCUST_WORKERS_MAX = 4
_SENDERS_MAX = 6


def options() -> Options:
    """What ``python -m runs scale`` takes: the capacity plan's own declarations of the load it plans for
    (flag, type, default, variable, range: one of each), then the run's (``runs.options.PIPELINE``)."""
    planned = tuple(CAPACITY_OPTIONS[dest] for dest in ("events_per_day", "peak_factor"))
    return Options("runs scale", (*planned, *PIPELINE.only("runs scale")))


def parser() -> Parser:
    p = Parser(prog="python -m runs scale", description=__doc__.splitlines()[0])
    options().add_to(p, group=False)
    return p


def main(argv: Sequence[str]) -> int:
    try:
        args = argparse.Namespace(**options().values(parser().parse_checked(argv)))
    except SuiteError as exc:
        return report_error("runs scale", exc)
    events = args.events_per_day
    if events is None:
        print("runs scale: --events-per-day is required (or CAPACITY_EVENTS_PER_DAY), e.g. 50M",
              file=sys.stderr)  # fmt: skip
        return 2
    missing = [f for f in args.compose_file if not f.is_file()]
    if missing or (args.compose_file and args.run_on != "compose"):
        problem = f"{missing[0]} is not a file" if missing else "only goes with --run-on compose"
        print(f"runs scale: --compose-file {problem}", file=sys.stderr)
        return 2
    try:
        run_dir = new_run_dir(args.reports_dir, "scale")
    except SuiteError as exc:
        return report_error("runs scale", exc)
    capacity = plan(events, peak_factor=args.peak_factor)
    print(format_plan(capacity))
    scale = min(1.0, args.machine_rate / capacity.test_rps)
    run_plan = sized(capacity, scale, args.duration, args.drain_timeout)

    def run() -> dict[str, Any]:
        if args.run_on == "compose":
            from runs.compose import COMPOSE_FILE, run_compose

            files = [COMPOSE_FILE, *(f.resolve() for f in args.compose_file)]
            result = run_compose(run_plan, run_dir, files, pipeline=capacity.tier != "direct")
        else:
            result = (run_direct if capacity.tier == "direct" else run_pipeline)(run_plan, run_dir)
        report = measure(capacity, scale, result, run_dir)
        (run_dir / SCALE_FILE).write_text(json.dumps(report, indent=2) + "\n")
        text = render(report)
        (run_dir / "scale.md").write_text(text + "\n")
        print(text)
        return {"exit_code": 0 if report["holds"] else 1}

    import signal

    from runs.cli import _raise_interrupt

    # SIGTERM (a CI timeout, `kill`) stops the run like Ctrl-C: whatever was started is stopped or taken down.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return _reported(run)
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    window = result.get("busy_window")
    busy_s = window[1] - window[0] if window else result["load_s"] + (result["drain_s"] or 0.0)
    client = result.get("client") or {}
    client_rps = float(client.get("rps") or 0.0)
    delivered = {i: n for i, n in enumerate(result.get("senders_delivered", [])) if n is not None}
    per_sender = sum(delivered.values()) / len(delivered) / busy_s if delivered and busy_s else None
    senders = _utilisation(run_dir, result.get("busy_window"), [f"sender-{i}" for i in delivered])
    workers = _utilisation(run_dir, result.get("load_window"),
                           [f"locust-worker-{i}" for i in range(plan_["workers"])])  # fmt: skip
    requests = client.get("requests")
    delivery = result.get("delivery") or {}
    delivered_per_s = system_series(run_dir / "system_history.csv", "pipeline_delivered_per_s")
    max_delivered = max(delivered_per_s) if delivered_per_s else None
    cpu = result.get("cpu") or {}
    measured = {
        "rate_driven": plan_["rate"],
        "client_rps": round(client_rps, 1),
        "worker_rps": round(client_rps / plan_["workers"], 1),
        "worker_cpu_share": workers["share"],
        "worker_requests_per_cpu_second": _per(requests, workers["cpu_seconds"]),
        "events_per_sender": None if per_sender is None else round(per_sender, 1),
        "sender_cpu_share": senders["share"],
        "events_per_sender_cpu_second": _per(
            sum(delivered.values()) if delivered else None, senders["cpu_seconds"]
        ),  # fmt: skip
        "delivered_per_s_max": max_delivered,
        "lag_max": result.get("lag_max"),
        "drain_s": result.get("drain_s"),
        "e2e_ms": delivery.get("e2e_ms"),
        "lost": delivery.get("lost"),
        "rate_limited": result["sandbox"]["rate_limited"],
        "saturated_first": cpu.get("saturated_first"),
        "busiest": cpu.get("busiest"),
        "host_cpu_percent": cpu.get("host_mean"),
    }
    ceiling = capacity.budget_rps * capacity.batch_size
    assumed = _assumed()
    holds = _holds(capacity, measured, result)
    return {
        "plan": {
            "events_per_day": capacity.events_per_day, "tier": capacity.tier, "peak_per_s": capacity.peak_per_s,
            "test_rps": capacity.test_rps, "batch_size": capacity.batch_size, "delivery_ceiling": ceiling,
            "sender_workers": capacity.sender_workers, "partitions": capacity.partitions,
            "locust_workers": capacity.locust_workers, "events_per_sender": assumed["sender"],
            "worker_rps": assumed["worker"],
        },
        "scale": round(scale, 4),
        "run": {"dir": str(run_dir), "senders": plan_["senders"], "partitions": plan_["partitions"],
                "workers": plan_["workers"], "rate": plan_["rate"], "duration": plan_["duration"],
                "target": result.get("target", "local")},
        "measured": measured,
        "holds": holds["holds"],
        "reasons": holds["reasons"],
        "notes": holds["notes"],
    }  # fmt: skip


def _utilisation(run_dir: Path, window: Sequence[float] | None, components: list[str]) -> dict[str, Any]:
    """CPU-seconds the ``components`` spent in ``window`` (summed) and their mean share of a core."""
    path = run_dir / CPU_FILE
    if window is None or not path.exists() or not components:
        return {"cpu_seconds": None, "share": None}
    spent = cpu_seconds(path, (window[0], window[1]))
    found = [spent[c] for c in components if c in spent]
    if not found:
        return {"cpu_seconds": None, "share": None}
    return {"cpu_seconds": sum(f["cpu_seconds"] for f in found),
            "share": round(sum(f["share"] for f in found) / len(found), 4)}  # fmt: skip


def _holds(capacity: CapacityPlan, m: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    reasons, notes = [], []
    if not result.get("passed"):
        failed = [k for k, ok in result.get("checks", {}).items() if not ok]
        reasons.append("the run failed: " + ", ".join(failed))
    assumed = _assumed()
    checked = [("a Locust worker", "requests", m["worker_requests_per_cpu_second"], m["worker_cpu_share"],
                assumed["worker"])]  # fmt: skip
    if capacity.tier != "direct":
        checked.insert(0, ("a sender", "events", m["events_per_sender_cpu_second"], m["sender_cpu_share"],
                           assumed["sender"]))  # fmt: skip
    for who, unit, per_cpu_s, share, expected in checked:
        if per_cpu_s is None:
            continue
        if per_cpu_s < expected:
            reasons.append(f"{who} manages {per_cpu_s:,.0f} {unit} per CPU-second here, under the "
                           f"{expected:,.0f}/s the plan assumes of one core")  # fmt: skip
        if share is not None and share < LOW_UTILISATION:
            notes.append(f"{who} used {share:.0%} of a core: its {per_cpu_s:,.0f} {unit} per CPU-second "
                         "extrapolate linearly to a full core, which this run did not show")  # fmt: skip
    return {"holds": not reasons, "reasons": reasons, "notes": notes}


def _assumed() -> dict[str, float]:
    """What deploy.capacity assumes one sender and one Locust worker manage with a core each."""
    default = CAPACITY_OPTIONS.default
    return {"sender": float(default("events_per_sender")), "worker": float(default("worker_rps"))}


def _per(count: float | None, seconds: float | None) -> float | None:
    if count is None or not seconds:
        return None
    return round(count / seconds, 1)


def render(report: dict[str, Any]) -> str:
    p, m, r = report["plan"], report["measured"], report["run"]

    def n(v: Any, unit: str = "") -> str:
        return "-" if v is None else f"{v:,.0f}{unit}" if isinstance(v, int | float) else str(v)

    def pct(share: float | None) -> str:
        return "-" if share is None else f"{share:.0%}" if share >= 0.01 else f"{share:.1%}"

    e2e = m.get("e2e_ms") or {}
    rows = [
        ("tier", p["tier"], p["tier"]),
        ("peak events/s (test rate)", f"{n(p['peak_per_s'])} ({n(p['test_rps'])})",
         f"{n(r['rate'])} driven, {n(m['client_rps'])} achieved (scale 1:{1 / report['scale']:.1f})"),
        ("senders / partitions / Locust workers", f"{p['sender_workers']} / {p['partitions']} / {p['locust_workers']}",
         f"{r['senders']} / {r['partitions']} / {r['workers']}"),
        ("delivery ceiling (events/s)", n(p["delivery_ceiling"]), f"{n(m['delivered_per_s_max'])} max delivered/s seen"),
        ("events/s per sender", f"{n(p['events_per_sender'])} (one core)",
         f"{n(m['events_per_sender'])} at {pct(m['sender_cpu_share'])} of a core = "
         f"{n(m['events_per_sender_cpu_second'])} per CPU-second"),
        ("req/s per Locust worker", f"{n(p['worker_rps'])} (one core)",
         f"{n(m['worker_rps'])} at {pct(m['worker_cpu_share'])} of a core = "
         f"{n(m['worker_requests_per_cpu_second'])} per CPU-second"),
        ("queue lag max / drained after", "-", f"{n(m['lag_max'])} / {n(m['drain_s'], ' s')}"),
        ("e2e delay p50 / p99", "-", f"{n(e2e.get('p50'), ' ms')} / {n(e2e.get('p99'), ' ms')}"),
        ("lost / 429 at the sandbox", "0 / 0", f"{n(m['lost'])} / {n(m['rate_limited'])}"),
        ("saturated first (CPU)", "-", (m["saturated_first"] or f"none at 90% (busiest: {m['busiest']})")
         + f"; host {n(m.get('host_cpu_percent'), '%')} of all its cores"),
    ]  # fmt: skip
    lines = [
        f"# Scale run: {n(p['events_per_day'])} events/day",
        "",
        f"This machine drove {n(r['rate'])} calls/s, 1:{1 / report['scale']:.1f} of the planned test rate; "
        "process counts are the plan's (capped at "
        f"{_SENDERS_MAX} senders, {_LOCUST_WORKERS_MAX} Locust workers), all on one host"
        + (", each in a container of one compose project." if r.get("target") == "compose" else "."),
        "",
        "| | plan | measured here |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        "",
        "**The plan holds here.**" if report["holds"] else "**The plan does not hold here:** " + "; ".join(report["reasons"]),
        "",
        *(f"Note: {note}." for note in report.get("notes", [])),
        *([""] if report.get("notes") else []),
        f"Re-plan with the measured rates per CPU-second: `python -m deploy.capacity --from-run {r['dir']}`",
    ]  # fmt: skip
    return "\n".join(lines)
