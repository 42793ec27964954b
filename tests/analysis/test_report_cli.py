"""The report CLI end to end: outputs, exit codes 0/1/2, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis import analyse, load_run
from analysis.render import build_charts
from analysis.report import main

ROOT = Path(__file__).resolve().parents[2]


def test_real_run_report_writes_every_output(
    real_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """HTML with embedded PNGs, Markdown, summary.json and charts; exit 0 without gates."""
    assert main([str(real_run), "--out", str(tmp_path)]) == 0
    assert "final figures from locust.json" in capsys.readouterr().out
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 6 and "src='charts/" not in html
    names = {p.name for p in (tmp_path / "charts").iterdir()}
    assert names == {
        "throughput.png",
        "latency.png",
        "latency_per_endpoint.png",
        "errors.png",
        "latency_distribution.png",
        "endpoints.png",
    }
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["final_source"] == "locust.json" and data["verdict"] == "pass"
    assert (
        data["errors_by_kind"]["429"] > 0
        and data["errors_by_kind"]["5xx"] > 0
        and data["errors_by_kind"]["connection"] > 0
    )
    assert data["knee"]["crossed_by"] == "error_rate"  # the probe fails on purpose from the start
    md = (tmp_path / "summary.md").read_text()
    assert "exact totals at exit" in md and "| GET /slow |" in md


def test_real_run_figures_are_consistent(real_run: Path) -> None:
    """Per-second requests add up to the history's final count; the slow endpoint is the slowest."""
    results = analyse(load_run(real_run))
    agg = results.seconds[results.seconds["endpoint"] == "Aggregated"]
    last_total = int(results.run.history.query("endpoint == 'Aggregated'")["total_requests"].iloc[-1])
    assert int(agg["requests"].sum()) == last_total
    slowest = results.final[results.final["endpoint"] != "Aggregated"].sort_values("p50").iloc[-1]
    assert slowest["endpoint"] == "GET /slow" and slowest["p50"] >= 30
    kinds = results.kind_rates.groupby("kind", observed=True)["fail_rps"].sum()
    assert kinds["429"] > 0 and kinds["5xx"] > 0 and kinds["connection"] > 0 and kinds["timeout"] == 0
    assert set(build_charts(results)) >= {"throughput", "errors"}


def test_without_json_the_report_says_figures_may_trail(real_run: Path, tmp_path: Path) -> None:
    """No --json-file output: final figures come from _stats.csv with the ~4% caveat."""
    run_dir = tmp_path / "run"
    shutil.copytree(real_run, run_dir, ignore=shutil.ignore_patterns("*.json"))
    assert main([str(run_dir)]) == 0
    data = json.loads((run_dir / "summary.json").read_text())
    assert data["final_source"] == "_stats.csv"
    assert any("~4%" in note for note in data["notes"])


def test_slo_breach_exits_1_and_prints_verdicts(
    real_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each threshold gets a PASS/FAIL line; any FAIL makes the exit code 1."""
    slo = tmp_path / "slo.yaml"
    slo.write_text("global: [p95 < 5s, error_rate < 1%]\nendpoints:\n  /slow: [p50 < 1ms]\n")
    assert main([str(real_run), "--out", str(tmp_path / "out"), "--slo", str(slo)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("PASS  Aggregated: p95 < 5s")
    assert out[1].startswith("FAIL  Aggregated: error_rate < 1%")
    assert out[2].startswith("FAIL  /slow: p50 < 1ms")


def test_baseline_comparison_flags_regression(
    real_run: Path, one_request_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Compared with itself nothing regresses; against a much faster baseline it does."""
    assert main([str(real_run), "--out", str(tmp_path / "a"), "--baseline", str(real_run)]) == 0
    fast = tmp_path / "fast"
    shutil.copytree(real_run, fast)
    text = (fast / "locust.json").read_text()
    entries = json.loads(text)
    for entry in entries:
        entry["response_times"] = {"0": entry["num_requests"]}
        entry["total_response_time"] = 0.0
    (fast / "locust.json").write_text(json.dumps(entries))
    capsys.readouterr()
    assert (
        main([str(real_run), "--out", str(tmp_path / "b"), "--baseline", str(fast), "--tolerance", "5"]) == 1
    )
    assert "REGRESSION  GET /slow: p95 0 -> " in capsys.readouterr().out
    data = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert data["comparison"]["regressions"]


@pytest.mark.parametrize("fixture", ["empty_run", "one_request_run", "all_failures_run"])
def test_edge_case_runs_report_without_error(fixture: str, request: pytest.FixtureRequest) -> None:
    """Empty, one-request and all-failure runs all produce a report (exit 0 without gates)."""
    run_dir: Path = request.getfixturevalue(fixture)
    assert main([str(run_dir)]) == 0
    data = json.loads((run_dir / "summary.json").read_text())
    assert (run_dir / "report.html").is_file()
    if fixture == "empty_run":
        assert data["totals"]["requests"] == 0 and "the run recorded no requests" in data["notes"]
        assert data["charts"] == []
    if fixture == "all_failures_run":
        assert data["totals"]["error_rate"] == 1.0
        assert data["errors_by_kind"]["5xx"] == 10 and data["errors_by_kind"]["timeout"] == 10


def test_empty_run_fails_any_slo(empty_run: Path, tmp_path: Path) -> None:
    """A gate that sees no data fails rather than passes."""
    slo = tmp_path / "slo.json"
    slo.write_text('["p95 < 500ms"]')
    assert main([str(empty_run), "--slo", str(slo)]) == 1


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analysis.report", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "missing", "no Locust CSVs here"),
        (
            lambda d: _write(d / "x_stats.csv", "timeStamp,elapsed,label\n1,2,3\n"),
            "not Locust's _stats.csv: missing column(s)",
        ),
        (lambda d: _write(d / "locust_stats.csv", ""), "file is empty"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, make, expected: str) -> None:  # type: ignore[no-untyped-def]
    """Missing, foreign and empty input: exit 2, one stderr line naming the file, no traceback."""
    target = make(tmp_path)
    proc = _cli(str(target))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("error: ") and expected in lines[0] and str(tmp_path) in lines[0]


def test_bad_slo_file_is_exit_2(
    one_request_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable SLO rule names the SLO file."""
    slo = _write(tmp_path / "slo.yaml", "- p95 around 500ms\n")
    assert main([str(one_request_run), "--slo", str(slo)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {slo}: cannot read SLO rule 'p95 around 500ms'")


def test_bad_option_value_is_exit_2(one_request_run: Path) -> None:
    """argparse rejects a negative tolerance with exit 2."""
    proc = _cli(str(one_request_run), "--tolerance", "-5")
    assert (
        proc.returncode == 2
        and "--tolerance must not be negative (got -5)" in proc.stderr
        and "Traceback" not in proc.stderr
    )


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_system_history_joins_the_report(real_run: Path, tmp_path: Path) -> None:
    """A system_history.csv next to the CSVs adds the target-side chart on the run's time axis."""
    run_dir = tmp_path / "run"
    shutil.copytree(real_run, run_dir)
    history = load_run(run_dir).history
    start, end = int(history["timestamp"].min()), int(history["timestamp"].max())
    rows = [f"{t + 0.3},{40},{38},{2},,0,0.4,,,," for t in range(start, end + 1)]
    header = (
        "timestamp,sandbox_requests_per_s,sandbox_accepted_per_s,sandbox_rate_limited_per_s,sandbox_dropped_per_s,"
        "sandbox_errors_per_s,sandbox_budget_used,pipeline_ingested_per_s,pipeline_delivered_per_s,"
        "pipeline_consumer_lag,pipeline_dead_letters_per_s"
    )
    _write(run_dir / "system_history.csv", "\n".join([header, *rows]) + "\n")
    assert main([str(run_dir)]) == 0
    assert "charts/system.png" in json.loads((run_dir / "summary.json").read_text())["charts"]
    _write(run_dir / "system_history.csv", "when,what\n1,2\n")
    proc = _cli(str(run_dir))
    assert proc.returncode == 2 and "system_history.csv: no 'timestamp' column" in proc.stderr


def test_cli_breach_exits_1_with_its_output(empty_run: Path, tmp_path: Path) -> None:
    """Through ``python -m``: the report skips the interpreter's teardown (os._exit), so its exit code
    and its printed verdicts must survive that."""
    slo = _write(tmp_path / "slo.json", '["p95 < 500ms"]')
    proc = _cli(str(empty_run), "--out", str(tmp_path / "out"), "--slo", str(slo))
    assert proc.returncode == 1, proc.stderr
    assert "FAIL" in proc.stdout and proc.stdout.rstrip().splitlines()[-1].startswith("report: ")
    assert (tmp_path / "out" / "summary.json").is_file() and proc.stderr == ""
