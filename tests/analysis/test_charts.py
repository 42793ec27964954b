"""Charts checked through their artists (lines, labels, titles), never pixels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import charts
from analysis.knee import Knee, KneeThresholds
from analysis.locust_csv import PERCENTILES
from analysis.transforms import ERROR_KINDS

N = 30


@pytest.fixture
def seconds() -> pd.DataFrame:
    """Per-second frame: two endpoints plus Aggregated over 30 s, a deterministic ramp."""
    rng = np.random.default_rng(0)
    ts = np.arange(1_795_884_000, 1_795_884_000 + N)
    frames = []
    for name, scale in (("GET /a", 1.0), ("POST /b", 2.0), ("Aggregated", 3.0)):
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": ts,
                    "endpoint": name,
                    "users": np.arange(1, N + 1),
                    "rps": np.arange(N) * scale,
                    "fail_rps": np.arange(N) * 0.1,
                    "p50_ms": 10 * scale + rng.random(N),
                    "p95_ms": 50 * scale + rng.random(N),
                    "p99_ms": 90 * scale + rng.random(N),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def knee_at(ts: int) -> Knee:
    return Knee(ts, 42.0, 7, 100.0, 0.0, ts + 1, "p95", KneeThresholds())


def test_throughput_chart_lines_axes_and_knee(seconds: pd.DataFrame) -> None:
    """Requests/s, failures/s, users on a twin axis, and a dashed knee line at the knee second."""
    fig = charts.throughput_chart(seconds, knee_at(1_795_884_010))
    ax, users = fig.axes
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["requests/s", "failures/s", "knee: 42 req/s, 7 users"]
    assert ax.get_ylabel() == "requests per second" and users.get_ylabel() == "users"
    assert ax.get_xlabel() == "elapsed (m:ss) since the start, 2026-11-28 16:40:00 UTC"
    assert ax.get_title() == "Throughput and users"
    agg = seconds[seconds["endpoint"] == "Aggregated"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), agg["rps"].to_numpy())
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), np.arange(N, dtype=float))
    assert ax.get_lines()[2].get_xdata()[0] == pytest.approx(10.0)  # the knee, 10 s in
    np.testing.assert_array_equal(users.get_lines()[0].get_ydata(), agg["users"].to_numpy())


def _tick_labels(fig, ax) -> list[str]:
    fig.canvas.draw()
    low, high = ax.get_xlim()
    return [t.get_text() for t in ax.get_xticklabels() if t.get_text() and low <= t.get_position()[0] <= high]


@pytest.mark.parametrize(
    ("seconds_long", "start", "first_ticks", "unit"),
    [
        (30, None, ["0:00", "0:05", "0:10"], "m:ss"),
        (600, None, ["0:00", "1:00", "2:00"], "m:ss"),
        (2 * 3600, 1_795_884_000 - 30, ["0:00:00", "0:15:00", "0:30:00"], "h:mm:ss"),
    ],
)
def test_time_axes_show_elapsed_time_and_the_start(seconds_long, start, first_ticks, unit) -> None:
    """Ticks at round elapsed times (m:ss, h:mm:ss past an hour); the caption names the start in UTC."""
    ts = np.arange(1_795_884_000, 1_795_884_000 + seconds_long)
    frame = pd.DataFrame({"timestamp": ts, "endpoint": "Aggregated", "users": 1, "rps": 1.0,
                          "fail_rps": 0.0, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0})  # fmt: skip
    for fig in (charts.throughput_chart(frame, start=start), charts.latency_chart(frame, start=start)):
        ax = fig.axes[0]
        labels = _tick_labels(fig, ax)
        assert labels[:3] == first_ticks and 4 <= len(labels) <= 13, labels
        assert all(label.count(":") == unit.count(":") for label in labels), labels
        assert ax.get_xlabel().startswith(f"elapsed ({unit}) since the start, ")
        expected = "2026-11-28 16:39:30" if start else "2026-11-28 16:40:00"
        assert ax.get_xlabel().endswith(f"{expected} UTC")


def test_format_elapsed() -> None:
    assert charts.format_elapsed(0) == "0:00" and charts.format_elapsed(90) == "1:30"
    assert charts.format_elapsed(3725) == "62:05" and charts.format_elapsed(3725, hours=True) == "1:02:05"
    assert charts.format_elapsed(-5) == "-0:05"


def test_no_knee_line_when_nothing_crossed(seconds: pd.DataFrame) -> None:
    """A knee without a crossing is a peak, not a marker."""
    calm = Knee(1_795_884_010, 42.0, 7, 100.0, 0.0, None, None, KneeThresholds())
    assert len(charts.latency_chart(seconds, calm).axes[0].get_lines()) == 3


def test_latency_chart_draws_aggregated_percentiles(seconds: pd.DataFrame) -> None:
    """p50/p95/p99 lines carry the Aggregated series in ms."""
    ax = charts.latency_chart(seconds).axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["p50", "p95", "p99"]
    agg = seconds[seconds["endpoint"] == "Aggregated"]
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), agg["p95_ms"])
    assert ax.get_ylabel() == "response time (ms)"


def test_endpoint_latency_chart_one_panel_per_percentile(seconds: pd.DataFrame) -> None:
    """Three panels (p50, p95, p99), one line per endpoint, Aggregated left out."""
    fig = charts.endpoint_latency_chart(seconds)
    assert [ax.get_title() for ax in fig.axes] == ["p50 per endpoint", "p95 per endpoint", "p99 per endpoint"]
    for ax in fig.axes:
        assert [line.get_label() for line in ax.get_lines()] == ["GET /a", "POST /b"]
    b = seconds[seconds["endpoint"] == "POST /b"]
    np.testing.assert_allclose(fig.axes[2].get_lines()[1].get_ydata(), b["p99_ms"])


def test_error_chart_shows_only_kinds_that_occurred() -> None:
    """Lines for 429 and 5xx in percent of requests; quiet kinds are not drawn."""
    ts = np.repeat([100, 101], len(ERROR_KINDS))
    rates = pd.DataFrame(
        {
            "timestamp": ts,
            "kind": pd.Categorical(ERROR_KINDS * 2, categories=ERROR_KINDS),
            "fail_rps": [3.0, 1.0, 0, 0, 0, 0, 2.0, 0, 0, 0, 0, 0],
            "share": [0.3, 0.1, 0, 0, 0, 0, 0.2, 0, 0, 0, 0, 0],
        }
    )
    ax = charts.error_chart(rates).axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["429", "5xx"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [30.0, 20.0])
    assert ax.get_ylabel() == "failed requests (% of all)"


def test_error_chart_without_failures_says_so() -> None:
    """No failures: no lines, and the axes says 'no failures'."""
    empty = pd.DataFrame(
        {"timestamp": [], "kind": pd.Categorical([], ERROR_KINDS), "fail_rps": [], "share": []}
    )
    ax = charts.error_chart(empty).axes[0]
    assert not ax.get_lines() and ax.texts[0].get_text() == "no failures"


def test_distribution_and_summary_charts() -> None:
    """Distribution: one line per endpoint over 11 percentile ticks; summary: bars per endpoint."""
    final = pd.DataFrame(
        {
            "endpoint": ["GET /a", "POST /b", "Aggregated"],
            "requests": [10, 5, 15],
            "rps": [2.0, 1.0, 3.0],
            "error_rate": [0.0, 0.2, 0.0667],
            **{
                c: [float(i + 1), float(2 * (i + 1)), float(i + 1)]
                for i, c in enumerate(PERCENTILES.values())
            },
        }
    )
    dist = pd.DataFrame(
        [
            (e, lvl, v)
            for e in ("GET /a", "POST /b")
            for lvl, v in zip([0.5, 0.95, 1.0], [1.0, 5.0, 9.0], strict=True)
        ],
        columns=["endpoint", "percentile", "ms"],
    )
    ax = charts.distribution_chart(dist).axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["GET /a", "POST /b"]
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["p50", "p66"]
    assert ax.get_yscale() == "log"
    fig = charts.endpoint_summary_chart(final)
    rps_ax, p95_ax, err_ax = fig.axes
    assert [p.get_width() for p in rps_ax.patches] == [1.0, 2.0]  # sorted so GET /a is on top
    assert [p.get_width() for p in err_ax.patches] == pytest.approx([20.0, 0.0])
    assert p95_ax.get_xlabel() == "p95 response time (ms)"


def test_system_chart_shares_the_time_axis(seconds: pd.DataFrame) -> None:
    """Client rps on top, then only the target-side panels that have data, all sharing x."""
    from analysis.system import SYSTEM_COLUMNS

    ts = np.arange(1_795_884_000, 1_795_884_000 + N) + 0.5
    system = pd.DataFrame({"timestamp": ts, **dict.fromkeys(SYSTEM_COLUMNS, np.nan)})
    system["sandbox_accepted_per_s"] = 5.0
    system["sandbox_rate_limited_per_s"] = 1.0
    fig = charts.system_chart(seconds, system)
    assert len(fig.axes) == 2
    assert [line.get_label() for line in fig.axes[1].get_lines()] == ["sandbox accepted/s", "sandbox 429/s"]
    assert fig.axes[0].get_shared_x_axes().joined(fig.axes[0], fig.axes[1])
