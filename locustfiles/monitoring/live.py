"""The Customer.io tab's table: the sampler's latest row and run totals as readable figures.

Only aggregates are shown: metric labels such as ``workspace`` carry site ids, which are secrets.
"""

from __future__ import annotations

from collections.abc import Sequence

from locustfiles.monitoring import history
from locustfiles.monitoring.sampler import SourceState, SystemSampler

__all__ = ["NO_ENDPOINT", "TABLE_STRUCTURE", "tab_rows"]

NO_ENDPOINT = "no metrics endpoint"
TABLE_STRUCTURE = [
    {"key": "figure", "title": "Figure"},
    {"key": "now", "title": "Now"},
    {"key": "run", "title": "This run"},
    {"key": "detail", "title": "Detail"},
]
_DASH = "–"
_NO_ENDPOINT_HINT = "serve Prometheus text at the target's /metrics, or pass --metrics-url URL"
_REPORT_ROW = {
    "figure": "Analysis report",
    "now": _DASH,
    "run": _DASH,
    "detail": "after the run: Download Data tab → Customer.io analysis report",
}
_SANDBOX_ROWS = (
    ("Requests reaching the sandbox", "sandbox_requests_per_s", "requests", "req/s"),
    ("Accepted events", "sandbox_accepted_per_s", "accepted", "events/s"),
    ("Rate limited (429)", "sandbox_rate_limited_per_s", "rate_limited", "req/s"),
    ("Dropped silently", "sandbox_dropped_per_s", "dropped", "req/s"),
    ("Rejected (4xx/5xx other than 429)", "sandbox_errors_per_s", "errors", "req/s"),
)
_PIPELINE_ROWS = (
    ("Pipeline ingested", "pipeline_ingested_per_s", "ingested", "events/s"),
    ("Pipeline delivered", "pipeline_delivered_per_s", "delivered", "events/s"),
    ("Dead letters", "pipeline_dead_letters_per_s", "dead_letters", "events/s"),
)


def tab_rows(sampler: SystemSampler | None, state: str) -> list[dict[str, str]]:
    """Rows for the tab; ``state`` is the runner's state (shown so a frozen table is explained)."""
    if sampler is None:
        return [
            _row("Metrics endpoints", "not started", _DASH, "start a run to sample the target's /metrics")
        ]
    sources = sampler.sources
    totals = _run_totals(sources)
    row = sampler.latest
    rows = [_endpoint_row(sources, sampler.rows_written, state)]
    if not any(source.last for source in sources):
        # Never answered: a table of dashes would look like a quiet target, so say what to do.
        return [*rows, _row("Target-side figures", "unavailable", _DASH, _NO_ENDPOINT_HINT), _REPORT_ROW]
    rows.append(_budget_row(row, sampler.peaks.get("sandbox_budget_used"), sources))
    rows += [
        _rate_row(title, row.get(column), totals.get(key), unit) for title, column, key, unit in _SANDBOX_ROWS
    ]
    if _has_pipeline(sources):
        rows += [_rate_row(t, row.get(c), totals.get(k), u) for t, c, k, u in _PIPELINE_ROWS]
        rows.append(_lag_row(row.get("pipeline_consumer_lag"), sampler.peaks.get("pipeline_consumer_lag")))
    return [*rows, _REPORT_ROW]


def _lag_row(lag: float | None, peak: float | None) -> dict[str, str]:
    run = _DASH if peak is None else f"peak {peak:,.0f}"
    return _row("Queue lag", _number(lag, "events"), run, "Kafka consumer lag, all partitions")


def _row(figure: str, now: str, run: str, detail: str) -> dict[str, str]:
    return {"figure": figure, "now": now, "run": run, "detail": detail}


def _endpoint_row(sources: Sequence[SourceState], rows_written: int, state: str) -> dict[str, str]:
    if not sources:
        return _row(
            "Metrics endpoints",
            NO_ENDPOINT,
            _DASH,
            "none to sample (the target is Customer.io, or --no-target-metrics)",
        )
    details = "; ".join(f"{s.shown_url}: {s.error or 'ok'}" for s in sources)
    ok = sum(s.error is None and s.last is not None for s in sources)
    now = f"{ok}/{len(sources)} answering" if ok else NO_ENDPOINT
    return _row("Metrics endpoints", now, f"{rows_written} samples ({state})", details)


def _budget_row(
    row: dict[str, float | None], peak: float | None, sources: Sequence[SourceState]
) -> dict[str, str]:
    used = row.get("sandbox_budget_used")
    limits = sorted(
        {v for s in sources if s.last for k, v in s.last.gauges.items() if k.startswith("limit:")}
    )
    limit = (
        f"{limits[0]:g} req/s"
        if len(limits) == 1
        else "per-workspace limits"
        if limits
        else "no limit reported"
    )
    now = _DASH if used is None else f"{used * 100:.0f}%"
    run = _DASH if peak is None else f"peak {peak * 100:.0f}%"
    return _row("Track budget used", now, run, f"of the workspace limit ({limit}; busiest workspace)")


def _rate_row(title: str, rate: float | None, total: float | None, unit: str) -> dict[str, str]:
    run = _DASH if total is None else f"{total:,.0f}"
    return _row(title, _number(rate, unit), run, "")


def _number(value: float | None, unit: str) -> str:
    return _DASH if value is None else f"{value:,.1f} {unit}"


def _run_totals(sources: Sequence[SourceState]) -> dict[str, float]:
    summed: dict[str, float] = {}
    for source in sources:
        if source.first is None or source.last is None:
            continue
        for key, value in history.totals(source.first, source.last).items():
            summed[key] = summed.get(key, 0.0) + value
    return summed


def _has_pipeline(sources: Sequence[SourceState]) -> bool:
    keys = {"ingested", "delivered", "dead_letters"}
    return any(s.last and (keys & s.last.counters.keys() or "lag" in s.last.gauges) for s in sources)
