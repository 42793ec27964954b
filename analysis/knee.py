"""Find the knee of a ramp: the highest throughput reached before latency or errors gave way.

A knee means saturation, so one slow second is not one: the first ``warmup_s`` of the run (cold
connections, imports, JIT-less first requests) are never a crossing, and a crossing must be sustained,
``sustain_s`` consecutive seconds over a threshold with at least ``min_requests`` requests in each
second's window (a p95 of five requests is the slowest of them). A run that never saturated reports
its peak with ``crossed_by`` None: no knee.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from analysis.locust_csv import AGGREGATED
from analysis.options import OPTIONS

__all__ = ["Knee", "KneeThresholds", "crossings", "find_knee"]

# Locust's windowed percentiles already span ~10 s; the same window for rps and error rate keeps
# one slow second from being called a knee.
SMOOTHING_SECONDS = 10


@dataclass(frozen=True)
class KneeThresholds:
    p95_ms: float = OPTIONS.default("knee_p95_ms")
    error_rate: float = OPTIONS.default("knee_error_rate")
    warmup_s: float = 10.0
    """Seconds from the first traffic never taken as a crossing; at most a quarter of a short run."""
    sustain_s: int = 3
    """Consecutive seconds over a threshold that make a crossing."""
    min_requests: int = 20
    """Requests a second's (10 s) window needs before its p95 and error rate count."""


@dataclass(frozen=True)
class Knee:
    """``timestamp``/``rps``/``users`` at the best smoothed throughput before the crossing.

    ``crossed_by`` is ``"p95"``, ``"error_rate"`` or None when neither threshold was crossed,
    in which case the figures describe the peak of the whole run.
    """

    timestamp: int
    rps: float
    users: int
    p95_ms: float
    error_rate: float
    crossed_at: int | None
    crossed_by: str | None
    thresholds: KneeThresholds

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def smoothed(seconds: pd.DataFrame, window: int = SMOOTHING_SECONDS) -> pd.DataFrame:
    """The ``Aggregated`` per-second series with rolling rps and error rate over ``window`` seconds."""
    agg = seconds[seconds["endpoint"] == AGGREGATED].sort_values("timestamp").reset_index(drop=True)
    roll_req = agg["requests"].rolling(window, min_periods=1).sum()
    roll_fail = agg["failures"].rolling(window, min_periods=1).sum()
    out = agg[["timestamp", "users", "p95_ms"]].copy()
    out["rps"] = agg["rps"].rolling(window, min_periods=1).mean()
    out["error_rate"] = (roll_fail / roll_req.where(roll_req > 0)).fillna(0.0)
    out["window_requests"] = roll_req
    return out


def _sustained(over: pd.Series, seconds: int) -> pd.Series:
    """True at the first second of each run of at least ``seconds`` consecutive True values."""
    run_id = (over != over.shift()).cumsum()
    length = over.groupby(run_id).transform("size")
    first = over & (run_id != run_id.shift())
    return first & (length >= seconds)


def crossings(series: pd.DataFrame, thresholds: KneeThresholds) -> tuple[pd.Series, pd.Series]:
    """Per second of ``series`` (from :func:`smoothed`): where a sustained p95 / error-rate breach starts."""
    active = series.index[series["rps"] > 0]
    start = series["timestamp"].loc[active[0]] if len(active) else series["timestamp"].min()
    span = series["timestamp"].max() - start
    warmup = min(thresholds.warmup_s, span / 4)
    counted = (series["timestamp"] >= start + warmup) & (series["window_requests"] >= thresholds.min_requests)
    over_p95 = counted & (series["p95_ms"] > thresholds.p95_ms)
    over_err = counted & (series["error_rate"] > thresholds.error_rate)
    return _sustained(over_p95, thresholds.sustain_s), _sustained(over_err, thresholds.sustain_s)


def find_knee(seconds: pd.DataFrame, thresholds: KneeThresholds | None = None) -> Knee | None:
    """Return the knee of a per-second frame (see :func:`analysis.transforms.per_second`).

    None when the run has no traffic at all.
    """
    thresholds = thresholds or KneeThresholds()
    series = smoothed(seconds)
    if series.empty or not (series["rps"] > 0).any():
        return None
    over_p95, over_err = crossings(series, thresholds)
    crossed = over_p95 | over_err
    crossed_at = crossed_by = None
    before = series
    if crossed.any():
        i = int(crossed.to_numpy().argmax())
        crossed_at = int(series["timestamp"].iloc[i])
        crossed_by = "p95" if over_p95.iloc[i] else "error_rate"
        before = series.iloc[:i]
        if before.empty or not (before["rps"] > 0).any():
            # Thresholds crossed as soon as traffic began: the crossing second is all we have.
            before = series.iloc[i : i + 1]
    best = before.loc[before["rps"].idxmax()]
    return Knee(
        timestamp=int(best["timestamp"]),
        rps=float(best["rps"]),
        users=int(best["users"]),
        p95_ms=float(best["p95_ms"]) if pd.notna(best["p95_ms"]) else float("nan"),
        error_rate=float(best["error_rate"]),
        crossed_at=crossed_at,
        crossed_by=crossed_by,
        thresholds=thresholds,
    )
