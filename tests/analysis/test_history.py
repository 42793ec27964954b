"""Run history over generated runs: tidy frame, Parquet index, trend chart, table, one regression flagged."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from analysis.history import HistoryRules, build_frame, flag_regressions, main
from analysis.render import summary
from analysis.results import analyse
from analysis.run import load_run


@pytest.fixture(scope="module")
def real_summary(real_run: Path) -> dict[str, Any]:
    """The summary.json of a real Locust run, as python -m analysis.report writes it."""
    return json.loads(json.dumps(summary(analyse(load_run(real_run))), default=str))


def _generate(reports: Path, base: dict[str, Any], slow_run: int | None, count: int = 5) -> list[str]:
    """``count`` runs an hour apart with a little noise; ``slow_run`` gets p95 x3 on its first endpoint."""
    names = []
    for i in range(count):
        data = copy.deepcopy(base)
        data["run"]["start"] = f"2026-11-{20 + i:02d}T10:00:00Z"
        noise = 1 + 0.02 * ((-1) ** i)
        for entry in (data["totals"], *data["endpoints"]):
            for key in ("p50", "p95", "p99"):
                entry[key] = (entry[key] or 10) * noise
            entry["rps"] = (entry["rps"] or 1) * noise
        if i == slow_run:
            data["endpoints"][0]["p95"] *= 3
        name = f"202611{20 + i:02d}-100000-baseline"
        (reports / name).mkdir(parents=True)
        (reports / name / "summary.json").write_text(json.dumps(data))
        names.append(name)
    return names


def test_history_flags_exactly_the_run_that_regressed(real_summary: dict[str, Any], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    reports = tmp_path / "reports"
    names = _generate(reports, real_summary, slow_run=4)
    assert main([str(reports)]) == 1
    frame = pd.read_parquet(reports / "history.parquet")  # a notebook reads the index directly
    endpoints = 1 + len(real_summary["endpoints"])
    assert len(frame) == 5 * endpoints and frame["run"].nunique() == 5
    assert list(dict.fromkeys(frame["run"])) == names  # oldest first
    regressions = flag_regressions(build_frame(reports))
    slowed = real_summary["endpoints"][0]["endpoint"]
    assert set(regressions["run"]) == {names[4]}
    assert set(regressions["endpoint"]) <= {slowed, "Aggregated"} and "p95" in set(regressions["figure"])
    table = (reports / "history.md").read_text()
    assert table.count("REGRESSION") == 2  # its table row and its line under the newest run
    assert f"REGRESSION {slowed} p95" in table
    assert (reports / "history.png").stat().st_size > 10_000
    assert f"REGRESSION  {names[4]} {slowed}: p95" in capsys.readouterr().out


def test_a_regression_in_an_older_run_is_flagged_there_and_the_newest_passes(
    real_summary: dict[str, Any], tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    names = _generate(reports, real_summary, slow_run=2)
    frame = build_frame(reports)
    flagged = flag_regressions(frame, HistoryRules(previous=3))
    assert set(flagged["run"]) == {names[2]}
    assert not (flagged["run_index"] == frame["run_index"].max()).any()  # so the command would exit 0


def test_bad_reports_dir_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "none")]) == 2
    (tmp_path / "r" / "x").mkdir(parents=True)
    (tmp_path / "r" / "x" / "summary.json").write_text("{broken")
    assert main([str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not a directory" in err[0] and "cannot read this summary" in err[1]
