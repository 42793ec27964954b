"""Loading Locust's files: the real format from a live run, and every edge case by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from analysis import InputError, load_run
from analysis.locust_csv import read_history, read_stats
from tests.analysis.conftest import HISTORY_HEADER, STATS_HEADER, write_run


def test_real_run_loads_every_file(real_run: Path) -> None:
    """A live Locust run yields stats, full history, failures with First/Last Seen, and JSON totals."""
    run = load_run(real_run)
    assert set(run.stats["endpoint"]) == {
        "GET /ok",
        "GET /slow",
        "GET /fail",
        "GET /429",
        "GET /refused",
        "Aggregated",
    }
    assert run.full_history
    assert run.final_source == "locust.json"
    assert run.failures["first_seen"].notna().all()
    assert {"GET /fail", "GET /429", "GET /refused"} == set(run.failures["endpoint"])
    assert run.history["endpoint"].dtype == "category"
    assert (run.history.groupby("endpoint", observed=True)["total_requests"].diff().dropna() >= 0).all()


def test_json_totals_are_at_least_the_csv_totals(real_run: Path) -> None:
    """_stats.csv is rewritten once a second, so it can only trail the exit-time JSON totals."""
    run = load_run(real_run)
    csv_total = int(run.stats.loc[run.stats["endpoint"] == "Aggregated", "requests"].iloc[0])
    assert int(run.json_totals["requests"].sum()) >= csv_total > 0


def test_directory_prefix_and_stats_file_resolve_alike(real_run: Path) -> None:
    """The run directory, the --csv prefix and the _stats.csv path name the same run."""
    a, b, c = (load_run(p) for p in (real_run, real_run / "locust", real_run / "locust_stats.csv"))
    pd.testing.assert_frame_equal(a.stats, b.stats)
    pd.testing.assert_frame_equal(a.stats, c.stats)


def test_empty_run_has_nan_percentiles(empty_run: Path) -> None:
    """N/A percentiles load as NaN and the empty run is not an error."""
    run = load_run(empty_run)
    agg = run.stats.iloc[0]
    assert agg["endpoint"] == "Aggregated" and agg["requests"] == 0
    assert math.isnan(agg["p95"])
    assert run.history["p95"].isna().all()
    assert run.failures.empty and run.exceptions.empty
    assert not run.full_history


def test_unfilled_window_zeros_become_nan(one_request_run: Path) -> None:
    """Locust writes 0 for every 'current' percentile before its window fills; that is not 0 ms."""
    run = load_run(one_request_run)
    assert run.history["p50"].isna().all()
    assert run.stats.loc[0, "p50"] == 12


def test_failures_without_first_seen_columns(one_request_run: Path) -> None:
    """Pre-2.44 _failures.csv lacks First/Last Seen: the columns exist and are NaT."""
    run = load_run(one_request_run)
    assert list(run.failures.columns) == ["endpoint", "error", "occurrences", "first_seen", "last_seen"]


def test_truncated_last_history_row_is_dropped_with_a_note(tmp_path: Path) -> None:
    """Locust killed mid-write leaves half a row; it is dropped and the report says so."""
    path = tmp_path / "h.csv"
    path.write_text(
        f"{HISTORY_HEADER}\n1795884489,0,,Aggregated,0.0,0.0,1,1,1,1,1,1,1,1,1,1,1,5,0,1,1.0,1,1,0\n1795884490,3,,Aggr"
    )
    frame, notes = read_history(path)
    assert len(frame) == 1
    assert "incomplete last row" in notes[0]


def test_history_columns_parse_only_what_is_asked_with_the_same_values(real_run: Path) -> None:
    """The report parses six history columns of 22: they equal the full read's, column for column."""
    full = load_run(real_run).history
    lean = load_run(real_run, history_columns=("total_requests", "p95")).history
    assert list(lean.columns) == ["timestamp", "endpoint", "total_requests", "p95"]
    pd.testing.assert_frame_equal(lean, full[list(lean.columns)])
    assert list(load_run(real_run, history_columns=()).history.columns) == ["timestamp", "endpoint"]
    with pytest.raises(ValueError, match="not history columns: \\['p42'\\]"):
        load_run(real_run, history_columns=("p42",))


def test_history_columns_on_the_line_by_line_reader(tmp_path: Path) -> None:
    """A file pyarrow refuses (a truncated last row) takes the pandas path: same columns, same drop."""
    path = tmp_path / "h.csv"
    path.write_text(
        f"{HISTORY_HEADER}\n1795884489,2,,Aggregated,0.0,0.0,0,0,0,0,0,0,0,0,0,0,0,5,0,1,1.0,1,1,0\n"
        "1795884490,2,,Aggregated,0.0,0.0,7,7,7,7,7,9,9,9,9,9,9,8,1,1,1.0,1,1,0\n1795884491,3,,Aggr"
    )
    frame, notes = read_history(path, ["users", "p99"])
    assert list(frame.columns) == ["timestamp", "endpoint", "users", "p99"]
    assert frame["users"].tolist() == [2, 2] and frame["p99"].isna().tolist() == [True, False]
    assert "incomplete last row" in notes[0]


def test_truncated_stats_file_is_an_input_error(tmp_path: Path) -> None:
    """A _stats.csv cut before its Aggregated row is rejected with a line naming the file."""
    path = tmp_path / "locust_stats.csv"
    path.write_text(
        f"{STATS_HEADER}\nGET,/ok,1,0,12,12.4,12.4,12.4,2.0,1.0,0.0,12,12,12,12,12,12,12,12,12,12,12\n"
    )
    with pytest.raises(InputError, match=r"locust_stats.csv: no 'Aggregated' row"):
        read_stats(path)
    path.write_text(f"{STATS_HEADER}\nGET,/ok,1,0,12,12.4")
    with pytest.raises(InputError, match=r"line 2 is incomplete"):
        read_stats(path)


def test_csv_from_another_tool_names_missing_columns(tmp_path: Path) -> None:
    """A JMeter results file is refused with the columns it lacks."""
    path = tmp_path / "jmeter_stats.csv"
    path.write_text("timeStamp,elapsed,label,responseCode,success\n1700000000000,12,home,200,true\n")
    with pytest.raises(InputError) as info:
        read_stats(path)
    assert str(info.value).startswith(f"{path}: not Locust's _stats.csv: missing column(s) Type, Name")


def test_non_numeric_cell_is_named(tmp_path: Path) -> None:
    """A damaged number reports its line and column."""
    write_run(tmp_path, f"{STATS_HEADER}\n,Aggregated,lots,0,0,0,0,0,0,0.0,0.0,{','.join(['N/A'] * 11)}\n")
    with pytest.raises(InputError, match=r"line 2: column 'Request Count' has 'lots'"):
        load_run(tmp_path)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "no \\*_stats.csv in this directory"),
        (lambda d: (d / "locust_stats.csv").write_text(""), "file is empty"),
        (
            lambda d: [(d / f"{p}_stats.csv").write_text(STATS_HEADER) for p in ("a", "b")],
            "several \\*_stats.csv",
        ),
    ],
)
def test_unusable_directories(tmp_path: Path, setup, message: str) -> None:  # type: ignore[no-untyped-def]
    """Missing, empty and ambiguous inputs each get their own message."""
    setup(tmp_path)
    with pytest.raises(InputError, match=message):
        load_run(tmp_path)


def test_missing_prefix_is_an_input_error(tmp_path: Path) -> None:
    """A prefix with no files behind it says what was expected."""
    with pytest.raises(InputError, match=r"expected PREFIX_stats.csv"):
        load_run(tmp_path / "nothing")


def test_bad_json_file_is_an_input_error(one_request_run: Path) -> None:
    """A corrupt locust.json names itself."""
    (one_request_run / "locust.json").write_text("{not json")
    with pytest.raises(InputError, match=r"locust.json: not valid JSON"):
        load_run(one_request_run)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"name": "x"}', "expected a JSON list of stats entries"),
        ('[{"name": "x"}, 3]', "expected a JSON list of stats entries"),
        ('[{"name": "/ok", "num_requests": 1}]', "entry 0 lacks a valid 'num_failures' field"),
        ('[{"name": "/ok", "num_requests": "many", "num_failures": 0}]', "entry 0 lacks a valid"),
    ],
)
def test_json_that_is_not_locusts_is_named(one_request_run: Path, text: str, message: str) -> None:
    """Valid JSON of the wrong shape: one line saying what Locust's --json-file holds instead."""
    (one_request_run / "locust.json").write_text(text)
    with pytest.raises(InputError, match=message):
        load_run(one_request_run)
