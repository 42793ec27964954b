"""The sampler keeps one row a second whatever its endpoints do, with the documented columns."""

from __future__ import annotations

import gevent

import csv
import time
from pathlib import Path

import pytest

from locustfiles.monitoring import COLUMNS, SystemSampler
from locustfiles.monitoring.live import tab_rows
from tests.monitoring.endpoints import LAG, RATES, TRACK_LIMIT


def _run(sampler: SystemSampler, seconds: float) -> float:
    """Sample for ``seconds`` and return how long stop() took."""
    sampler.start()
    gevent.sleep(seconds)
    started = time.monotonic()
    sampler.stop()
    return time.monotonic() - started


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        return list(reader.fieldnames or []), list(reader)


@pytest.mark.slow
def test_bad_endpoints_never_stall_rows_or_hide_good_ones(
    endpoints: str, refused_url: str, tmp_path: Path
) -> None:
    """Slow, garbage, 404 and refused endpoints next to a good one: a row every second, good rates."""
    urls = [
        f"{endpoints}/metrics",
        f"{endpoints}/slow",
        f"{endpoints}/garbage",
        f"{endpoints}/nope",
        refused_url,
    ]
    sampler = SystemSampler(urls, tmp_path / "system_history.csv")
    stop_took = _run(sampler, 5.6)

    header, rows = _rows(tmp_path / "system_history.csv")
    assert header == list(COLUMNS)
    assert 4 <= len(rows) <= 6
    stamps = [float(row["timestamp"]) for row in rows]
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert all(0.7 <= gap <= 1.4 for gap in gaps), gaps
    assert stop_took < 2.0
    filled = [row for row in rows if row["sandbox_requests_per_s"]]
    assert len(filled) >= len(rows) - 1  # a loaded machine may make the good one miss a deadline
    for row in filled:
        assert float(row["sandbox_requests_per_s"]) == pytest.approx(
            sum(RATES[k] for k in ("accepted", "rate_limited", "invalid")), rel=0.25
        )
        assert float(row["sandbox_accepted_per_s"]) == pytest.approx(RATES["accepted"], rel=0.25)
        assert float(row["sandbox_rate_limited_per_s"]) == pytest.approx(RATES["rate_limited"], rel=0.25)
        assert float(row["sandbox_errors_per_s"]) == pytest.approx(RATES["invalid"], rel=0.3)
        assert float(row["sandbox_dropped_per_s"] or 0) == 0
        assert float(row["sandbox_budget_used"]) == pytest.approx(52 / TRACK_LIMIT, rel=0.25)
        assert float(row["pipeline_delivered_per_s"]) == pytest.approx(RATES["delivered"], rel=0.25)
        assert float(row["pipeline_consumer_lag"]) == LAG
        assert row["pipeline_ingested_per_s"] == ""
    errors = [source.error or "ok" for source in sampler.sources]
    assert errors[0] == "ok"
    assert "no answer within" in errors[1]
    assert "not Prometheus text" in errors[2]
    assert "HTTP 404" in errors[3]
    assert "connection refused" in errors[4]


@pytest.mark.slow
def test_only_missing_endpoints_still_write_empty_rows(
    endpoints: str, refused_url: str, tmp_path: Path
) -> None:
    """With no usable endpoint every row has a timestamp and empty cells, still one a second."""
    sampler = SystemSampler([f"{endpoints}/slow", refused_url], tmp_path / "h.csv", interval=0.5)
    _run(sampler, 3.0)
    header, rows = _rows(tmp_path / "h.csv")
    assert header == list(COLUMNS)
    assert 4 <= len(rows) <= 6, [row["timestamp"] for row in rows]
    for row in rows:
        assert row["timestamp"]
        assert all(row[column] == "" for column in COLUMNS[1:])


def test_no_csv_path_samples_for_the_ui_only(endpoints: str) -> None:
    """Without a CSV path the sampler still keeps the latest row (the web UI's source)."""
    sampler = SystemSampler([f"{endpoints}/metrics"], None, interval=0.2)
    _run(sampler, 0.75)
    assert sampler.rows_written >= 2
    assert sampler.latest["sandbox_rate_limited_per_s"] == pytest.approx(RATES["rate_limited"], rel=0.4)


def test_live_table_shows_pipeline_rows_and_no_workspace_names(endpoints: str) -> None:
    """With pipeline series the tab adds delivered events and queue lag; label values never show."""
    sampler = SystemSampler([f"{endpoints}/metrics"], None, interval=0.25)
    _run(sampler, 0.9)
    rows = {row["figure"]: row for row in tab_rows(sampler, "running")}
    assert rows["Metrics endpoints"]["now"] == "1/1 answering"
    assert rows["Track budget used"]["run"].startswith("peak ")
    assert "25 req/s" in rows["Track budget used"]["detail"]
    assert rows["Pipeline delivered"]["now"].endswith("events/s")
    assert rows["Queue lag"]["now"] == f"{LAG:.1f} events"
    assert "ws-secret" not in repr(rows)
    assert list(rows)[-1] == "Analysis report"
