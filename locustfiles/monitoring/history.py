"""Turn successive metric scrapes into ``system_history.csv`` rows (pure functions, no I/O).

Each source (the sandbox, a pipeline ingest, a sender) is read on its own: its counters are reduced
to a few named quantities (:class:`Reading`), per-second rates come from two readings of the same
source, and the rates of all sources are combined into one row. Keeping sources apart means one
endpoint that misses a second cannot make another's counters look like a jump.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from locustfiles.monitoring.scrape import Samples
from plumbing.history import SYSTEM_COLUMNS

__all__ = ["COLUMNS", "Reading", "combine", "rates", "read", "totals"]

COLUMNS = ("timestamp", *SYSTEM_COLUMNS)
"""The documented columns of ``system_history.csv``; an empty cell means no source reported it."""

# Counter quantity -> the column holding its per-second rate.
_RATE_COLUMNS = {
    "requests": "sandbox_requests_per_s",
    "accepted": "sandbox_accepted_per_s",
    "rate_limited": "sandbox_rate_limited_per_s",
    "dropped": "sandbox_dropped_per_s",
    "errors": "sandbox_errors_per_s",
    "ingested": "pipeline_ingested_per_s",
    "delivered": "pipeline_delivered_per_s",
    "dead_letters": "pipeline_dead_letters_per_s",
}
_NOT_ERRORS = frozenset({"accepted", "rate_limited", "dropped"})
# Requests with no workspace (bad credentials) never reach a workspace's rate limiter.
_UNKNOWN_WORKSPACE = "_unknown"
_INGESTED_OUTCOMES = frozenset({"accepted", "ok", "ingested"})
# Metric-name prefix of a service -> the quantities it reports, zero until its series appear.
_ZERO_WHEN_PRESENT = {
    "sandbox_": ("requests", "accepted", "rate_limited", "dropped", "errors"),
    "pipeline_ingest_": ("ingested",),
    "pipeline_sender_": ("delivered", "dead_letters"),
}


@dataclass(frozen=True)
class Reading:
    """One source's cumulative counters and current gauges at one instant."""

    at: float
    counters: dict[str, float] = field(default_factory=dict)
    """Quantities of ``_RATE_COLUMNS`` plus ``track:<workspace>`` (Track requests per workspace)."""
    gauges: dict[str, float] = field(default_factory=dict)
    """``lag`` and ``limit:<workspace>`` (the workspace's Track limit in requests per second)."""


def read(samples: Samples, at: float) -> Reading:
    """Reduce one scrape's samples to the quantities the history needs."""
    counters: dict[str, float] = {}
    gauges: dict[str, float] = {}
    names = {name for name, _ in samples}
    # A service exports a labelled counter only once it has counted something; zero is what it means.
    for prefix, quantities in _ZERO_WHEN_PRESENT.items():
        if any(name.startswith(prefix) for name in names):
            counters.update(dict.fromkeys(quantities, 0.0))
    for (name, label_pairs), value in samples.items():
        labels = dict(label_pairs)
        for key, amount in _counter_quantities(name, labels, value):
            counters[key] = counters.get(key, 0.0) + amount
        for key, amount in _gauge_quantities(name, labels, value):
            gauges[key] = gauges.get(key, 0.0) + amount
    return Reading(at, counters, gauges)


def _counter_quantities(name: str, labels: dict[str, str], value: float) -> list[tuple[str, float]]:
    if name == "sandbox_requests_total":
        outcome = labels.get("outcome", "")
        found = [("requests", value)]
        if outcome not in _NOT_ERRORS:
            found.append(("errors", value))
        elif outcome != "accepted":  # accepted events come from the operations counter below
            found.append((outcome, value))
        workspace = labels.get("workspace", "")
        if labels.get("api") == "track" and workspace != _UNKNOWN_WORKSPACE:
            found.append((f"track:{workspace}", value))
        return found
    if name == "sandbox_operations_accepted_total":
        return [("accepted", value)]
    if name == "pipeline_ingest_events_total":
        return [("ingested", value)] if labels.get("outcome", "accepted") in _INGESTED_OUTCOMES else []
    if name == "pipeline_sender_events_delivered_total":
        return [("delivered", value)]
    if name == "pipeline_sender_dead_letters_total":
        return [("dead_letters", value)]
    return []


def _gauge_quantities(name: str, labels: dict[str, str], value: float) -> list[tuple[str, float]]:
    if name == "sandbox_rate_limit_per_second" and labels.get("api") == "track":
        return [(f"limit:{labels.get('workspace', '')}", value)]
    if name == "pipeline_consumer_lag":
        return [("lag", value)]
    return []


def rates(previous: Reading | None, current: Reading) -> dict[str, float]:
    """The columns one source contributes to a row: rates since ``previous``, and its gauges.

    A counter that went down (the service restarted) gives no rate for that second rather than a
    negative one.
    """
    row: dict[str, float] = {}
    if "lag" in current.gauges:
        row["pipeline_consumer_lag"] = current.gauges["lag"]
    if previous is None or current.at <= previous.at:
        return row
    elapsed = current.at - previous.at
    # A labelled series appears only once it has counted something, so absent before means zero.
    per_second = {
        key: (value - previous.counters.get(key, 0.0)) / elapsed
        for key, value in current.counters.items()
        if value >= previous.counters.get(key, 0.0)
    }
    for key, column in _RATE_COLUMNS.items():
        if key in per_second:
            row[column] = per_second[key]
    budget = _budget_used(per_second, current.gauges)
    if budget is not None:
        row["sandbox_budget_used"] = budget
    return row


def _budget_used(per_second: Mapping[str, float], gauges: Mapping[str, float]) -> float | None:
    # The busiest workspace sets the figure: it is the one that will see 429s first.
    used = [
        per_second.get(f"track:{key[6:]}", 0.0) / limit
        for key, limit in gauges.items()
        if key.startswith("limit:") and limit > 0
    ]
    return max(used) if used else None


def combine(at: float, contributions: Iterable[Mapping[str, float]]) -> dict[str, float | None]:
    """One CSV row from every source's columns: rates and lag add up, budget takes the maximum."""
    row: dict[str, float | None] = dict.fromkeys(COLUMNS)
    row["timestamp"] = at
    for contribution in contributions:
        for column, value in contribution.items():
            earlier = row[column]
            if earlier is None:
                row[column] = value
            elif column == "sandbox_budget_used":
                row[column] = max(earlier, value)
            else:
                row[column] = earlier + value
    return row


def totals(first: Reading, current: Reading) -> dict[str, float]:
    """Counter growth since the run's first reading of this source (for the live view)."""
    return {
        key: value - first.counters.get(key, 0.0)
        for key, value in current.counters.items()
        if key in _RATE_COLUMNS and value >= first.counters.get(key, 0.0)
    }
