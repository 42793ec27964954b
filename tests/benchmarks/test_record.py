"""The benchmark record: figures with goals decide pass/fail, and ``collect`` merges a run's records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

from record import Record, collect  # noqa: E402


def test_a_figure_passes_or_fails_by_its_goal(tmp_path: Path) -> None:
    record = Record("bench_x", quick=True, settings={"seconds": 3})
    assert record.add("ingest / sandbox (v2)", 0.85, "x", goal=(">=", 0.8)) is True
    assert record.add("429 answers", 1, goal=("==", 0)) is False
    assert record.add("requests/s", 1234.5, "req/s") is None
    record.write(tmp_path / "bench_x.json")
    data = json.loads((tmp_path / "bench_x.json").read_text())
    assert data["passed"] is False
    assert data["machine"]["cpus"] >= 1
    assert len(data["load_average_start"]) == 3 and len(data["load_average_end"]) == 3
    first = data["figures"][0]
    assert first == {**first, "goal": ">= 0.8", "pass": True, "value": 0.85, "unit": "x"}
    assert "goal" not in data["figures"][2]
    assert "| 429 answers | 1  | == 0 | ✘ |" in record.goals_markdown()


def test_collect_merges_records_and_fails_on_a_missing_one(tmp_path: Path) -> None:
    ok = Record("bench_a", quick=True)
    ok.add("ratio", 2.0, goal=(">", 1))
    ok.write(tmp_path / "bench_a.json")
    result = collect(tmp_path, ["bench_a"])
    assert result["passed"] is True
    assert json.loads((tmp_path / "results.json").read_text())["benchmarks"][0]["benchmark"] == "bench_a"
    result = collect(tmp_path, ["bench_a", "bench_b"])
    assert result["passed"] is False
    assert "no record" in result["benchmarks"][-1]["error"]


def test_the_collect_command_exits_1_on_a_failed_goal_and_2_on_a_bad_directory(tmp_path: Path) -> None:
    bad = Record("bench_c", quick=True)
    bad.add("ratio", 0.5, goal=(">=", 0.8))
    bad.write(tmp_path / "bench_c.json")
    script = str(ROOT / "benchmarks" / "record.py")
    done = subprocess.run([sys.executable, script, "collect", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 1 and "bench_c: FAILED ratio" in done.stdout
    done = subprocess.run(
        [sys.executable, script, "collect", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert done.returncode == 2 and "not a directory" in done.stderr
