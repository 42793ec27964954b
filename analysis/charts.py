"""Draw the report's charts. Each function takes frames and returns a matplotlib ``Figure``.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so nothing global is
touched, no display is needed and callers never have to close anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.knee import Knee
from analysis.locust_csv import AGGREGATED
from analysis.transforms import ERROR_KINDS, PERCENTILE_LEVELS

__all__ = [
    "distribution_chart",
    "endpoint_latency_chart",
    "endpoint_summary_chart",
    "error_chart",
    "latency_chart",
    "system_chart",
    "throughput_chart",
]

KIND_COLORS = dict(
    zip(ERROR_KINDS, ["#d62728", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"], strict=True)
)
PERCENTILE_STYLES = {"p50_ms": ("p50", "#1f77b4"), "p95_ms": ("p95", "#ff7f0e"), "p99_ms": ("p99", "#d62728")}
TIME_LABEL = "time (UTC)"
_MARGINS = {"left": 0.08, "right": 0.93, "top": 0.9, "bottom": 0.14}


def _times(ts: pd.Series) -> np.ndarray:
    return pd.to_datetime(ts.to_numpy(), unit="s").to_numpy()


def _time_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, alpha=0.3)


def _mark_knee(ax: Axes, knee: Knee | None) -> None:
    if knee is None or knee.crossed_by is None:
        return
    when = _times(pd.Series([knee.timestamp]))[0]
    ax.axvline(
        when,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"knee: {knee.rps:.0f} req/s, {knee.users} users",
    )


def _aggregated(seconds: pd.DataFrame) -> pd.DataFrame:
    return seconds[seconds["endpoint"] == AGGREGATED]


def throughput_chart(seconds: pd.DataFrame, knee: Knee | None = None) -> Figure:
    """Requests/s and failures/s (left axis) with the user count (right axis) over time."""
    fig = Figure(figsize=(10, 4))
    ax = fig.add_subplot()
    agg = _aggregated(seconds)
    t = _times(agg["timestamp"])
    ax.plot(t, agg["rps"], color="#1f77b4", label="requests/s")
    ax.plot(t, agg["fail_rps"], color="#d62728", label="failures/s")
    ax.set_ylabel("requests per second")
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylim(bottom=0)
    _mark_knee(ax, knee)
    users = ax.twinx()
    users.plot(t, agg["users"], color="#7f7f7f", drawstyle="steps-post", linestyle=":", label="users")
    users.set_ylabel("users")
    users.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()
    extra = users.get_legend_handles_labels()
    ax.legend(handles[0] + extra[0], handles[1] + extra[1], loc="upper left")
    ax.set_title("Throughput and users")
    _time_axis(ax)
    fig.subplots_adjust(**_MARGINS)
    return fig


def latency_chart(seconds: pd.DataFrame, knee: Knee | None = None) -> Figure:
    """Aggregated p50/p95/p99 over time (Locust's ~10 s window)."""
    fig = Figure(figsize=(10, 4))
    ax = fig.add_subplot()
    _percentile_lines(ax, _aggregated(seconds))
    _mark_knee(ax, knee)
    ax.set_title("Response time percentiles, all endpoints (10 s window)")
    ax.legend(loc="upper left")
    fig.subplots_adjust(**_MARGINS)
    return fig


def _percentile_lines(ax: Axes, frame: pd.DataFrame) -> None:
    t = _times(frame["timestamp"])
    for col, (label, color) in PERCENTILE_STYLES.items():
        ax.plot(t, frame[col], label=label, color=color)
    ax.set_ylabel("response time (ms)")
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylim(bottom=0)
    _time_axis(ax)


def endpoint_latency_chart(seconds: pd.DataFrame) -> Figure:
    """p50, p95 and p99 panels over time, one line per endpoint, sharing the time axis."""
    endpoints = [e for e in pd.unique(seconds["endpoint"]) if e != AGGREGATED]
    fig = Figure(figsize=(10, 8.5))
    axes = fig.subplots(3, 1, sharex=True)
    by_endpoint = {e: seconds[seconds["endpoint"] == e] for e in sorted(map(str, endpoints))}
    for ax, (col, (label, _)) in zip(axes, PERCENTILE_STYLES.items(), strict=True):
        for endpoint, frame in by_endpoint.items():
            ax.plot(_times(frame["timestamp"]), frame[col], label=endpoint, linewidth=1)
        ax.set_ylabel(f"{label} (ms)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{label} per endpoint", fontsize="medium")
        _time_axis(ax)
    axes[-1].set_xlabel(TIME_LABEL)
    if endpoints:
        axes[0].legend(loc="upper left", fontsize="x-small", ncols=2)
    fig.suptitle("Response time percentiles per endpoint (10 s window)")
    fig.subplots_adjust(left=0.08, right=0.97, top=0.92, bottom=0.07, hspace=0.3)
    return fig


def error_chart(kind_rates: pd.DataFrame) -> Figure:
    """Failed requests as a share of all requests over time, one line per kind that occurred."""
    fig = Figure(figsize=(10, 4))
    ax = fig.add_subplot()
    for kind in ERROR_KINDS:
        series = kind_rates[kind_rates["kind"] == kind]
        if not (series["fail_rps"] > 0).any():
            continue
        ax.plot(_times(series["timestamp"]), series["share"] * 100, label=kind, color=KIND_COLORS[kind])
    ax.set_ylabel("failed requests (% of all)")
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylim(bottom=0)
    ax.set_title("Error rate by kind")
    if ax.get_lines():
        ax.legend(loc="upper left")
    else:
        ax.text(0.5, 0.5, "no failures", transform=ax.transAxes, ha="center", va="center")
    _time_axis(ax)
    fig.subplots_adjust(**_MARGINS)
    return fig


def distribution_chart(distribution: pd.DataFrame) -> Figure:
    """Response time at each reported percentile, one line per endpoint (log scale)."""
    fig = Figure(figsize=(10, 4))
    ax = fig.add_subplot()
    levels = list(PERCENTILE_LEVELS.values())
    positions = {level: i for i, level in enumerate(levels)}
    for endpoint, group in distribution.groupby("endpoint", sort=True):
        ax.plot(
            group["percentile"].map(positions), group["ms"], marker="o", markersize=3, label=str(endpoint)
        )
    ax.set_xticks(range(len(levels)), [f"p{level * 100:g}" for level in levels])
    ax.set_xlabel("percentile")
    ax.set_ylabel("response time (ms)")
    if (distribution["ms"] > 0).any():
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3, which="both")
    ax.set_title("Response time distribution per endpoint (final)")
    if ax.get_lines():
        ax.legend(loc="upper left", fontsize="small")
    fig.subplots_adjust(**_MARGINS)
    return fig


def endpoint_summary_chart(final: pd.DataFrame) -> Figure:
    """Three bar panels per endpoint: requests/s, p95 and error rate (final figures)."""
    rows = final[final["endpoint"] != AGGREGATED].sort_values("endpoint", ascending=False)
    fig = Figure(figsize=(11, 0.45 * max(len(rows), 2) + 1.4))
    axes = fig.subplots(1, 3, sharey=True)
    panels: Sequence[tuple[str, str, float]] = (
        ("rps", "requests per second", 1.0),
        ("p95", "p95 response time (ms)", 1.0),
        ("error_rate", "failed requests (%)", 100.0),
    )
    labels = rows["endpoint"].astype(str).tolist()
    for ax, (col, xlabel, scale) in zip(axes, panels, strict=True):
        ax.barh(labels, rows[col].fillna(0) * scale, color="#d62728" if col == "error_rate" else "#1f77b4")
        ax.set_xlabel(xlabel)
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle("Per-endpoint summary (final)")
    longest = max((len(label) for label in labels), default=10)
    # Fixed margins instead of constrained layout: layout solving was half the report's time.
    fig.subplots_adjust(
        left=min(0.45, 0.02 + longest * 0.0075), right=0.98, top=0.88, bottom=0.2, wspace=0.08
    )
    return fig


_SYSTEM_PANELS: Sequence[tuple[str, Sequence[tuple[str, str]]]] = (
    (
        "events per second",
        (
            ("sandbox_accepted_per_s", "sandbox accepted/s"),
            ("sandbox_rate_limited_per_s", "sandbox 429/s"),
            ("sandbox_errors_per_s", "sandbox errors/s"),
        ),
    ),
    (
        "events per second",
        (
            ("pipeline_ingested_per_s", "pipeline ingested/s"),
            ("pipeline_delivered_per_s", "pipeline delivered/s"),
            ("pipeline_dead_letters_per_s", "dead letters/s"),
        ),
    ),
    ("messages", (("pipeline_consumer_lag", "consumer lag"),)),
)


def system_chart(seconds: pd.DataFrame, system: pd.DataFrame) -> Figure:
    """Client throughput above the target-side series, all on one shared time axis."""
    panels = [
        (ylabel, [(c, lbl) for c, lbl in series if system[c].notna().any()])
        for ylabel, series in _SYSTEM_PANELS
    ]
    panels = [p for p in panels if p[1]]
    fig = Figure(figsize=(10, 2.6 * (len(panels) + 1) + 0.4))
    axes = fig.subplots(len(panels) + 1, 1, sharex=True, squeeze=False).ravel()
    agg = _aggregated(seconds)
    axes[0].plot(_times(agg["timestamp"]), agg["rps"], color="#1f77b4", label="client requests/s")
    axes[0].plot(_times(agg["timestamp"]), agg["fail_rps"], color="#d62728", label="client failures/s")
    axes[0].set_ylabel("requests per second")
    t = _times(system["timestamp"])
    for ax, (ylabel, series) in zip(axes[1:], panels, strict=True):
        for col, label in series:
            ax.plot(t, system[col], label=label)
        ax.set_ylabel(ylabel)
    for ax in axes:
        ax.legend(loc="upper left", fontsize="small")
        ax.set_ylim(bottom=0)
        _time_axis(ax)
    axes[-1].set_xlabel(TIME_LABEL)
    fig.suptitle("Client load and target-side metrics")
    height = fig.get_figheight()
    # Margins in inches, so the time label fits however many panels there are.
    fig.subplots_adjust(left=0.08, right=0.97, top=1 - 0.45 / height, bottom=0.55 / height, hspace=0.15)
    return fig
