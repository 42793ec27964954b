"""SLO gate: parse thresholds like ``p95 < 500ms`` from YAML/JSON and judge final figures.

Latency, error-rate and rate rules are judged on the final per-endpoint table; the delivery rules
(``lost == 0``, ``duplicates``, ``e2e_p99 < 5s``, ...) on the ``delivery`` block of ``summary.json``,
i.e. the reconciliation of what the target acknowledged against what reached the sandbox.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from analysis.errors import InputError
from analysis.locust_csv import AGGREGATED, PERCENTILES

__all__ = ["Threshold", "Verdict", "evaluate", "load_slo_file", "parse_threshold"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_LATENCY = {*PERCENTILES.values(), "avg", "median", "min", "max"}
_LATENCY_COLUMN = {"avg": "avg_ms", "median": "p50", "min": "min_ms", "max": "max_ms"}
_OTHER = {"error_rate", "rps", "requests", "failures"}
# Delivery metric -> how to read it from the summary's ``delivery`` block (a key, or e2e_ms's key).
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
_DELIVERY_LATENCY = {m for m in DELIVERY_METRICS if m.startswith("e2e_")}
_RULE = re.compile(r"^\s*([a-z0-9_.]+)\s*(==|<=|>=|<|>)\s*([0-9.]+)\s*([a-z%/]*)\s*$", re.I)
_UNITS: dict[str, dict[str, float]] = {
    "latency": {"": 1.0, "ms": 1.0, "s": 1000.0},
    "error_rate": {"": 1.0, "%": 0.01},
    "count": {"": 1.0, "/s": 1.0, "rps": 1.0},
}


@dataclass(frozen=True)
class Threshold:
    """One rule: ``metric op value`` (value in ms for latencies, a fraction for error_rate)."""

    metric: str
    op: str
    value: float
    endpoint: str = AGGREGATED
    text: str = ""


@dataclass(frozen=True)
class Verdict:
    threshold: Threshold
    actual: float
    passed: bool

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        actual = "no data" if math.isnan(self.actual) else _fmt(self.threshold.metric, self.actual)
        return f"{mark}  {self.threshold.endpoint}: {self.threshold.text} (actual {actual})"


def _fmt(metric: str, value: float) -> str:
    if metric == "error_rate":
        return f"{value * 100:.2f}%"
    if metric in _LATENCY or metric in _DELIVERY_LATENCY:
        return f"{value:.0f}ms"
    if metric in DELIVERY_METRICS:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def parse_threshold(text: str, endpoint: str = AGGREGATED, source: Path | None = None) -> Threshold:
    """``"p95 < 500ms"`` -> Threshold. Raises InputError naming the file and the rule."""
    match = _RULE.match(str(text))
    if not match:
        raise InputError(
            source,
            f"cannot read SLO rule {text!r}; write it like 'p95 < 500ms', 'error_rate < 1%' or 'rps > 50'",
        )
    metric, op, number, unit = match.groups()
    metric = metric.lower()
    if metric in _LATENCY or metric in _DELIVERY_LATENCY:
        kind = "latency"
    elif metric == "error_rate":
        kind = "error_rate"
    elif metric in _OTHER or metric in DELIVERY_METRICS:
        kind = "count"
    else:
        known = ", ".join(sorted(_LATENCY | _OTHER | set(DELIVERY_METRICS)))
        raise InputError(source, f"unknown metric {metric!r} in SLO rule {text!r}; use one of {known}")
    scale = _UNITS[kind].get(unit.lower())
    if scale is None:
        allowed = ", ".join(repr(u) for u in _UNITS[kind] if u)
        raise InputError(source, f"unit {unit!r} does not fit {metric} in SLO rule {text!r}; use {allowed}")
    return Threshold(metric, op, float(number) * scale, endpoint, str(text).strip())


def load_slo_file(path: str | Path) -> list[Threshold]:
    """Read a YAML or JSON SLO file.

    Either a list of global rules, or a mapping with ``global`` (a list) and ``endpoints``
    (endpoint -> list), where an endpoint is ``"GET /ok"`` or just the name ``/ok``.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(
            path, f"cannot read SLO file ({exc.strerror}); pass an existing YAML/JSON file"
        ) from None
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


def evaluate(
    final: pd.DataFrame, thresholds: list[Threshold], delivery: dict[str, Any] | None = None
) -> list[Verdict]:
    """Judge each threshold against the final per-endpoint table, or a delivery rule against the
    summary's ``delivery`` block. Missing data fails the rule: a gate that cannot see the figure
    must not pass it (a run without delivery accounting fails ``lost == 0``)."""
    return [
        _judge_delivery(delivery, t) if t.metric in DELIVERY_METRICS else _judge(final, t) for t in thresholds
    ]


def _judge_delivery(delivery: dict[str, Any] | None, threshold: Threshold) -> Verdict:
    value: Any = delivery
    for key in DELIVERY_METRICS[threshold.metric]:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Verdict(threshold, math.nan, False)
    actual = float(value)
    return Verdict(threshold, actual, bool(_OPS[threshold.op](actual, threshold.value)))


def _judge(final: pd.DataFrame, threshold: Threshold) -> Verdict:
    rows = final[final["endpoint"] == threshold.endpoint]
    if rows.empty:
        # A bare name like "/ok" matches every method on it.
        rows = final[final["endpoint"].str.split(" ", n=1).str[-1] == threshold.endpoint]
    column = _LATENCY_COLUMN.get(threshold.metric, threshold.metric)
    values = rows[column].astype("float64").dropna()
    if values.empty:
        return Verdict(threshold, math.nan, False)
    # Several matching rows (one name, several methods): judge the worst.
    worst = values.max() if threshold.op in {"<", "<="} else values.min()
    return Verdict(threshold, float(worst), bool(_OPS[threshold.op](float(worst), threshold.value)))
