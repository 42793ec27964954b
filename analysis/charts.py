"""Draw the report's charts. Each function takes frames and returns a matplotlib ``Figure``.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so nothing global is
touched, no display is needed and callers never have to close anything.

Over-time charts put elapsed time since the run's start on x (``m:ss``, or ``h:mm:ss`` past an hour,
ticks at round steps) and name the start, in UTC, in the axis caption: "2:30" reads at a glance where
"20, 30, 06:10, 10" did not. ``start`` defaults to the frame's first second; the report passes the
run's. The numbers come from :mod:`analysis.transforms`; this module only draws.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import ParamSpec

import pandas as pd
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from analysis.knee import Knee
from analysis.locust_csv import AGGREGATED
from analysis.transforms import ERROR_KINDS, PERCENTILE_LEVELS, elapsed_seconds, run_start

__all__ = [
    "TICK_STEPS",
    "delivery_chart",
    "distribution_chart",
    "elapsed_label",
    "format_elapsed",
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
_MARGINS = {"left": 0.08, "right": 0.93, "top": 0.9, "bottom": 0.14}
# Round tick steps in seconds: 1 s up to 12 h, so any run gets 4 to 12 ticks at readable times.
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
_MAX_TICKS = 12


def format_elapsed(seconds: float, hours: bool = False) -> str:
    """``m:ss`` (``h:mm:ss`` when ``hours``); negative values get a minus sign."""
    sign, total = ("-" if seconds < 0 else ""), int(round(abs(seconds)))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}" if hours else f"{sign}{h * 60 + m}:{s:02d}"


def elapsed_label(start: float, hours: bool = False) -> str:
    """The x-axis caption: the unit and the run's start time in UTC."""
    when = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"elapsed ({'h:mm:ss' if hours else 'm:ss'}) since the start, {when} UTC"


def _time_axis(ax: Axes, start: float, span: float, caption: bool = True) -> None:
    hours = span >= 3600
    step = next((s for s in TICK_STEPS if span / s <= _MAX_TICKS), TICK_STEPS[-1])
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: format_elapsed(x, hours)))
    ax.set_xlim(0, span)  # from the start: the first tick reads 0:00
    if caption:
        ax.set_xlabel(elapsed_label(start, hours))
    ax.grid(True, alpha=0.3)


def _start_and_span(start: float | None, *frames: pd.DataFrame | None) -> tuple[float, float]:
    first = run_start(*frames)
    start = first if start is None else start
    if start is None:
        return 0.0, 1.0
    last = max((float(f["timestamp"].max()) for f in frames if f is not None and len(f)), default=start)
    return start, max(last - start, 1.0)


def _mark_knee(ax: Axes, knee: Knee | None, start: float) -> None:
    if knee is None or knee.crossed_by is None:
        return
    when = float(elapsed_seconds([knee.timestamp], start)[0])
    ax.axvline(
        when,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"knee: {knee.rps:.0f} req/s, {knee.users} users",
    )


def _aggregated(seconds: pd.DataFrame) -> pd.DataFrame:
    return seconds[seconds["endpoint"] == AGGREGATED]


_P = ParamSpec("_P")


def _titles_at_top(chart: Callable[_P, Figure]) -> Callable[_P, Figure]:
    """Build ``chart``'s axes with their titles fixed at the top edge (``axes.titley`` 1.0).

    Left to itself matplotlib searches, for every axes at every draw, for a title height that
    clears whatever sits above the axes; no chart here has anything there (no top ticks), so the
    answer is always 1.0, and the search was a tenth of the drawing time. Pixels are unchanged.
    """

    @functools.wraps(chart)
    def build(*args: _P.args, **kwargs: _P.kwargs) -> Figure:
        with rc_context({"axes.titley": 1.0}):
            return chart(*args, **kwargs)

    return build


@_titles_at_top
def throughput_chart(seconds: pd.DataFrame, knee: Knee | None = None, start: float | None = None) -> Figure:
    """Requests/s and failures/s (left axis) with the user count (right axis) over time."""
    fig = Figure(figsize=(10, 4))
    ax = fig.add_subplot()
    agg = _aggregated(seconds)
    start, span = _start_and_span(start, agg)
    t = elapsed_seconds(agg["timestamp"], start)
    ax.plot(t, agg["rps"], color="#1f77b4", label="requests/s")
    ax.plot(t, agg["fail_rps"], color="#d62728", label="failures/s")
    ax.set_ylabel("requests per second")
    ax.set_ylim(bottom=0)
    _mark_knee(ax, knee, start)
    users = ax.twinx()
    users.plot(t, agg["users"], color="#7f7f7f", drawstyle="steps-post", linestyle=":", label="users")
    users.set_ylabel("users")
    users.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()
    extra = users.get_legend_handles_labels()
    ax.legend(handles[0] + extra[0], handles[1] + extra[1], loc="upper left")
    ax.set_title("Throughput and users")
    _time_axis(ax, start, span)
    fig.subplots_adjust(**_MARGINS)
    return fig


@_titles_at_top
def latency_chart(seconds: pd.DataFrame, knee: Knee | None = None, start: float | None = None) -> Figure:
    """Aggregated p50/p95/p99 over time (Locust's ~10 s window)."""
    fig = Figure(figsize=(10, 4))
    ax = fig.add_subplot()
    agg = _aggregated(seconds)
    start, span = _start_and_span(start, agg)
    _percentile_lines(ax, agg, start)
    _time_axis(ax, start, span)
    _mark_knee(ax, knee, start)
    ax.set_title("Response time percentiles, all endpoints (10 s window)")
    ax.legend(loc="upper left")
    fig.subplots_adjust(**_MARGINS)
    return fig


def _percentile_lines(ax: Axes, frame: pd.DataFrame, start: float) -> None:
    t = elapsed_seconds(frame["timestamp"], start)
    for col, (label, color) in PERCENTILE_STYLES.items():
        ax.plot(t, frame[col], label=label, color=color)
    ax.set_ylabel("response time (ms)")
    ax.set_ylim(bottom=0)


@_titles_at_top
def endpoint_latency_chart(seconds: pd.DataFrame, start: float | None = None) -> Figure:
    """p50, p95 and p99 panels over time, one line per endpoint, sharing the time axis."""
    endpoints = [e for e in pd.unique(seconds["endpoint"]) if e != AGGREGATED]
    fig = Figure(figsize=(10, 8.5))
    axes = fig.subplots(3, 1, sharex=True)
    start, span = _start_and_span(start, seconds)
    by_endpoint = {e: seconds[seconds["endpoint"] == e] for e in sorted(map(str, endpoints))}
    for ax, (col, (label, _)) in zip(axes, PERCENTILE_STYLES.items(), strict=True):
        for endpoint, frame in by_endpoint.items():
            ax.plot(elapsed_seconds(frame["timestamp"], start), frame[col], label=endpoint, linewidth=1)
        ax.set_ylabel(f"{label} (ms)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{label} per endpoint", fontsize="medium")
        _time_axis(ax, start, span, caption=ax is axes[-1])
    if endpoints:
        axes[0].legend(loc="upper left", fontsize="x-small", ncols=2)
    fig.suptitle("Response time percentiles per endpoint (10 s window)")
    fig.subplots_adjust(left=0.08, right=0.97, top=0.92, bottom=0.07, hspace=0.3)
    return fig


@_titles_at_top
def error_chart(kind_rates: pd.DataFrame, start: float | None = None) -> Figure:
    """Failed requests as a share of all requests over time, one line per kind that occurred."""
    fig = Figure(figsize=(10, 4))
    ax = fig.add_subplot()
    start, span = _start_and_span(start, kind_rates)
    for kind in ERROR_KINDS:
        series = kind_rates[kind_rates["kind"] == kind]
        if not (series["fail_rps"] > 0).any():
            continue
        t = elapsed_seconds(series["timestamp"], start)
        ax.plot(t, series["share"] * 100, label=kind, color=KIND_COLORS[kind])
    ax.set_ylabel("failed requests (% of all)")
    ax.set_ylim(bottom=0)
    ax.set_title("Error rate by kind")
    if ax.get_lines():
        ax.legend(loc="upper left")
    else:
        ax.text(0.5, 0.5, "no failures", transform=ax.transAxes, ha="center", va="center")
    _time_axis(ax, start, span)
    fig.subplots_adjust(**_MARGINS)
    return fig


@_titles_at_top
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


@_titles_at_top
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


@_titles_at_top
def system_chart(seconds: pd.DataFrame, system: pd.DataFrame, start: float | None = None) -> Figure:
    """Client throughput above the target-side series, all on one shared time axis."""
    panels = [
        (ylabel, [(c, lbl) for c, lbl in series if system[c].notna().any()])
        for ylabel, series in _SYSTEM_PANELS
    ]
    panels = [p for p in panels if p[1]]
    fig = Figure(figsize=(10, 2.6 * (len(panels) + 1) + 0.4))
    axes = fig.subplots(len(panels) + 1, 1, sharex=True, squeeze=False).ravel()
    agg = _aggregated(seconds)
    start, span = _start_and_span(start, agg, system)
    client_t = elapsed_seconds(agg["timestamp"], start)
    axes[0].plot(client_t, agg["rps"], color="#1f77b4", label="client requests/s")
    axes[0].plot(client_t, agg["fail_rps"], color="#d62728", label="client failures/s")
    axes[0].set_ylabel("requests per second")
    t = elapsed_seconds(system["timestamp"], start)
    for ax, (ylabel, series) in zip(axes[1:], panels, strict=True):
        for col, label in series:
            ax.plot(t, system[col], label=label)
        ax.set_ylabel(ylabel)
    for ax in axes:
        ax.legend(loc="upper left", fontsize="small")
        ax.set_ylim(bottom=0)
        _time_axis(ax, start, span, caption=ax is axes[-1])
    fig.suptitle("Client load and target-side metrics")
    height = fig.get_figheight()
    # Margins in inches, so the time label fits however many panels there are.
    fig.subplots_adjust(left=0.08, right=0.97, top=1 - 0.45 / height, bottom=0.55 / height, hspace=0.15)
    return fig


@_titles_at_top
def delivery_chart(
    per_second: pd.DataFrame, system: pd.DataFrame | None = None, start: float | None = None
) -> Figure:
    """Per second of send time: acknowledged vs delivered (and lost); e2e delay next to the queue lag.

    ``per_second`` has ``timestamp`` (the send second), acknowledged, delivered, lost, e2e_p50..max.
    """
    fig = Figure(figsize=(10, 6.4))
    counts, delay = fig.subplots(2, 1, sharex=True)
    start, span = _start_and_span(start, per_second, system)
    t = elapsed_seconds(per_second["timestamp"], start)
    counts.plot(t, per_second["acknowledged"], color="#1f77b4", label="acknowledged/s")
    counts.plot(t, per_second["delivered"], color="#2ca02c", linestyle="--", label="delivered/s")
    counts.plot(t, per_second["lost"], color="#d62728", label="lost/s")
    counts.set_ylabel("events per second sent")
    for column, (label, color) in PERCENTILE_STYLES.items():
        delay.plot(t, per_second["e2e_" + column.removesuffix("_ms")], color=color, label=f"e2e {label}")
    delay.set_ylabel("end-to-end delay (ms)")
    if system is not None and system["pipeline_consumer_lag"].notna().any():
        lag = delay.twinx()
        lag.plot(elapsed_seconds(system["timestamp"], start), system["pipeline_consumer_lag"], color="#7f7f7f",
                 linestyle=":", label="queue lag (messages)")  # fmt: skip
        lag.set_ylabel("queue lag (messages)")
        lag.set_ylim(bottom=0)
        lag.legend(loc="upper right", fontsize="small")
    for ax in (counts, delay):
        ax.legend(loc="upper left", fontsize="small")
        ax.set_ylim(bottom=0)
        _time_axis(ax, start, span, caption=ax is delay)
    fig.suptitle("Delivery by send time: acknowledged, reached the sandbox, how long it took")
    fig.subplots_adjust(left=0.08, right=0.92, top=0.93, bottom=0.09, hspace=0.12)
    return fig
