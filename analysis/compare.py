"""Compare a run with a baseline run per endpoint and flag regressions beyond a tolerance."""

from __future__ import annotations

import pandas as pd

from analysis.options import TOLERANCE

__all__ = ["COMPARED", "compare"]

# metric -> True when higher is worse. Absolute floors stop 1 ms -> 2 ms or 0% -> 0.01% from
# counting as a "100% regression".
COMPARED: dict[str, bool] = {
    "p50": True,
    "p95": True,
    "p99": True,
    "avg_ms": True,
    "error_rate": True,
    "rps": False,
}
_FLOORS = {"p50": 1.0, "p95": 1.0, "p99": 1.0, "avg_ms": 1.0, "error_rate": 0.001, "rps": 0.5}


def compare(
    current: pd.DataFrame, baseline: pd.DataFrame, tolerance_pct: float = TOLERANCE.default
) -> pd.DataFrame:
    """Long frame ``endpoint, metric, baseline, current, delta, delta_pct, regression``.

    Endpoints in only one run appear with NaN on the other side and never count as regressions.
    """
    merged = current.merge(baseline, on="endpoint", how="outer", suffixes=("", "_base"), sort=True)
    frames = []
    for metric, higher_is_worse in COMPARED.items():
        cur = merged[metric].astype("float64")
        base = merged[f"{metric}_base"].astype("float64")
        delta = cur - base
        delta_pct = delta / base.where(base != 0) * 100
        limit = tolerance_pct / 100 * base.abs()
        worse = delta if higher_is_worse else -delta
        regression = (worse > limit) & (worse > _FLOORS[metric])
        frames.append(
            pd.DataFrame(
                {
                    "endpoint": merged["endpoint"],
                    "metric": metric,
                    "baseline": base,
                    "current": cur,
                    "delta": delta,
                    "delta_pct": delta_pct,
                    "regression": regression.fillna(False).astype(bool),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
