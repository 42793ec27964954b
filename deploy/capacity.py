"""Capacity plan: ``python -m deploy.capacity --events-per-day 50M --peak-factor 3``.

Turns a daily event volume into the scaling guide's architecture tier (direct API under 1M/day,
queue-based for 1-10M, distributed above 10M) and the numbers to deploy and to test it: batch size,
sender workers, Kafka partitions and Locust workers, printing each step of the arithmetic. Limits come
from ``cio_contract`` (the workspace rate limit, v2 batch sizes), so the plan and the suite agree.
Exit 0 when the plan fits the rate limit, 1 when it cannot, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cio_contract import (
    CLIENT_BATCH_BYTES,
    CLIENT_BATCH_OPERATIONS,
    DEFAULT_RATE_LIMITS,
    parse_track_rate_limit,
)
from plumbing.budget import HEADROOM, rate_limit_option, request_budget
from plumbing.errors import DeployError, SuiteError
from plumbing.options import Options, Parser, declarer, report

__all__ = ["OPTIONS", "CapacityPlan", "format_plan", "main", "parse_count", "plan"]

SECONDS_PER_DAY = 86_400
DIRECT_MAX_PER_DAY = 1_000_000
QUEUE_MAX_PER_DAY = 10_000_000
# A backlog (after an outage, a deploy, a spike) only drains if senders can go faster than the peak.
DRAIN_FACTOR = 2.0
# The load test goes past the peak, to show the margin rather than just touch the target.
TEST_OVERSHOOT = 1.2
# Below this share of a core, a measured rate per CPU-second is a linear extrapolation to a full core.
LOW_UTILISATION = 0.25
_SUFFIXES = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9}


@dataclass(frozen=True)
class CapacityPlan:
    """Inputs and every derived figure; ``steps`` is the arithmetic in reading order."""

    events_per_day: float
    tier: str
    peak_per_s: float
    budget_rps: float
    batch_size: int
    peak_requests_per_s: float
    fits: bool
    sender_workers: int
    partitions: int
    locust_workers: int
    test_rps: float
    steps: tuple[tuple[str, str, str], ...]


def parse_count(text: str) -> float:
    """``50M`` -> 50_000_000; also ``2.5M``, ``750K``, ``1e7``, ``50_000_000``. ValueError otherwise."""
    cleaned = text.strip().upper().replace("_", "").replace(",", "")
    scale = _SUFFIXES.get(cleaned[-1:], 1.0)
    number = float(cleaned[:-1] if scale != 1.0 else cleaned)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(text)
    return number * scale


def _per_second(rate_limit: float | str) -> float:
    """Requests per second of a Track limit: a number, or the --rate-limit text (``100``, ``3000/3``)."""
    return parse_track_rate_limit(rate_limit).per_second if isinstance(rate_limit, str) else float(rate_limit)


def plan(
    events_per_day: float,
    *,
    peak_factor: float | None = None,
    rate_limit: float | str | None = None,
    headroom: float | None = None,
    batch_size: int | None = None,
    event_bytes: int | None = None,
    events_per_sender: float | None = None,
    worker_rps: float | None = None,
) -> CapacityPlan:
    """The plan for ``events_per_day``; a parameter left None takes its option's declared default."""
    d = OPTIONS.default
    peak_factor = d("peak_factor") if peak_factor is None else peak_factor
    limit = _per_second(d("rate_limit") if rate_limit is None else rate_limit)
    headroom = d("headroom") if headroom is None else headroom
    event_bytes = d("event_bytes") if event_bytes is None else event_bytes
    events_per_sender = d("events_per_sender") if events_per_sender is None else events_per_sender
    worker_rps = d("worker_rps") if worker_rps is None else worker_rps
    steps: list[tuple[str, str, str]] = []
    average = events_per_day / SECONDS_PER_DAY
    peak = average * peak_factor
    steps.append(("average", f"{_n(events_per_day)} / {_n(SECONDS_PER_DAY)} s", f"{_n(average)} events/s"))
    steps.append(("peak", f"{_n(average)} x {_g(peak_factor)}", f"{_n(peak)} events/s"))
    tier = _tier(events_per_day)
    steps.append(("tier", _tier_reason(events_per_day), tier))
    budget = request_budget(limit, headroom)
    steps.append(
        ("request budget", f"{_g(limit)} req/s x (1 - {_g(headroom)} headroom)", f"{_n(budget)} req/s")
    )
    max_by_bytes = max(1, CLIENT_BATCH_BYTES // event_bytes)
    max_batch = min(CLIENT_BATCH_OPERATIONS, max_by_bytes)
    steps.append(
        (
            "batch ceiling",
            f"min({CLIENT_BATCH_OPERATIONS} ops, {_n(CLIENT_BATCH_BYTES)} B / {event_bytes} B)",
            f"{max_batch} ops",
        )
    )
    needed = math.ceil(peak / budget)
    steps.append(("min batch", f"ceil({_n(peak)} / {_n(budget)})", f"{needed} ops per request"))
    if batch_size is None:
        batch_size = (
            1 if tier == "direct" and needed <= 1 else min(max_batch, math.ceil(needed * DRAIN_FACTOR))
        )
        steps.append(("batch size", _batch_reason(tier, needed, max_batch), f"{batch_size} ops"))
    else:
        steps.append(("batch size", "given with --batch-size", f"{batch_size} ops"))
    requests = peak / batch_size
    fits = batch_size <= max_batch and requests <= budget
    steps.append(
        (
            "peak requests",
            f"{_n(peak)} / {batch_size}",
            f"{_n(requests)} req/s ({'fits' if fits else 'OVER'} {_n(budget)})",
        )
    )
    ceiling = budget * batch_size
    steps.append(
        (
            "delivery ceiling",
            f"{_n(budget)} req/s x {batch_size} ops",
            f"{_n(ceiling)} events/s ({ceiling / peak:.1f}x peak)",
        )
    )
    drain = peak * DRAIN_FACTOR
    senders = 1 if tier == "direct" else max(2, math.ceil(drain / events_per_sender))
    steps.append(("sender workers", _sender_reason(tier, drain, events_per_sender), f"{senders}"))
    partitions = 0 if tier == "direct" else max(6, 2 * senders)
    if partitions:
        steps.append(("partitions", f"max(6, 2 x {senders} senders) (HPA may double them)", f"{partitions}"))
    test_rps = peak * TEST_OVERSHOOT
    workers = max(1, math.ceil(test_rps / worker_rps))
    steps.append(
        (
            "locust workers",
            f"ceil({_n(peak)} x {_g(TEST_OVERSHOOT)} / {_n(worker_rps)} req/s per worker)",
            f"{workers}",
        )
    )
    return CapacityPlan(
        events_per_day, tier, peak, budget, batch_size, requests, fits, senders, partitions, workers, test_rps,
        tuple(steps),
    )  # fmt: skip


def _tier(events_per_day: float) -> str:
    if events_per_day < DIRECT_MAX_PER_DAY:
        return "direct"
    return "queue-based" if events_per_day <= QUEUE_MAX_PER_DAY else "distributed"


def _tier_reason(events_per_day: float) -> str:
    if events_per_day < DIRECT_MAX_PER_DAY:
        return f"{_n(events_per_day)}/day < {_n(DIRECT_MAX_PER_DAY)}"
    if events_per_day <= QUEUE_MAX_PER_DAY:
        return f"{_n(DIRECT_MAX_PER_DAY)} <= {_n(events_per_day)}/day <= {_n(QUEUE_MAX_PER_DAY)}"
    return f"{_n(events_per_day)}/day > {_n(QUEUE_MAX_PER_DAY)}"


def _batch_reason(tier: str, needed: int, max_batch: int) -> str:
    if tier == "direct" and needed <= 1:
        return "direct API: one event per request fits"
    return f"min({max_batch}, ceil({needed} x {_g(DRAIN_FACTOR)} drain factor))"


def _sender_reason(tier: str, drain: float, per_sender: float) -> str:
    if tier == "direct":
        return "direct API: the application sends, no sender pool"
    return f"max(2, ceil({_n(drain)} events/s to drain / {_n(per_sender)} per sender))"


def format_plan(result: CapacityPlan) -> str:
    """The plan as aligned text: one line per step, then the verdict."""
    width = max(len(label) for label, _, _ in result.steps)
    formula_width = max(len(formula) for _, formula, _ in result.steps)
    lines = [f"Capacity plan for {_n(result.events_per_day)} events/day"]
    lines += [
        f"  {label:<{width}}  {formula:<{formula_width}}  = {value}" for label, formula, value in result.steps
    ]
    if result.fits:
        lines.append(
            f"Fits: {_n(result.peak_requests_per_s)} req/s at peak within {_n(result.budget_rps)} req/s."
        )
    else:
        lines.append(
            "Does NOT fit: even full batches exceed the rate budget; raise the workspace limit with "
            "Customer.io, split traffic across workspaces, or lower the peak (smoothing in the queue)."
        )
    return "\n".join(lines)


def _n(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.1f}"


def _g(value: float) -> str:
    return f"{value:g}"


def _count(text: str) -> float:
    try:
        return parse_count(text)
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(
            f"events per day must be a positive count like 50M or 2500000, got {text!r}"
        ) from None


_o = declarer("CAPACITY_", ("capacity",))


OPTIONS = Options(
    "capacity plan",
    (
        _o(
            "--events-per-day",
            None,
            "daily volume, e.g. 50M, 750K (required unless --from-run gives one)",
            type=_count,
        ),  # fmt: skip
        _o(
            "--from-run",
            None,
            "plan with the sender and worker rates per CPU-second measured by `python -m runs "
            "scale` in this run directory (its scale.json) instead of --events-per-sender/--worker-rps",
            metavar="DIR",
        ),  # fmt: skip
        _o("--peak-factor", 3.0, "peak / average", type=float, low=1),
        _o(
            "--kustomize",
            None,
            "also write the plan as a Kustomize overlay over deploy/k8s into this directory: the scale "
            "run on a cluster (kubectl apply -k DIR)",
            metavar="DIR",
        ),  # fmt: skip
        _o(
            "--run-minutes",
            10.0,
            "--kustomize: how long the overlay's master drives the planned test rate",
            type=float,
            low=1,
            high=24 * 60,
        ),  # fmt: skip
        rate_limit_option(
            parse_track_rate_limit, DEFAULT_RATE_LIMITS["track"], "CAPACITY_RATE_LIMIT", ("capacity",)
        ),
        replace(HEADROOM, env="CAPACITY_HEADROOM"),
        _o(
            "--batch-size",
            None,
            f"ops per /api/v2/batch (default: derived, at most {CLIENT_BATCH_OPERATIONS})",
            type=int,
            low=1,
            high=CLIENT_BATCH_OPERATIONS,
        ),  # fmt: skip
        _o("--event-bytes", 600, "average operation size in bytes", type=int, low=1, high=CLIENT_BATCH_BYTES),
        _o(
            "--events-per-sender",
            2000.0,
            "events/s one sender delivers (measure with benchmarks/bench_pipeline.py)",
            type=float,
            low=0,
            low_open=True,
        ),  # fmt: skip
        _o(
            "--worker-rps",
            1000.0,
            "req/s one Locust worker sends (measure with benchmarks/bench_distributed.py)",
            type=float,
            low=0,
            low_open=True,
        ),  # fmt: skip
    ),
)


def _parser() -> Parser:
    parser = Parser(prog="python -m deploy.capacity", description=__doc__.splitlines()[0])
    OPTIONS.add_to(parser, group=False)
    return parser


@dataclass(frozen=True)
class MeasuredRates:
    """Rates a ``python -m runs scale`` run measured, per CPU-second of the process that managed them."""

    events_per_sender: float | None
    worker_rps: float | None
    sender_share: float | None
    """Share of a core each sender used in that run (its rate per CPU-second extrapolates from it)."""
    worker_share: float | None
    events_per_day: float | None


def measured_rates(run_dir: Path) -> MeasuredRates:
    """What the scale run in ``run_dir`` measured (its ``scale.json``).

    ``runs scale`` divides what the senders delivered (the workers sent) by the CPU-seconds they
    spent: the rate of one process given one core, as a deployment gives it. Raises DeployError
    with a one-line reason.
    """
    path = run_dir / "scale.json"
    try:
        data = json.loads(path.read_text())
        measured = data["measured"]
        per_sender, per_worker = (
            measured["events_per_sender_cpu_second"],
            measured["worker_requests_per_cpu_second"],
        )
    except OSError as exc:
        raise DeployError(
            f"--from-run {run_dir}: no scale.json ({exc.strerror}); run `python -m runs scale` first"
        ) from None
    except (ValueError, KeyError, TypeError):
        raise DeployError(
            f"--from-run {path}: not a scale.json written by this version of `python -m runs scale`; run it again"
        ) from None
    return MeasuredRates(per_sender, per_worker, measured.get("sender_cpu_share"),
                         measured.get("worker_cpu_share"), data.get("plan", {}).get("events_per_day"))  # fmt: skip


def _from_run(values: dict[str, Any]) -> None:
    run_dir = values.pop("from_run")
    if run_dir is None:
        return
    rates = measured_rates(Path(str(run_dir)))
    values["events_per_day"] = values["events_per_day"] or rates.events_per_day
    lines = [f"Measured in {run_dir}, per CPU-second of the process (planned as one core per process):"]
    for key, rate, share, what in (
        ("events_per_sender", rates.events_per_sender, rates.sender_share, "events per sender CPU-second"),
        ("worker_rps", rates.worker_rps, rates.worker_share, "requests per Locust worker CPU-second"),
    ):
        if rate is None:
            lines.append(f"  {what}: not measured; keeping {_n(float(values[key]))}")
            continue
        values[key] = rate
        used = "" if share is None else f" (it used {share:.0%} of a core"
        if share is not None and share < LOW_UTILISATION:
            used += ": a linear extrapolation to a full core"
        lines.append(f"  {_n(rate)} {what}{used}{')' if used else ''}")
    print("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    prog = "capacity"
    try:
        values = OPTIONS.values(_parser().parse_checked(argv))
        _from_run(values)
        if values["events_per_day"] is None:
            raise DeployError("--events-per-day is required (or CAPACITY_EVENTS_PER_DAY), e.g. 50M")
    except SuiteError as exc:
        return report(prog, exc)
    overlay, minutes = values.pop("kustomize"), values.pop("run_minutes")
    result = plan(values.pop("events_per_day"), **values)  # the option names are plan()'s parameters
    print(format_plan(result))
    if overlay is not None:
        try:
            _write_overlay(result, Path(str(overlay)), minutes)
        except SuiteError as exc:
            return report(prog, exc)
    return 0 if result.fits else 1


def _write_overlay(result: CapacityPlan, directory: Path, minutes: float) -> None:
    from deploy.overlay import write_overlay

    if directory.exists() and not directory.is_dir():
        raise DeployError(f"--kustomize {directory} is a file; give a directory for the overlay")
    try:
        write_overlay(result, directory, duration_s=minutes * 60)
    except OSError as exc:
        raise DeployError(f"--kustomize {directory}: cannot write the overlay ({exc.strerror})") from None
    senders = (
        f", {result.sender_workers} senders, {result.partitions} partitions"
        if result.tier != "direct"
        else ""
    )
    print(
        f"Kustomize overlay in {directory}: {result.locust_workers} Locust workers{senders}, "
        f"{result.test_rps:,.0f} calls/s for {minutes:g} min; `kubectl apply -k {directory}` (its "
        "kustomization.yaml says how to collect and reconcile the run)"
    )


if __name__ == "__main__":
    sys.exit(main())
