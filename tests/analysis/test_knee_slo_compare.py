"""Knee detection, the SLO gate and the baseline comparison."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from analysis import InputError, KneeThresholds, find_knee, load_slo_file
from analysis.compare import compare
from analysis.slo import evaluate, parse_threshold


def ramp(p95: list[float], rps: list[float], failures: list[int] | None = None) -> pd.DataFrame:
    """Aggregated per-second frame of a ramp: one user more each second."""
    n = len(rps)
    failures = failures or [0] * n
    return pd.DataFrame(
        {
            "timestamp": range(1000, 1000 + n),
            "endpoint": "Aggregated",
            "users": range(1, n + 1),
            "requests": [int(r) for r in rps],
            "rps": rps,
            "failures": failures,
            "p95_ms": p95,
        }
    )


def test_knee_is_best_throughput_before_p95_crosses() -> None:
    """Throughput rises 10/s per second; p95 breaks 500 ms at second 30; knee before it."""
    rps = [10.0 * (i + 1) for i in range(40)]
    p95 = [100.0] * 30 + [900.0] * 10
    knee = find_knee(ramp(p95, rps), KneeThresholds(p95_ms=500, error_rate=0.5))
    assert knee is not None
    assert knee.crossed_by == "p95" and knee.crossed_at == 1030
    assert knee.timestamp == 1029 and knee.users == 30
    assert knee.rps == pytest.approx(sum(rps[20:30]) / 10)  # 10 s rolling mean


def test_knee_on_error_rate_and_no_knee() -> None:
    """Errors can set the knee; a calm run reports its peak with crossed_by None."""
    rps = [100.0] * 20
    failures = [0] * 15 + [50] * 5
    knee = find_knee(ramp([10.0] * 20, rps, failures), KneeThresholds(p95_ms=500, error_rate=0.01))
    assert knee is not None and knee.crossed_by == "error_rate" and knee.crossed_at == 1015
    calm = find_knee(ramp([10.0] * 20, rps), KneeThresholds())
    assert calm is not None and calm.crossed_by is None and calm.rps == 100.0
    assert find_knee(ramp([math.nan] * 3, [0.0] * 3)) is None


def test_cold_start_is_no_knee() -> None:
    """The demo's case: one 1,033 ms request in the first window of a calm 60 s run is not a knee."""
    rps = [0.9, 4.0] + [25.0] * 58
    p95 = [1033.0] * 10 + [40.0] * 50  # Locust's p95 window holds the cold request for ~10 s
    knee = find_knee(ramp(p95, rps), KneeThresholds())
    assert knee is not None and knee.crossed_by is None and knee.crossed_at is None


def test_a_breach_must_be_sustained_with_enough_requests() -> None:
    """Two slow seconds, or a slow stretch with a handful of requests, are no knee; three slow seconds are."""
    rps = [50.0] * 60
    blip = [40.0] * 30 + [900.0] * 2 + [40.0] * 28
    assert find_knee(ramp(blip, rps)).crossed_by is None  # type: ignore[union-attr]
    quiet = find_knee(ramp([900.0] * 60, [1.0] * 60))  # 10 requests per window: a p95 of nothing
    assert quiet is not None and quiet.crossed_by is None
    held = [40.0] * 30 + [900.0] * 3 + [40.0] * 27
    knee = find_knee(ramp(held, rps))
    assert knee is not None and knee.crossed_by == "p95" and knee.crossed_at == 1030


def test_warm_up_is_at_most_a_quarter_of_a_short_run() -> None:
    """A 12 s run failing from the start still shows its knee after 3 s (not after 10)."""
    knee = find_knee(ramp([10.0] * 12, [100.0] * 12, [50] * 12))
    assert knee is not None and knee.crossed_by == "error_rate" and knee.crossed_at == 1003


@pytest.mark.parametrize(
    ("text", "metric", "op", "value"),
    [
        ("p95 < 500ms", "p95", "<", 500.0),
        ("p99<=1.5s", "p99", "<=", 1500.0),
        ("error_rate < 1%", "error_rate", "<", 0.01),
        ("error_rate < 0.02", "error_rate", "<", 0.02),
        ("rps > 50", "rps", ">", 50.0),
        ("rps >= 50/s", "rps", ">=", 50.0),
        ("avg < 200", "avg", "<", 200.0),
    ],
)
def test_parse_threshold(text: str, metric: str, op: str, value: float) -> None:
    """Rules read with units converted to ms and fractions."""
    rule = parse_threshold(text)
    assert (rule.metric, rule.op, rule.value) == (metric, op, pytest.approx(value))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p95 500ms", "cannot read SLO rule"),
        ("p42 < 1ms", "unknown metric 'p42'"),
        ("rps > 5ms", "unit 'ms' does not fit rps"),
    ],
)
def test_bad_thresholds_explain_themselves(text: str, message: str) -> None:
    """Unreadable rules, unknown metrics and wrong units each get a specific message."""
    with pytest.raises(InputError, match=message):
        parse_threshold(text)


FINAL = pd.DataFrame(
    {
        "endpoint": ["GET /a", "POST /a", "GET /b", "Aggregated"],
        "requests": [100, 100, 0, 200],
        "failures": [0, 4, 0, 4],
        "error_rate": [0.0, 0.04, math.nan, 0.02],
        "rps": [10.0, 10.0, 0.0, 20.0],
        "avg_ms": [50.0, 80.0, math.nan, 65.0],
        "p50": [40.0, 70.0, math.nan, 50.0],
        "p95": [90.0, 300.0, math.nan, 250.0],
        "p99": [120.0, 600.0, math.nan, 500.0],
        "max_ms": [150.0, 900.0, math.nan, 900.0],
    }
)


def test_evaluate_global_per_endpoint_and_missing_data() -> None:
    """Global rules use Aggregated; a bare name judges its worst method; no data fails."""
    rules = [
        parse_threshold("p95 < 500ms"),
        parse_threshold("error_rate < 1%"),
        parse_threshold("p99 < 200ms", "/a"),
        parse_threshold("p99 < 200ms", "GET /a"),
        parse_threshold("p95 < 1s", "GET /b"),
    ]
    verdicts = evaluate(FINAL, rules)
    assert [v.passed for v in verdicts] == [True, False, False, True, False]
    assert verdicts[2].actual == 600.0
    assert verdicts[4].line() == "FAIL  GET /b: p95 < 1s (actual no data)"


def test_delivery_rules_read_the_delivery_block_and_fail_without_it() -> None:
    """lost == 0, duplicates and e2e_p99 judge the summary's delivery block; absent, they fail."""
    rules = [parse_threshold(t) for t in ("lost == 0", "duplicates <= 5", "e2e_p99 < 2s", "e2e_max < 1s")]
    delivery = {
        "acknowledged": 1000,
        "delivered": 999,
        "lost": 1,
        "duplicates": 3,
        "unacknowledged_delivered": 0,
        "e2e_ms": {"p50": 40, "p95": 900, "p99": 1500, "max": 1800},
    }
    verdicts = evaluate(FINAL, rules, delivery)
    assert [v.passed for v in verdicts] == [False, True, True, False]
    assert verdicts[0].line() == "FAIL  Aggregated: lost == 0 (actual 1)"
    assert verdicts[2].line() == "PASS  Aggregated: e2e_p99 < 2s (actual 1500ms)"
    assert evaluate(FINAL, rules[:1], {**delivery, "lost": 0})[0].passed
    assert [v.passed for v in evaluate(FINAL, rules, None)] == [False] * 4


def test_load_slo_yaml_and_json(tmp_path: Path) -> None:
    """YAML mapping with global + endpoints, and a JSON list, both load."""
    yml = tmp_path / "slo.yaml"
    yml.write_text("global:\n  - p95 < 500ms\n  - error_rate < 1%\nendpoints:\n  GET /a: [p99 < 200ms]\n")
    rules = load_slo_file(yml)
    assert [(r.endpoint, r.metric) for r in rules] == [
        ("Aggregated", "p95"),
        ("Aggregated", "error_rate"),
        ("GET /a", "p99"),
    ]
    js = tmp_path / "slo.json"
    js.write_text(json.dumps(["rps > 50"]))
    assert load_slo_file(js)[0].metric == "rps"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("global: [p95 <", "not valid YAML"),
        ("thresholds: []", "expected a list of rules"),
        ("global: []", "no SLO rules"),
        ("global: [1, 2]", "must be a list of strings"),
    ],
)
def test_bad_slo_files(tmp_path: Path, content: str, message: str) -> None:
    """Malformed SLO files name the file and the problem."""
    path = tmp_path / "slo.yaml"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        load_slo_file(path)
    assert str(info.value).startswith(str(path))


def test_compare_flags_regressions_beyond_tolerance() -> None:
    """p95 +20% with 10% tolerance regresses; +5% does not; lower rps regresses; new endpoints never do."""
    base = FINAL.copy()
    cur = FINAL.copy()
    cur.loc[0, "p95"] = 90.0 * 1.05
    cur.loc[1, "p95"] = 300.0 * 1.2
    cur.loc[3, "rps"] = 15.0
    cur = pd.concat(
        [cur, pd.DataFrame({"endpoint": ["GET /new"], "p95": [999.0], "rps": [1.0]})], ignore_index=True
    )
    got = compare(cur, base, tolerance_pct=10)
    flagged = set(map(tuple, got.loc[got["regression"], ["endpoint", "metric"]].to_numpy()))
    assert flagged == {("POST /a", "p95"), ("Aggregated", "rps")}
    row = got[(got["endpoint"] == "POST /a") & (got["metric"] == "p95")].iloc[0]
    assert row["delta"] == pytest.approx(60.0) and row["delta_pct"] == pytest.approx(20.0)
