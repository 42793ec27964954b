"""The live-rule grammar (windows, persistence, grace, actions, ==, target-side series) and rule states."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from analysis import InputError
from analysis.rule_state import RuleState, replay
from analysis.slo import evaluate, load_slo_file, parse_threshold


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("p95 < 500ms over 30s", {"window_s": 30.0, "for_s": 0.0, "live": True}),
        ("error_rate < 5% for 20s", {"value": 0.05, "for_s": 20.0, "window_s": None}),
        ("p95 < 50ms over 5s for 5s abort", {"window_s": 5.0, "for_s": 5.0, "action": "abort"}),
        ("rps > 10 after 30s warn", {"after_s": 30.0, "action": "warn", "op": ">"}),
        ("p99 < 1s abort over 1m", {"value": 1000.0, "window_s": 60.0, "action": "abort"}),
        ("target_429_per_s == 0 abort", {"op": "==", "value": 0.0, "live": True, "system": True}),
        ("queue_lag < 50000 for 30s", {"value": 50000.0, "live": True, "system": True}),
        ("queue_lag < 50000", {"live": True}),
        ("dropped == 0", {"live": False, "system": True}),
        ("target_429 == 0", {"live": False, "system": True}),
        ("queue_lag_max < 1000", {"live": False}),
        ("p95 < 500ms", {"live": False, "action": None}),
    ],
)
def test_rules_read_with_their_clauses(text: str, fields: dict[str, object]) -> None:
    rule = parse_threshold(text)
    for name, value in fields.items():
        assert getattr(rule, name) == value, name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p95 < 500ms over", "cannot read 'over'"),
        ("p95 < 500ms over 30s over 10s", "twice"),
        ("p95 < 500ms abort warn", "twice"),
        ("p95 < 500ms over 0.5s", "at least 1s"),
        ("p95 < 500ms for 10 parsecs", "cannot read"),
        ("p95 < 500ms explode", "cannot read 'explode'"),
        ("target_429 == 0 abort", "use target_429_per_s live"),
        ("lost == 0 for 10s", "known only after the run"),
        ("p95 < 1s over 10x", "not a duration"),
    ],
)
def test_bad_live_rules_explain_themselves(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_threshold(text)


def test_target_series_only_under_global(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text("endpoints:\n  /a: ['target_429_per_s == 0']\n")
    with pytest.raises(InputError, match="put it under 'global'"):
        load_slo_file(path)


def test_binary_slo_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(InputError, match="not a text file"):
        load_slo_file(path)


def test_persistence_needs_an_unbroken_breach_and_grace_is_ignored() -> None:
    """'for 5s': a single bad second is no breach; 6 bad seconds in a row trip at the 5th after the first."""
    state = RuleState(parse_threshold("p95 < 50ms over 5s for 5s after 3s abort"), "Aggregated")
    values = [900, 900, 900, 10, 90, 10, 90, 90, 90, 90, 90, 90, 90]  # run seconds 0..12
    trips = [t for t, v in enumerate(values) if state.update(float(t), float(v))]
    assert trips == [11]  # bad from 6 on (seconds 0-2 are grace, 4 and 5 are broken by 5's 10)
    assert state.status() == "tripped at 11 s"
    assert state.worst == 90  # the grace seconds are not judged
    assert state.record()["trip_value"] == 90


def test_status_reads_ok_breaching_and_no_data() -> None:
    state = RuleState(parse_threshold("error_rate < 5% for 20s"), "Aggregated")
    assert state.status().startswith("grace")
    state.update(1.0, 0.0)
    assert state.status() == "ok"
    state.update(2.0, 0.5)
    state.update(5.0, 0.5)
    assert state.status() == "breaching for 3 s"
    state.update(6.0, None)  # silence neither breaks nor starts a breach
    assert state.status() == "breaching for 4 s"


def test_replay_of_a_system_series_matches_live_semantics() -> None:
    rule = parse_threshold("queue_lag < 100 over 3s for 2s")
    # the 3 s mean reaches 100 (no longer < 100) at second 3; 2 s later the rule trips
    points = [(float(t), float(v)) for t, v in enumerate([0, 0, 0, 300, 300, 300, 300, 300])]
    state = replay(rule, points)
    assert (state.breaching_since, state.tripped_at) == (3.0, 5.0)


def _system(rows: list[tuple[float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["timestamp", "sandbox_rate_limited_per_s", "pipeline_consumer_lag"]
    ).assign(sandbox_dropped_per_s=0.0)


FINAL = pd.DataFrame(
    {
        "endpoint": ["GET /a", "POST /a", "Aggregated"],
        "p95": [90.0, 300.0, 250.0],
        "error_rate": [0, 0.04, 0.02],
    }
)


def test_end_of_run_target_rules_from_system_history() -> None:
    system = _system([(100.0, 0.0, 10.0), (101.0, 3.0, 900.0), (102.0, 2.0, 20.0)])
    rules = [parse_threshold(t) for t in ("target_429 == 0", "dropped == 0", "queue_lag_max < 1000",
                                          "queue_lag_max < 500", "target_429_per_s == 0")]  # fmt: skip
    verdicts = evaluate(FINAL, rules, system=system)
    assert [v.passed for v in verdicts] == [False, True, True, False, False]
    assert verdicts[0].actual == 5.0  # 3/s and 2/s over one second each
    assert verdicts[2].actual == 900.0
    missing = evaluate(FINAL, rules[:1])
    assert not missing[0].passed and math.isnan(missing[0].actual)


def test_rule_on_several_endpoints_keeps_one_verdict_per_endpoint() -> None:
    verdicts = evaluate(FINAL, [parse_threshold("p95 < 200ms", "*"), parse_threshold("p95 < 200ms", "/a")])
    for verdict in verdicts:
        assert not verdict.passed and verdict.actual == 300.0
        assert [(p.endpoint, p.passed) for p in verdict.parts] == [("GET /a", True), ("POST /a", False)]


def test_live_rules_are_judged_from_the_live_record(tmp_path: Path) -> None:
    rules = [parse_threshold("p95 < 50ms over 5s abort"), parse_threshold("error_rate < 5% for 2s")]
    record = json.loads(json.dumps({"aborted": None, "rules": [
        {"key": rules[0].key, "endpoint": "Aggregated", "worst": 240.0, "tripped_at_s": 6.0, "trip_value": 240.0},
        {"key": rules[1].key, "endpoint": "Aggregated", "worst": 0.01, "tripped_at_s": None},
    ]}))  # fmt: skip
    verdicts = evaluate(FINAL, rules, live=record)
    assert [v.passed for v in verdicts] == [False, True]
    assert "breached at 6s" in verdicts[0].line()
    unjudged = evaluate(FINAL, rules[:1])
    assert not unjudged[0].passed and "not judged live" in unjudged[0].line()
