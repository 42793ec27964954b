"""Transforms checked against frames computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from analysis import transforms as t
from analysis.locust_csv import PERCENTILES

NAN = float("nan")


def history(rows: list[tuple[int, str, int, int, int, float]]) -> pd.DataFrame:
    """Tidy history rows (timestamp, endpoint, users, total_requests, total_failures, p95)."""
    frame = pd.DataFrame(
        rows, columns=["timestamp", "endpoint", "users", "total_requests", "total_failures", "p95"]
    )
    frame["endpoint"] = frame["endpoint"].astype("category")
    frame["p50"] = frame["p95"] / 2
    frame["p99"] = frame["p95"] * 2
    return frame


def test_per_second_differences_cumulative_counters() -> None:
    """Requests per second come from counter deltas; resets restart; duplicate seconds keep the last."""
    frame = history(
        [
            (100, "GET /a", 1, 5, 0, NAN),
            (100, "Aggregated", 1, 5, 0, NAN),
            (101, "GET /a", 2, 12, 1, 40.0),
            (101, "Aggregated", 2, 12, 1, 40.0),
            (103, "GET /a", 2, 20, 3, 50.0),  # a 2 s gap
            (103, "Aggregated", 2, 20, 3, 50.0),
            (104, "GET /a", 2, 4, 0, 60.0),  # stats reset
            (104, "GET /a", 2, 6, 0, 60.0),  # second write in the same second
            (104, "Aggregated", 2, 6, 0, 60.0),
        ]
    )
    got = t.per_second(frame)
    cat = pd.CategoricalDtype(["Aggregated", "GET /a"])
    expected = pd.DataFrame(
        {
            "timestamp": [100, 100, 101, 101, 103, 103, 104, 104],
            "endpoint": pd.Categorical(["GET /a", "Aggregated"] * 4, dtype=cat),
            "users": [1, 1, 2, 2, 2, 2, 2, 2],
            "requests": [5, 5, 7, 7, 8, 8, 6, 6],
            "rps": [5.0, 5.0, 7.0, 7.0, 4.0, 4.0, 6.0, 6.0],
            "failures": [0, 0, 1, 1, 2, 2, 0, 0],
            "fail_rps": [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0],
            "error_rate": [0.0, 0.0, 1 / 7, 1 / 7, 0.25, 0.25, 0.0, 0.0],
            "p50_ms": [NAN, NAN, 20.0, 20.0, 25.0, 25.0, 30.0, 30.0],
            "p95_ms": [NAN, NAN, 40.0, 40.0, 50.0, 50.0, 60.0, 60.0],
            "p99_ms": [NAN, NAN, 80.0, 80.0, 100.0, 100.0, 120.0, 120.0],
        }
    )
    got["endpoint"] = got["endpoint"].astype(cat)
    assert_frame_equal(
        got.sort_values(["timestamp", "endpoint"]).reset_index(drop=True),
        expected.sort_values(["timestamp", "endpoint"]).reset_index(drop=True),
    )


def test_per_second_spreads_batched_worker_reports() -> None:
    """Distributed runs report every 3 s: each report's count is shared over the seconds it covers."""
    counts = [0, 0, 30, 30, 30, 60, 60, 60, 90]  # cumulative, stepping every 3 s, 10 req/s
    frame = history([(100 + i, "Aggregated", 5, c, c // 10, 10.0) for i, c in enumerate(counts)])
    got = t.per_second(frame)
    assert got["rps"].tolist() == [10.0] * 9  # the first report covers the run's first 3 s too


def test_per_second_keeps_real_pauses_of_a_single_process_run() -> None:
    """A run that reports every second keeps its silent seconds at zero."""
    counts = [10, 20, 30, 40, 40, 50, 60, 70, 80, 90]
    frame = history([(100 + i, "Aggregated", 5, c, 0, 10.0) for i, c in enumerate(counts)])
    assert t.per_second(frame)["rps"].tolist() == [10.0, 10.0, 10.0, 10.0, 0.0] + [10.0] * 5


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("CatchResponseError('rate limited (429)')", "429"),
        ("HTTPError('429 Client Error: Too Many Requests for url: /x')", "429"),
        ("CatchResponseError('server error (5xx): 503')", "5xx"),
        ("HTTPError('500 Server Error: Internal Server Error for url: /x')", "5xx"),
        ("CatchResponseError('timeout')", "timeout"),
        ("ReadTimeout(\"HTTPConnectionPool(host='127.0.0.1', port=1): Read timed out.\")", "timeout"),
        ("CatchResponseError('connection error')", "connection"),
        ("ConnectionRefusedError(111, 'Connection refused')", "connection"),
        ("RemoteDisconnected('Remote end closed connection without response')", "connection"),
        ("CatchResponseError('client error (4xx): 400')", "4xx"),
        ("ValueError('boom')", "other"),
    ],
)
def test_classify_error(message: str, kind: str) -> None:
    """Traffic-model messages and Locust's own exception reprs map to one kind each."""
    assert t.classify_error(message) == kind


def test_histogram_percentiles_follow_locusts_rule() -> None:
    """10 requests: 1 ms x7, 5 ms x2, 100 ms x1 -> p50 1, p80 5, p90 100 (Locust counts from the top), p100 100."""
    hist = {1: 7, 5: 2, 100: 1}
    assert t.histogram_percentiles(hist, [0.5, 0.8, 0.9, 0.95, 1.0]) == [1.0, 5.0, 100.0, 100.0, 100.0]
    assert all(math.isnan(v) for v in t.histogram_percentiles({}, [0.5]))


def test_final_from_json_adds_aggregated() -> None:
    """Totals, averages, rps over first-to-last span and merged-histogram percentiles."""
    totals = pd.DataFrame(
        {
            "endpoint": ["GET /b", "GET /a"],
            "requests": [4, 6],
            "failures": [1, 0],
            "total_ms": [40.0, 30.0],
            "min_ms": [5.0, 2.0],
            "max_ms": [20.0, 8.0],
            "start": [100.0, 100.0],
            "last": [102.0, 110.0],
            "bytes": [0.0, 0.0],
        }
    )
    hist = {"GET /b": {5: 2, 10: 1, 20: 1}, "GET /a": {2: 3, 5: 2, 8: 1}}
    got = t.final_from_json(totals, hist)
    assert list(got["endpoint"]) == ["GET /a", "GET /b", "Aggregated"]
    assert list(got["requests"]) == [6, 4, 10]
    assert got["rps"].tolist() == [0.6, 2.0, 1.0]
    assert got["avg_ms"].tolist() == [5.0, 10.0, 7.0]
    assert got["error_rate"].tolist() == [0.0, 0.25, 0.1]
    # merged: 2x3, 5x4, 8x1, 10x1, 20x1 -> p50 5; p90 20 (int(10*0.9)=9 left after the top bucket)
    assert got.loc[2, ["p50", "p90", "p100"]].tolist() == [5.0, 20.0, 20.0]


def test_error_rate_by_kind_splits_by_message_share() -> None:
    """One endpoint failing two ways splits its failures 3:1; shares are of all requests."""
    seconds = pd.DataFrame(
        {
            "timestamp": [10, 10, 10],
            "endpoint": pd.Categorical(["GET /a", "GET /b", "Aggregated"]),
            "requests": [10, 10, 20],
            "failures": [4, 0, 4],
        }
    )
    failures = t.error_kinds(
        pd.DataFrame(
            {
                "endpoint": ["GET /a", "GET /a"],
                "error": ["rate limited (429)", "server error (5xx): 502"],
                "occurrences": [30, 10],
                "first_seen": pd.NaT,
                "last_seen": pd.NaT,
            }
        )
    )
    got = t.error_rate_by_kind(seconds, failures)
    expected = pd.DataFrame(
        {
            "timestamp": [10] * 6,
            "kind": pd.Categorical(t.ERROR_KINDS, categories=t.ERROR_KINDS),
            "fail_rps": [3.0, 1.0, 0.0, 0.0, 0.0, 0.0],
            "share": [0.15, 0.05, 0.0, 0.0, 0.0, 0.0],
        }
    )
    assert_frame_equal(got, expected)


def test_error_rate_by_kind_respects_first_and_last_seen() -> None:
    """With 2.44+ First/Last Seen, a kind only takes failures from seconds it was seen around."""
    ts = pd.Timestamp("2026-11-28T00:00:00Z")
    seconds = pd.DataFrame(
        {
            "timestamp": [int(ts.timestamp()) + 0, int(ts.timestamp()) + 60],
            "endpoint": pd.Categorical(["GET /a", "GET /a"]),
            "requests": [5, 5],
            "failures": [5, 5],
        }
    )
    failures = t.error_kinds(
        pd.DataFrame(
            {
                "endpoint": ["GET /a", "GET /a"],
                "error": ["timeout", "connection error"],
                "occurrences": [5, 5],
                "first_seen": [ts, ts + pd.Timedelta(seconds=60)],
                "last_seen": [ts, ts + pd.Timedelta(seconds=60)],
            }
        )
    )
    got = t.error_rate_by_kind(seconds, failures).pivot(index="timestamp", columns="kind", values="fail_rps")
    assert got["timeout"].tolist() == [5.0, 0.0]
    assert got["connection"].tolist() == [0.0, 5.0]


def test_latency_distribution_is_long_and_skips_idle_endpoints() -> None:
    """One row per (endpoint, percentile) for endpoints that served requests."""
    final = pd.DataFrame(
        {
            "endpoint": ["GET /a", "GET /idle"],
            "requests": [3, 0],
            **{c: [1.0, NAN] for c in PERCENTILES.values()},
        }
    )
    got = t.latency_distribution(final)
    assert set(got["endpoint"]) == {"GET /a"}
    assert len(got) == len(PERCENTILES)
    assert got["percentile"].tolist() == sorted(got["percentile"].tolist())


def test_downsample_bins_means_and_peaks() -> None:
    """Bins average rates and keep latency peaks; short frames pass through untouched."""
    frame = pd.DataFrame(
        {
            "timestamp": np.arange(6),
            "endpoint": "Aggregated",
            "rps": [1.0, 3, 5, 7, 9, 11],
            "p95_ms": [1.0, 9, 2, 2, 2, 4],
        }
    )
    got = t.downsample(frame, max_points=3, peaks=["p95_ms"])
    expected = pd.DataFrame(
        {"timestamp": [0, 2, 4], "endpoint": "Aggregated", "rps": [2.0, 6.0, 10.0], "p95_ms": [9.0, 2.0, 4.0]}
    )
    assert_frame_equal(got, expected)
    assert t.downsample(frame, max_points=10) is frame


def test_a_one_second_latency_spike_in_a_day_survives_downsampling() -> None:
    """A day per second, two endpoints, one 1 s p99 spike: the chart's frame still peaks there."""
    day = 86_400
    rng = np.random.default_rng(3)
    ts = np.repeat(np.arange(day), 2)
    p99 = rng.uniform(100, 120, 2 * day)
    spike = 2 * 40_001 + 1  # the second endpoint, 40,001 s in
    p99[spike] = 5_000.0
    frame = pd.DataFrame(
        {
            "timestamp": 1_795_800_000 + ts,
            "endpoint": pd.Categorical(np.tile(["GET /a", "GET /b"], day)),
            "rps": rng.uniform(10, 20, 2 * day),
            "p99_ms": p99,
        }
    )
    got = t.downsample(frame, max_points=1500, peaks=["p99_ms"])
    per_endpoint = got.groupby("endpoint", observed=True)
    assert per_endpoint.size().max() <= 1500
    spiked = got[got["p99_ms"] == 5_000.0]
    assert spiked["endpoint"].tolist() == ["GET /b"]
    # In the bin that holds the spike's second, and nowhere else.
    width = math.ceil(day / 1500)
    assert int(spiked["timestamp"].iloc[0]) == 1_795_800_000 + 40_001 - (1_795_800_000 + 40_001) % width
    assert got.loc[got["endpoint"] == "GET /a", "p99_ms"].max() < 121
    assert 10 < got["rps"].min() and got["rps"].max() < 20  # rates are bin means


def test_downsample_equals_a_pandas_groupby() -> None:
    """Bins per (time, series) as a sorted pandas groupby gives them: means skip NaN, peaks keep the
    max, integer peaks stay integers, an object key sorts by value, non-numeric columns drop."""
    rng = np.random.default_rng(5)
    n = 5_000
    frame = pd.DataFrame(
        {
            "timestamp": 1_000 + np.repeat(np.arange(n // 2), 2),
            "kind": np.tile(["b", "a"], n // 2),
            "share": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
            "lost": rng.integers(0, 9, n),
            "note": "x",
        }
    )
    got = t.downsample(frame, max_points=100, peaks=["lost"])
    width = math.ceil((n // 2) / 100)
    binned = frame.assign(timestamp=frame["timestamp"] - frame["timestamp"] % width)
    grouped = binned.groupby(["timestamp", "kind"], sort=True)
    expected = pd.concat([grouped[["share"]].mean(), grouped[["lost"]].max()], axis=1).reset_index()
    assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
