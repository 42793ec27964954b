"""Windowed figures from Locust's own stats buckets, and the gate judging them each second."""

from __future__ import annotations

from locust.env import Environment
from locust.stats import RequestStats

from analysis.slo import parse_threshold
from locustfiles.gate.plugin import LiveGate
from locustfiles.gate.windows import EntryWindow


def _log(stats: RequestStats, ms: float, count: int, failed: int = 0) -> None:
    for i in range(count):
        stats.log_request("GET", "/a", ms, 10)
        if i < failed:
            stats.log_error("GET", "/a", "boom")


def test_window_percentiles_come_from_the_bucket_difference() -> None:
    stats = RequestStats()
    window = EntryWindow(horizon_s=12)
    _log(stats, 10, 150)
    window.push(stats.total, 100.0)
    for second in range(1, 6):  # five slow seconds after a fast one
        _log(stats, 200, 20, failed=2)
        window.push(stats.total, 100.0 + second)
    last5 = window.figures(5, 99.0)
    assert last5 is not None
    assert last5.requests == 100 and last5.value("p95") == 200 and last5.value("rps") == 20
    assert last5.value("error_rate") == 0.1
    whole = window.figures(None, 99.0)
    assert whole is not None and whole.value("p50") == 10  # the whole run: the fast 150 of 250 set the median
    assert window.figures(1, 99.0).value("requests") == 20  # type: ignore[union-attr]


def test_a_reset_of_the_stats_starts_the_window_over() -> None:
    stats = RequestStats()
    window = EntryWindow(horizon_s=12)
    _log(stats, 10, 50)
    window.push(stats.total, 1.0)
    stats.reset_all()
    _log(stats, 300, 5)
    window.push(stats.total, 2.0)
    figures = window.figures(10, 0.0)
    assert figures is not None and figures.requests == 5 and figures.value("min") == 300


def test_gate_trips_an_abort_rule_once_and_records_it() -> None:
    environment = Environment()
    runner = environment.create_local_runner()
    rules = [parse_threshold("p95 < 50ms over 5s for 2s abort"), parse_threshold("p99 < 1s", "*")]
    gate = LiveGate(environment, rules, None)
    assert len(gate.rules) == 1  # the plain rule is end-of-run only
    gate.started = 1000.0
    quit_calls: list[bool] = []
    runner.quit = lambda: quit_calls.append(True)  # type: ignore[method-assign]
    for second in range(1, 7):
        _log(runner.stats, 10 if second < 3 else 300, 20)
        gate.tick(1000.0 + second)
    assert gate.aborted is not None and gate.aborted["rule"] == "p95 < 50ms over 5s for 2s abort"
    assert gate.aborted["at_s"] == 5.0  # bad from second 3, 2 s of persistence
    assert environment.process_exit_code == 1
    [row] = gate.tab_rows()
    assert row["run"] == "tripped at 5 s" and row["now"] == "300ms"
    runner.greenlet.kill()


def test_a_rule_on_every_endpoint_keeps_no_placeholder_once_requests_finish() -> None:
    """Before the first request a '*' rule has nothing to judge; once endpoints report, only they count."""
    environment = Environment()
    runner = environment.create_local_runner()
    gate = LiveGate(environment, [parse_threshold("p95 < 1s over 5s", "*")], None)
    gate.started = 1000.0
    gate.tick(1001.0)
    assert [t.state.endpoint for t in gate.tracked.values()] == ["*"]
    _log(runner.stats, 10, 5)
    gate.tick(1002.0)
    assert [t.state.endpoint for t in gate.tracked.values()] == ["GET /a"]
    assert gate.record()["rules"][0]["worst"] == 10
    runner.greenlet.kill()
