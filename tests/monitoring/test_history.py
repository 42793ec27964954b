"""Rates, budget and row assembly from metric readings (pure functions)."""

from __future__ import annotations

import pytest

from locustfiles.monitoring.history import COLUMNS, combine, rates, read, totals
from locustfiles.monitoring.scrape import metrics_url_for, parse, redact

_PAGE = """\
# TYPE sandbox_requests_total counter
sandbox_requests_total{{workspace="a",api="track",endpoint="track",outcome="accepted"}} {a_ok}
sandbox_requests_total{{workspace="a",api="track",endpoint="track",outcome="rate_limited"}} {a_429}
sandbox_requests_total{{workspace="b",api="track",endpoint="identify",outcome="accepted"}} {b_ok}
sandbox_requests_total{{workspace="_unknown",api="track",endpoint="track",outcome="unauthorized"}} {bad}
sandbox_requests_total{{workspace="a",api="app",endpoint="send",outcome="dropped"}} {drop}
sandbox_requests_created{{workspace="a",api="track",endpoint="track",outcome="accepted"}} 1.7e9
# TYPE sandbox_operations_accepted_total counter
sandbox_operations_accepted_total{{workspace="a",api="track"}} {ops}
# TYPE sandbox_rate_limit_per_second gauge
sandbox_rate_limit_per_second{{workspace="a",api="track"}} 100
sandbox_rate_limit_per_second{{workspace="b",api="track"}} 10
sandbox_rate_limit_per_second{{workspace="a",api="app"}} 10
"""


def _reading(at: float, **values: float):
    defaults = {"a_ok": 0, "a_429": 0, "b_ok": 0, "bad": 0, "drop": 0, "ops": 0}
    return read(parse(_PAGE.format(**{**defaults, **values})), at)


def test_rates_per_second_and_busiest_workspace_budget() -> None:
    """Counters over 2 s give per-second rates; budget is the busiest workspace's share of its limit."""
    before = _reading(10.0)
    after = _reading(12.0, a_ok=100, a_429=60, b_ok=16, bad=4, drop=2, ops=300)
    row = rates(before, after)
    assert row["sandbox_requests_per_s"] == 91  # (100+60+16+4+2)/2
    assert row["sandbox_accepted_per_s"] == 150  # operations, not requests
    assert row["sandbox_rate_limited_per_s"] == 30
    assert row["sandbox_dropped_per_s"] == 1
    assert row["sandbox_errors_per_s"] == 2  # the 401s
    # workspace a: 160 Track requests / 2 s / 100 = 0.8; b: 16 / 2 / 10 = 0.8; then b at 1.5
    assert row["sandbox_budget_used"] == pytest.approx(0.8)
    row = rates(before, _reading(12.0, b_ok=30))
    assert row["sandbox_budget_used"] == pytest.approx(1.5)


def test_series_absent_from_the_previous_scrape_counts_from_zero() -> None:
    """The sandbox exports an outcome only once it is non-zero; its first appearance is a rate."""
    before = read(parse("# TYPE sandbox_rate_limit_per_second gauge\n"
                        'sandbox_rate_limit_per_second{workspace="a",api="track"} 10\n'), 1.0)  # fmt: skip
    row = rates(before, _reading(2.0, a_ok=6, a_429=2))
    assert row["sandbox_requests_per_s"] == 8
    assert row["sandbox_rate_limited_per_s"] == 2
    assert row["sandbox_budget_used"] == pytest.approx(0.08)  # 8 req/s of workspace a's 100


def test_first_reading_and_counter_reset_give_no_rate() -> None:
    """No previous reading, or a counter that went down (restart), leaves the rate cells empty."""
    assert rates(None, _reading(1.0, a_ok=5)) == {}
    row = rates(_reading(1.0, a_ok=50), _reading(2.0, a_ok=3))
    assert "sandbox_requests_per_s" not in row
    assert row["sandbox_dropped_per_s"] == 0


def test_combine_sums_sources_and_keeps_absent_columns_empty() -> None:
    """Rates from two sources add up, budget takes the larger, untouched columns stay None."""
    row = combine(5.0, [{"pipeline_delivered_per_s": 3.0, "sandbox_budget_used": 0.5},
                        {"pipeline_delivered_per_s": 4.0, "sandbox_budget_used": 0.9}])  # fmt: skip
    assert list(row) == list(COLUMNS)
    assert row["timestamp"] == 5.0
    assert row["pipeline_delivered_per_s"] == 7.0
    assert row["sandbox_budget_used"] == 0.9
    assert row["pipeline_consumer_lag"] is None


def test_totals_count_growth_since_first_reading() -> None:
    """Run totals are the counters' growth since the run's first reading."""
    grown = totals(_reading(0, a_429=7), _reading(9, a_429=19, drop=2))
    assert grown["rate_limited"] == 12
    assert grown["dropped"] == 2


def test_parse_refuses_html_and_urls_are_cleaned() -> None:
    """HTML is not Prometheus text; URLs lose credentials; /metrics sits at the host's root."""
    with pytest.raises(Exception, match="not Prometheus text"):
        parse("<html><body>hello</body></html>")
    assert redact("http://user:secret@127.0.0.1:9/metrics") == "http://127.0.0.1:9/metrics"
    assert metrics_url_for("http://127.0.0.1:8080/api/v1") == "http://127.0.0.1:8080/metrics"


def test_analysis_reads_exactly_the_columns_the_sampler_writes() -> None:
    """The analysis's list of system columns and the sampler's header cannot drift apart."""
    from analysis.system import SYSTEM_COLUMNS

    assert ["timestamp", *SYSTEM_COLUMNS] == list(COLUMNS)
