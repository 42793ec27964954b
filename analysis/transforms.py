"""DataFrame in, DataFrame out: everything the report computes, with no drawing.

Time series are per second and keyed by ``timestamp`` (unix s) and ``endpoint``; the totals
row/series is named ``Aggregated`` as in Locust.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.locust_csv import AGGREGATED, PERCENTILES
from plumbing.failures import ERROR_KINDS, classify_error

__all__ = [
    "ERROR_KINDS",
    "classify_error",
    "downsample",
    "elapsed_seconds",
    "run_start",
    "error_kinds",
    "error_rate_by_kind",
    "final_from_json",
    "final_from_stats",
    "histogram_percentiles",
    "latency_distribution",
    "per_second",
    "PER_SECOND_INPUTS",
]

PERCENTILE_LEVELS: dict[str, float] = {
    col: float(label.rstrip("%")) / 100 for label, col in PERCENTILES.items()
}
FINAL_COLUMNS = [
    "endpoint",
    "requests",
    "failures",
    "error_rate",
    "rps",
    "avg_ms",
    "min_ms",
    "max_ms",
    *PERCENTILES.values(),
]


def error_kinds(failures: pd.DataFrame) -> pd.DataFrame:
    """Failures with a ``kind`` column added."""
    out = failures.copy()
    out["kind"] = pd.Categorical([classify_error(m) for m in out["error"]], categories=ERROR_KINDS)
    return out


def final_from_stats(stats: pd.DataFrame) -> pd.DataFrame:
    """The final per-endpoint table from ``_stats.csv`` rows."""
    out = stats[
        ["endpoint", "requests", "failures", "rps", "avg_ms", "min_ms", "max_ms", *PERCENTILES.values()]
    ].copy()
    out["error_rate"] = _ratio(out["failures"], out["requests"])
    return out[FINAL_COLUMNS].reset_index(drop=True)


def final_from_json(totals: pd.DataFrame, histograms: Mapping[str, Mapping[int, int]]) -> pd.DataFrame:
    """The final per-endpoint table from Locust's ``--json-file`` output, plus ``Aggregated``.

    Percentiles use Locust's own rule on its rounded-response-time histogram, so they equal the
    console's figures; rps is requests over each entry's first-to-last-request span, as Locust does.
    """
    rows = [_json_row(r, histograms.get(str(r["endpoint"]), {})) for r in totals.to_dict("records")]
    rows.sort(key=lambda row: str(row["endpoint"]))
    merged: dict[int, int] = {}
    for hist in histograms.values():
        for ms, n in hist.items():
            merged[ms] = merged.get(ms, 0) + n
    agg: dict[str, object] = {
        "endpoint": AGGREGATED,
        "requests": int(totals["requests"].sum()),
        "failures": int(totals["failures"].sum()),
        "total_ms": float(totals["total_ms"].sum()),
        "min_ms": float(totals["min_ms"].min()) if len(totals) else 0.0,
        "max_ms": float(totals["max_ms"].max()) if len(totals) else 0.0,
        "start": float(totals["start"].min()) if len(totals) else 0.0,
        "last": float(totals["last"].max()) if len(totals) else 0.0,
    }
    rows.append(_json_row(agg, merged))
    out = pd.DataFrame(rows)
    out["requests"] = out["requests"].astype("int64")
    out["failures"] = out["failures"].astype("int64")
    out["error_rate"] = _ratio(out["failures"], out["requests"])
    return out[FINAL_COLUMNS]


def _json_row(entry: Mapping[str, object], hist: Mapping[int, int]) -> dict[str, object]:
    requests = int(entry["requests"])  # type: ignore[call-overload]
    span = float(entry["last"]) - float(entry["start"])  # type: ignore[arg-type]
    row: dict[str, object] = {
        "endpoint": entry["endpoint"],
        "requests": requests,
        "failures": int(entry["failures"]),  # type: ignore[call-overload]
        "rps": requests / span if span > 0 else float(requests),
        "avg_ms": float(entry["total_ms"]) / requests if requests else math.nan,  # type: ignore[arg-type]
        "min_ms": float(entry["min_ms"]) if requests else math.nan,  # type: ignore[arg-type]
        "max_ms": float(entry["max_ms"]) if requests else math.nan,  # type: ignore[arg-type]
    }
    levels = list(PERCENTILE_LEVELS.values())
    row.update(zip(PERCENTILES.values(), histogram_percentiles(hist, levels), strict=True))
    return row


def histogram_percentiles(hist: Mapping[int, int], levels: Sequence[float]) -> list[float]:
    """Locust's ``calculate_response_time_percentile`` for several levels at once.

    Walking from the slowest bucket down, the answer is the first bucket at which no more than
    ``int(total * level)`` requests remain below.
    """
    total = sum(hist.values())
    if not total:
        return [math.nan] * len(levels)
    times = np.array(sorted(hist, reverse=True), dtype="float64")
    counts = np.array([hist[int(t)] for t in times], dtype="int64")
    remaining = total - np.cumsum(counts)
    out = []
    for level in levels:
        idx = np.flatnonzero(remaining <= int(total * level))
        out.append(float(times[idx[0]]) if len(idx) else 0.0)
    return out


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    num = num.astype("float64")
    den = den.astype("float64")
    return (num / den.where(den > 0)).astype("float64")


PER_SECOND_INPUTS = ("users", "total_requests", "total_failures", "p50", "p95", "p99")
"""The history columns :func:`per_second` reads (besides ``timestamp`` and ``endpoint``)."""


def per_second(history: pd.DataFrame) -> pd.DataFrame:
    """Per-second requests, failures and error rate per endpoint from Locust's cumulative counters.

    Locust's own ``Requests/s`` history column is a moving average that reads 0 for the first
    seconds; differencing ``Total Request Count`` gives what happened in each second instead.
    A counter that goes down (stats reset) restarts from its new value.
    """
    # Work on one array per column in each endpoint's time order, and put the rows back in time
    # order once at the end: a 24 h soak has ~1M rows, and each frame copy costs 100 MB.
    # Locust appends rows in time order, so a stable sort by endpoint code keeps each series sorted.
    endpoint = history["endpoint"].array
    order = np.argsort(endpoint.codes, kind="stable")
    codes = endpoint.codes[order]
    ts = history["timestamp"].to_numpy()[order]
    # Two writes within one wall-clock second share a timestamp: keep the later one.
    last_of_second = np.r_[(codes[1:] != codes[:-1]) | (ts[1:] != ts[:-1]), True]
    if not last_of_second.all():
        order, codes, ts = order[last_of_second], codes[last_of_second], ts[last_of_second]
    first = np.r_[True, codes[1:] != codes[:-1]]
    dt = np.where(first, 1, np.diff(ts, prepend=ts[:1]))
    counts = {}
    for total, name in (("total_requests", "requests"), ("total_failures", "failures")):
        values = history[total].to_numpy()[order]
        delta = np.diff(values, prepend=values[:1])
        counts[name] = np.where(first | (delta < 0), values, delta)
    groups = _report_groups(counts["requests"], first)
    back = np.lexsort((codes, ts))  # time order, endpoints by code within a second
    columns: dict[str, object] = {
        "timestamp": ts[back],
        "endpoint": pd.Categorical.from_codes(codes[back], dtype=endpoint.dtype),
        "users": history["users"].to_numpy()[order[back]],
    }
    for name, rate in (("requests", "rps"), ("failures", "fail_rps")):
        spread = (counts[name] if groups is None else _spread(counts[name], groups))[back]
        columns[name] = spread
        columns[rate] = spread / dt[back]
    out = pd.DataFrame(columns)
    out["error_rate"] = _ratio(out["failures"], out["requests"])
    for col in ("p50", "p95", "p99"):
        out[f"{col}_ms"] = history[col].to_numpy()[order[back]]
    return out


# In distributed runs workers report to the master every 3 s (Locust's WORKER_REPORT_INTERVAL), so
# the master's counters move in steps: 0, 0, 3 s worth. Charted per second that is a comb, not a rate.
_MAX_REPORT_GAP = 4
_BATCHED_ZERO_SHARE = 0.3


def _report_groups(requests: np.ndarray, first: np.ndarray) -> np.ndarray | None:
    """Group each silent second with the report that follows it, when reports come in batches.

    Returns a group id per row, or None when the run reports every second (a single-process run,
    whose silent seconds are real pauses and must stay zero).
    """
    active = np.flatnonzero(requests)
    if active.size < 3:
        return None
    inside = requests[active[0] : active[-1] + 1]
    if np.mean(inside == 0) < _BATCHED_ZERO_SHARE:
        return None
    last = np.r_[first[1:], True]  # each series' last row closes its final group
    marker = (requests != 0) | last
    return np.cumsum(marker) - marker


def _spread(counts: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Share each group's count evenly over its seconds; long silent gaps stay as they were."""
    sizes = np.bincount(groups)
    sums = np.bincount(groups, weights=counts)
    spreadable = (sizes <= _MAX_REPORT_GAP)[groups]
    return np.where(spreadable, sums[groups] / sizes[groups], counts).astype("float64")


def error_rate_by_kind(seconds: pd.DataFrame, kinds: pd.DataFrame) -> pd.DataFrame:
    """Failures per second split by kind, summed over endpoints: ``timestamp``, ``kind``, ``fail_rps``,
    ``share`` (of all requests that second).

    Locust's history counts failures per endpoint but not per message, so each endpoint's failures
    in a second are split in proportion to its messages' totals in ``_failures.csv``; where
    First/Last Seen exist (Locust >= 2.44) only kinds seen around that second take part. Exact
    whenever an endpoint fails in one way at a time.
    """
    failing = (seconds["endpoint"] != AGGREGATED).to_numpy() & (seconds["failures"] > 0).to_numpy()
    rows = seconds[failing]
    if rows.empty:
        return pd.DataFrame(
            {
                "timestamp": pd.Series(dtype="int64"),
                "kind": pd.Categorical([], ERROR_KINDS),
                "fail_rps": pd.Series(dtype="float64"),
                "share": pd.Series(dtype="float64"),
            }
        )
    # numpy throughout: a day's soak has ~200k failing (endpoint, second) rows.
    split = _kind_weights(rows, kinds) * rows["failures"].to_numpy()  # (kinds, rows)
    stamps, second_of_row = np.unique(rows["timestamp"].to_numpy(), return_inverse=True)
    wide = np.stack([np.bincount(second_of_row, weights=w, minlength=len(stamps)) for w in split])
    # One row per (second, kind), kinds in ERROR_KINDS order within a second.
    timestamp = np.repeat(stamps, len(ERROR_KINDS))
    fail_rps = wide.T.ravel()
    aggregated = seconds[seconds["endpoint"] == AGGREGATED]
    agg_ts = aggregated["timestamp"].to_numpy()
    agg_requests = aggregated["requests"].to_numpy().astype("float64")
    at = np.minimum(np.searchsorted(agg_ts, timestamp), max(len(agg_ts) - 1, 0))
    requests = np.full(len(timestamp), np.nan)
    if len(agg_ts):
        found = agg_ts[at] == timestamp
        requests[found] = agg_requests[at[found]]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = fail_rps / np.where(requests > 0, requests, np.nan)
    codes = np.tile(np.arange(len(ERROR_KINDS)), len(stamps))
    return pd.DataFrame(
        {
            "timestamp": timestamp,
            "kind": pd.Categorical.from_codes(codes, categories=ERROR_KINDS),
            "fail_rps": fail_rps,
            "share": share,
        }
    )


def _kind_weights(rows: pd.DataFrame, kinds: pd.DataFrame) -> np.ndarray:
    """(kinds, rows): per failing (endpoint, second) row, the fraction of its failures each kind gets."""
    weights = np.zeros((len(ERROR_KINDS), len(rows)))
    ts = rows["timestamp"].to_numpy()
    row_endpoint, endpoints = pd.factorize(rows["endpoint"])
    kind_endpoint = pd.Index(endpoints).get_indexer(kinds["endpoint"])
    for rec, endpoint in zip(kinds.itertuples(index=False), kind_endpoint, strict=True):
        if endpoint < 0:
            continue
        active = row_endpoint == endpoint
        if pd.notna(rec.first_seen) and pd.notna(rec.last_seen):
            lo, hi = rec.first_seen.timestamp() - 1, rec.last_seen.timestamp() + 1
            active &= (ts >= lo) & (ts <= hi)
        weights[ERROR_KINDS.index(str(rec.kind))] += np.where(active, rec.occurrences, 0)
    # Rows no message explains (failures.csv trails history by up to a second) count as "other".
    unexplained = weights.sum(axis=0) == 0
    weights[ERROR_KINDS.index("other"), unexplained] = 1
    return weights / weights.sum(axis=0)


def latency_distribution(final: pd.DataFrame) -> pd.DataFrame:
    """Long frame ``endpoint, percentile (0..1), ms`` for endpoints with requests."""
    wide = final.loc[final["requests"] > 0, ["endpoint", *PERCENTILES.values()]]
    long = wide.melt(id_vars="endpoint", var_name="level", value_name="ms")
    long["percentile"] = long["level"].map(PERCENTILE_LEVELS)
    return long[["endpoint", "percentile", "ms"]].dropna().reset_index(drop=True)


def downsample(frame: pd.DataFrame, max_points: int = 1500, peaks: Sequence[str] = ()) -> pd.DataFrame:
    """Average a per-second frame into at most ``max_points`` time bins per endpoint/kind.

    Columns in ``peaks`` (latency percentiles) keep each bin's maximum so spikes stay visible.
    NaN is skipped within a bin. Returns the frame unchanged when it is already short enough.
    Only what is drawn is reduced: figures and verdicts come from the full frame.
    """
    if frame.empty:
        return frame
    ts = frame["timestamp"].to_numpy()
    span = int(ts.max() - ts.min()) + 1
    width = math.ceil(span / max_points)
    if width <= 1:
        return frame
    keys = [c for c in ("endpoint", "kind") if c in frame.columns]
    # One group per (bin, series), bins first as a sorted groupby would give them. The reductions
    # run over contiguous groups (numpy reduceat): a pandas groupby on ~1M rows cost 0.6 s here.
    binned = ts - ts % width
    group = (binned - binned.min()) // width
    kept = np.ones(len(frame), dtype=bool)
    for key in keys:
        codes = _codes(frame[key])
        kept &= codes >= 0  # a missing key is no series, as in groupby
        group = group * (int(codes.max()) + 1) + codes
    order = np.argsort(group, kind="stable")
    order = order[kept[order]]
    grouped = group[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    heads = order[starts]
    columns: dict[str, object] = {"timestamp": binned[heads]}
    for key in keys:
        columns[key] = frame[key].iloc[heads].to_numpy()
    for col in frame.columns:
        if col in keys or col == "timestamp" or not pd.api.types.is_numeric_dtype(frame[col]):
            continue
        values = frame[col].to_numpy()[order]
        if col in peaks:
            columns[col] = np.fmax.reduceat(values, starts)
            continue
        values = values.astype("float64")
        present = ~np.isnan(values)
        with np.errstate(invalid="ignore", divide="ignore"):  # an all-NaN bin's mean is NaN
            columns[col] = np.add.reduceat(np.where(present, values, 0.0), starts) / np.add.reduceat(
                present, starts
            )
    out = pd.DataFrame(columns)
    for key in keys:
        if isinstance(frame[key].dtype, pd.CategoricalDtype):
            out[key] = pd.Categorical(out[key], dtype=frame[key].dtype)
    return out


def _codes(column: pd.Series) -> np.ndarray:
    """Integer codes of a key column in sorted order (-1 for missing), as a sorted groupby orders it."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy().astype("int64")
    return pd.factorize(column, sort=True)[0].astype("int64")


def run_start(*frames: pd.DataFrame | None) -> float | None:
    """The earliest ``timestamp`` in ``frames`` (Unix seconds): where a run's elapsed time starts."""
    firsts = [float(f["timestamp"].min()) for f in frames if f is not None and len(f)]
    return min(firsts) if firsts else None


def elapsed_seconds(timestamps: pd.Series | Sequence[float], start: float) -> np.ndarray:
    """Seconds from ``start`` for each Unix ``timestamp``: the x values of every over-time chart."""
    return np.asarray(timestamps, dtype=float) - start
