"""SLO gate: the rule grammar (``p95 < 500ms over 30s for 20s after 30s abort``) and the end-of-run
verdicts.

A rule is ``METRIC OP NUMBER[UNIT]`` followed by optional clauses, in any order:

- ``over D``: judge the figure over the last D (a sliding window) instead of the whole run so far;
- ``for D``: the rule breaches only once it has failed continuously for D;
- ``after D``: not judged during the first D of the run (warm-up);
- ``abort`` or ``warn``: what the live gate does when the rule breaches.

A rule with any clause, or on a live-only series (``target_429_per_s``, ``queue_lag``), is *live*:
the Locust master judges it every second while the run goes on (``locustfiles.gate``) and records
the outcome in ``slo_live.json``, which the end-of-run gate reads. Every other rule is judged once,
on the final figures. This module needs neither Locust nor a service: it only reads files' data.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from analysis.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AGGREGATED",
    "DELIVERY_METRICS",
    "EVERY_ENDPOINT",
    "LIVE_SYSTEM_COLUMNS",
    "Threshold",
    "Verdict",
    "evaluate",
    "format_value",
    "load_slo_file",
    "parse_duration",
    "parse_threshold",
]

AGGREGATED = "Aggregated"  # Locust's name for the all-endpoints row (also analysis.locust_csv's)
EVERY_ENDPOINT = "*"
"""An ``endpoints`` key meaning: judge the rule on each endpoint separately."""

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
}
_PERCENTILES = ("p50", "p66", "p75", "p80", "p90", "p95", "p98", "p99", "p99.9", "p99.99", "p100")
_LATENCY = {*_PERCENTILES, "avg", "median", "min", "max"}
_LATENCY_COLUMN = {"avg": "avg_ms", "median": "p50", "min": "min_ms", "max": "max_ms"}
_LOCUST_OTHER = {"error_rate", "rps", "requests", "failures"}
LIVE_SYSTEM_COLUMNS = {
    "target_429_per_s": "sandbox_rate_limited_per_s",
    "dropped": "sandbox_dropped_per_s",
    "queue_lag": "pipeline_consumer_lag",
}
"""Live target-side series -> the ``system_history.csv`` column the sampler fills each second."""
_LIVE_ONLY = {"target_429_per_s", "queue_lag"}
_SYSTEM_TOTALS = {"target_429": "sandbox_rate_limited_per_s", "dropped": "sandbox_dropped_per_s"}
_SYSTEM_END = {*_SYSTEM_TOTALS, "queue_lag_max"}
# Delivery metric -> how to read it from the summary's ``delivery`` block (a key, or e2e_ms's key):
# the reconciliation of what the target acknowledged against what reached the sandbox.
DELIVERY_METRICS: dict[str, tuple[str, ...]] = {
    "lost": ("lost",),
    "duplicates": ("duplicates",),
    "delivered": ("delivered",),
    "acknowledged": ("acknowledged",),
    "unacknowledged_delivered": ("unacknowledged_delivered",),
    "e2e_p50": ("e2e_ms", "p50"),
    "e2e_p95": ("e2e_ms", "p95"),
    "e2e_p99": ("e2e_ms", "p99"),
    "e2e_max": ("e2e_ms", "max"),
}
_DELIVERY = set(DELIVERY_METRICS)
_DELIVERY_LATENCY = {m for m in DELIVERY_METRICS if m.startswith("e2e_")}
_KNOWN = _LATENCY | _LOCUST_OTHER | set(LIVE_SYSTEM_COLUMNS) | _SYSTEM_END | _DELIVERY

_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_RULE = re.compile(
    rf"^\s*([a-z0-9_.]+)\s*(<=|>=|==|<|>)\s*({_NUMBER})\s*(ms|s|%|/s|rps)?((?:\s+[a-z]+(?:\s+{_NUMBER}[a-z]*)?)*)\s*$",
    re.I,
)
_CLAUSE = re.compile(rf"\s+([a-z]+)(?:\s+({_NUMBER}[a-z]*))?", re.I)
_DURATION = re.compile(rf"^({_NUMBER})(ms|s|m|h)?$", re.I)
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "": 1.0}
_ACTIONS = ("abort", "warn")
_UNITS: dict[str, dict[str, float]] = {
    "latency": {"": 1.0, "ms": 1.0, "s": 1000.0},
    "error_rate": {"": 1.0, "%": 0.01},
    "count": {"": 1.0, "/s": 1.0, "rps": 1.0},
}
_EXAMPLES = "'p95 < 500ms', 'error_rate < 1% for 20s', 'p95 < 500ms over 30s after 30s abort'"


@dataclass(frozen=True)
class Threshold:
    """One rule: ``metric op value`` (value in ms for latencies, a fraction for error_rate)."""

    metric: str
    op: str
    value: float
    endpoint: str = AGGREGATED
    text: str = ""
    window_s: float | None = None
    """``over``: the sliding window in seconds; None is the whole run so far."""
    for_s: float = 0.0
    """``for``: how long the rule must fail without a break before it breaches."""
    after_s: float = 0.0
    """``after``: seconds from the run's start during which the rule is not judged."""
    action: str | None = None
    """``abort`` (stop the run), ``warn`` (log only) or None (record only)."""

    @property
    def live(self) -> bool:
        """Judged every second while the run goes on (see the module docstring)."""
        clauses = self.window_s is not None or self.for_s or self.after_s or self.action
        return bool(clauses) or self.metric in _LIVE_ONLY

    @property
    def system(self) -> bool:
        """A target-side series from the monitoring sampler, not a Locust figure."""
        return self.metric in LIVE_SYSTEM_COLUMNS or self.metric in _SYSTEM_END

    def holds(self, actual: float) -> bool:
        # float == compares exactly; the figures gated with == are counts (0 429s, 0 dropped).
        return bool(_OPS[self.op](actual, self.value))

    @property
    def key(self) -> str:
        """Stable identity of this rule in a file: endpoint and text."""
        return f"{self.endpoint}: {self.text}"


@dataclass(frozen=True)
class Verdict:
    threshold: Threshold
    actual: float
    passed: bool
    endpoint: str | None = None
    """The endpoint judged, when it differs from the rule's (a bare name, ``*``)."""
    parts: tuple[Verdict, ...] = ()
    """One verdict per endpoint when the rule matched several; this one is the worst."""
    detail: str = ""

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        actual = "no data" if math.isnan(self.actual) else format_value(self.threshold.metric, self.actual)
        extra = f"; {self.detail}" if self.detail else ""
        return f"{mark}  {self.endpoint or self.threshold.endpoint}: {self.threshold.text} (actual {actual}{extra})"


def format_value(metric: str, value: float) -> str:
    """A measured value as the rule would write it: ``512ms``, ``2.50%``, ``37.0``."""
    if metric == "error_rate":
        return f"{value * 100:.2f}%"
    if metric in _LATENCY or metric in _DELIVERY_LATENCY:
        return f"{value:.0f}ms"
    if metric in _DELIVERY:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def parse_duration(text: str, where: str = "duration", source: Path | None = None) -> float:
    """``30s`` / ``1.5m`` / ``500ms`` / ``90`` (seconds) -> seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise InputError(source, f"{where}: {text!r} is not a duration; write e.g. 30s, 2m or 500ms")
    return float(match.group(1)) * _SECONDS[(match.group(2) or "").lower()]


def parse_threshold(text: str, endpoint: str = AGGREGATED, source: Path | None = None) -> Threshold:
    """``"p95 < 500ms over 30s abort"`` -> Threshold. Raises InputError naming the file and the rule."""
    match = _RULE.match(str(text))
    if not match:
        raise InputError(source, f"cannot read SLO rule {text!r}; write it like {_EXAMPLES}")
    metric, op, number, unit, clauses = match.groups()
    metric, unit = metric.lower(), unit or ""
    if metric not in _KNOWN:
        known = ", ".join(sorted(_KNOWN))
        raise InputError(source, f"unknown metric {metric!r} in SLO rule {text!r}; use one of {known}")
    kind = "latency" if metric in _LATENCY or metric in _DELIVERY_LATENCY else metric
    kind = kind if kind in _UNITS else "count"
    scale = _UNITS[kind].get(unit.lower())
    if scale is None:
        allowed = ", ".join(repr(u) for u in _UNITS[kind] if u)
        raise InputError(source, f"unit {unit!r} does not fit {metric} in SLO rule {text!r}; use {allowed}")
    rule = Threshold(metric, op, float(number) * scale, endpoint, str(text).strip())
    rule = _with_clauses(rule, clauses, source)
    _check_kind(rule, source)
    return rule


def _with_clauses(rule: Threshold, clauses: str, source: Path | None) -> Threshold:
    seen: set[str] = set()
    for match in _CLAUSE.finditer(clauses):
        word, value = match.group(1).lower(), match.group(2)
        where = f"SLO rule {rule.text!r}"
        if word in seen or (word in _ACTIONS and seen & set(_ACTIONS)):
            raise InputError(source, f"{where} says {word!r} twice (or both abort and warn); keep one")
        seen.add(word)
        if word in _ACTIONS and value is None:
            rule = replace(rule, action=word)
        elif word in ("over", "for", "after") and value is not None:
            seconds = parse_duration(value, where, source)
            if word == "over" and seconds < 1:
                raise InputError(source, f"{where}: a window ('over') must be at least 1s")
            if word == "over":
                rule = replace(rule, window_s=seconds)
            elif word == "for":
                rule = replace(rule, for_s=seconds)
            else:
                rule = replace(rule, after_s=seconds)
        else:
            raise InputError(
                source,
                f"{where}: cannot read {match.group(0).strip()!r}; clauses are 'over 30s', 'for 20s', "
                "'after 30s', 'abort' and 'warn'",
            )
    return rule


def _check_kind(rule: Threshold, source: Path | None) -> None:
    where = f"SLO rule {rule.text!r}"
    if rule.live and rule.metric in _SYSTEM_END - set(LIVE_SYSTEM_COLUMNS):
        live_name = "target_429_per_s" if rule.metric == "target_429" else "queue_lag"
        raise InputError(source, f"{where}: {rule.metric} is an end-of-run figure; use {live_name} live")
    if rule.live and rule.metric in _DELIVERY:
        raise InputError(source, f"{where}: {rule.metric} is known only after the run; drop the clauses")
    if rule.system and rule.endpoint != AGGREGATED:
        raise InputError(source, f"{where}: {rule.metric} is a target-side series; put it under 'global'")


def load_slo_file(path: str | Path) -> list[Threshold]:
    """Read a YAML or JSON SLO file.

    Either a list of global rules, or a mapping with ``global`` (a list) and ``endpoints``
    (endpoint -> list), where an endpoint is ``"GET /ok"``, just the name ``/ok`` (every method on
    it), or ``"*"`` (each endpoint on its own).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(
            path, f"cannot read SLO file ({exc.strerror}); pass an existing YAML/JSON file"
        ) from None
    except UnicodeDecodeError:
        raise InputError(path, "not a text file; pass a YAML/JSON SLO file") from None
    try:
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(
            path, f"not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({first})"
        ) from None
    if isinstance(data, list):
        data = {"global": data}
    if not isinstance(data, dict) or not set(data) <= {"global", "endpoints"}:
        raise InputError(path, "expected a list of rules, or a mapping with 'global' and/or 'endpoints'")
    rules = [parse_threshold(r, AGGREGATED, path) for r in _as_list(data.get("global"), "global", path)]
    endpoints = data.get("endpoints") or {}
    if not isinstance(endpoints, dict):
        raise InputError(path, "'endpoints' must map an endpoint name to a list of rules")
    for endpoint, items in endpoints.items():
        rules += [parse_threshold(r, str(endpoint), path) for r in _as_list(items, str(endpoint), path)]
    if not rules:
        raise InputError(path, "no SLO rules found; add e.g. 'global: [\"p95 < 500ms\"]'")
    return rules


def _as_list(items: object, where: str, path: Path) -> list[str]:
    if items is None:
        return []
    if isinstance(items, str):
        return [items]
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise InputError(path, f"rules under {where!r} must be a list of strings like 'p95 < 500ms'")
    return items


def endpoint_matches(rule_endpoint: str, name: str) -> bool:
    """Does the rule's endpoint (``GET /a``, ``/a``, ``*``, ``Aggregated``) cover Locust's ``name``?"""
    if rule_endpoint == EVERY_ENDPOINT:
        return name != AGGREGATED
    return name == rule_endpoint or (name != AGGREGATED and name.split(" ", 1)[-1] == rule_endpoint)


@dataclass(frozen=True)
class _Inputs:
    """Everything the end-of-run gate can read besides the final table."""

    delivery: Mapping[str, Any] | None
    system: pd.DataFrame | None
    live: Mapping[str, Any] | None


def evaluate(
    final: pd.DataFrame,
    thresholds: Iterable[Threshold],
    delivery: Mapping[str, Any] | None = None,
    *,
    system: pd.DataFrame | None = None,
    live: Mapping[str, Any] | None = None,
) -> list[Verdict]:
    """Judge each threshold: on the final per-endpoint table, the summary's ``delivery`` block
    (delivery accounting), ``system_history.csv`` (the sampler's target-side series) or
    ``slo_live.json`` (the live gate's record of each live rule). Missing data fails the rule: a
    gate that cannot see the figure must not pass it (a run without delivery accounting fails
    ``lost == 0``)."""
    inputs = _Inputs(delivery, system, live)
    return [_judge(final, t, inputs) for t in thresholds]


def _judge(final: pd.DataFrame, threshold: Threshold, inputs: _Inputs) -> Verdict:
    if threshold.live:
        if inputs.live is None and threshold.system and inputs.system is not None:
            return _replay_system(threshold, inputs.system)
        return _judge_live(threshold, inputs.live)
    if threshold.system:
        return _judge_system(threshold, inputs.system)
    if threshold.metric in _DELIVERY:
        return _judge_delivery(threshold, inputs.delivery)
    return _judge_final(final, threshold)


def _judge_final(final: pd.DataFrame, threshold: Threshold) -> Verdict:
    rows = final[final["endpoint"] == threshold.endpoint]
    if rows.empty:
        rows = final[[endpoint_matches(threshold.endpoint, str(e)) for e in final["endpoint"]]]
    column = _LATENCY_COLUMN.get(threshold.metric, threshold.metric)
    parts = tuple(
        _verdict(threshold, float(value), str(endpoint))
        for endpoint, value in zip(rows["endpoint"], rows[column].astype("float64"), strict=True)
        if not math.isnan(float(value))
    )
    if not parts:
        return Verdict(threshold, math.nan, False)
    return _worst(threshold, parts)


def _verdict(threshold: Threshold, actual: float, endpoint: str | None = None, detail: str = "") -> Verdict:
    return Verdict(threshold, actual, threshold.holds(actual), endpoint, detail=detail)


def _worst(threshold: Threshold, parts: tuple[Verdict, ...]) -> Verdict:
    # Several matching rows (one name, several methods, or "*"): the worst one speaks for the rule,
    # and each endpoint keeps its own verdict in ``parts`` (JUnit shows one testcase per endpoint).
    failed = [p for p in parts if not p.passed]
    pick = max if threshold.op in {"<", "<="} else min
    worst = pick(failed or list(parts), key=lambda p: -math.inf if math.isnan(p.actual) else p.actual)
    several = len(parts) > 1 or threshold.endpoint == EVERY_ENDPOINT
    return Verdict(threshold, worst.actual, not failed, None, parts if several else (), worst.detail)


def _judge_system(threshold: Threshold, system: pd.DataFrame | None) -> Verdict:
    if system is None or not len(system):
        return Verdict(threshold, math.nan, False, detail="no system_history.csv")
    if threshold.metric == "queue_lag_max":
        values = system["pipeline_consumer_lag"].dropna()
        actual = float(values.max()) if len(values) else math.nan
    else:
        column = _SYSTEM_TOTALS.get(threshold.metric, LIVE_SYSTEM_COLUMNS.get(threshold.metric, ""))
        actual = _total(system, column)
    if math.isnan(actual):
        return Verdict(threshold, actual, False, detail="the target reported no such series")
    return _verdict(threshold, actual)


def _total(system: pd.DataFrame, column: str) -> float:
    """A per-second rate column summed over the seconds each row covers (= the counter's growth)."""
    rows = system[["timestamp", column]].dropna()
    if not len(rows):
        return math.nan
    spans = rows["timestamp"].diff()
    spans.iloc[0] = spans.median() if len(rows) > 1 else 1.0
    return float(round((rows[column] * spans).sum(), 3))


def _replay_system(threshold: Threshold, system: pd.DataFrame) -> Verdict:
    # Without the live gate's record, a target-side rule is replayed over the same per-second
    # series the sampler fed the live gate, so both judge alike. Imported here: rule_state uses this module.
    from analysis.rule_state import replay

    column = LIVE_SYSTEM_COLUMNS[threshold.metric]
    start = float(system["timestamp"].iloc[0]) - 1.0
    points = [
        (float(t) - start, None if math.isnan(v) else float(v))
        for t, v in zip(system["timestamp"], system[column], strict=True)
    ]
    state = replay(threshold, points)
    return (
        _live_part(threshold, {**state.record(), "endpoint": threshold.endpoint})
        if state.judged
        else Verdict(threshold, math.nan, False, detail="the target reported no such series")
    )


def _judge_delivery(threshold: Threshold, delivery: Mapping[str, Any] | None) -> Verdict:
    value: Any = delivery
    for key in DELIVERY_METRICS[threshold.metric]:
        value = value.get(key) if isinstance(value, Mapping) else None
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        return Verdict(threshold, math.nan, False)
    return _verdict(threshold, float(value))


def _judge_live(threshold: Threshold, live: Mapping[str, Any] | None) -> Verdict:
    records = [] if live is None else [r for r in live.get("rules", []) if r.get("key") == threshold.key]
    if not records:
        return Verdict(threshold, math.nan, False, detail="not judged live (no slo_live.json entry)")
    return _worst(threshold, tuple(_live_part(threshold, r) for r in records))


def _live_part(threshold: Threshold, record: Mapping[str, Any]) -> Verdict:
    worst = record.get("worst")
    actual = float(worst) if isinstance(worst, int | float) else math.nan
    tripped = record.get("tripped_at_s")
    if tripped is not None:
        value = record.get("trip_value")
        shown = format_value(threshold.metric, float(value)) if isinstance(value, int | float) else "?"
        detail = f"breached at {float(tripped):.0f}s into the run with {shown}"
        return Verdict(threshold, actual, False, str(record.get("endpoint")), detail=detail)
    if math.isnan(actual):
        return Verdict(threshold, actual, False, str(record.get("endpoint")), detail="never judged live")
    return Verdict(threshold, actual, True, str(record.get("endpoint")), detail="held all run (worst shown)")
