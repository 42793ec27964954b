"""Live progress of ``python -m runs``: the line, the plain cadence, events at once, and a real demo
under a pseudo-terminal (with a worker killed mid-run)."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from pathlib import Path

import pytest

from runs.progress import RunProgress, format_line
from tests.support.terminal import TerminalRun

STATUS = {
    "started": 1.0, "elapsed_s": 75.2, "users": 12, "workers": 3, "workers_missing": 1, "requests": 12345,
    "rps": 40.25, "failures": 7, "failure_kinds": {"429": 5, "5xx": 2},
    "target": {"sampled": True, "pipeline": False, "rate_limited_per_s": 1.0, "dropped_per_s": 0.0},
    "final": False, "events": [],
}  # fmt: skip


def test_line_shows_time_users_workers_rate_failure_kinds_and_target() -> None:
    line = format_line(STATUS, 600, "soak")
    assert line == (
        "soak 1:15/10:00, users 12, workers 3 (1 missing), requests 12,345, 40.2 req/s, "
        "failures 7 (429 x5, 5xx x2), target 429 1.0/s dropped 0.0/s"
    )


def test_pipeline_target_adds_queue_lag_and_delivered() -> None:
    target = {**STATUS["target"], "pipeline": True, "queue_lag": 1234.0, "delivered_per_s": 450.0}  # type: ignore[dict-item]
    assert format_line({**STATUS, "target": target}, 60, "pipeline").endswith("lag 1,234 delivered 450.0/s")


def test_before_the_run_starts_the_line_says_so() -> None:
    assert format_line(None, 60, "demo") == "demo starting: waiting for the run to start"
    waiting = {"started": None, "state": "ready", "workers": 1}
    assert format_line(waiting, 60, "demo") == "demo ready: waiting for the run to start, workers 1"


def _write(path: Path, status: dict[str, object]) -> None:
    path.write_text(json.dumps(status))


def test_plain_mode_prints_a_line_per_interval_and_each_event_once(tmp_path: Path) -> None:
    """Not a terminal: a line when due, none in between; an event at once, never twice."""
    path, out = tmp_path / "status.json", io.StringIO()
    progress = RunProgress(path, planned_s=60, label="demo", stream=out, plain_every_s=0.3)
    with progress:
        progress.tick()  # no status yet: nothing to say in a log
        _write(path, STATUS)
        progress.tick()
        progress.tick()  # not due yet
        lost = {"time": 1.0, "kind": "worker_lost", "message": "worker 1 lost (no heartbeat)"}
        _write(path, {**STATUS, "events": [lost]})
        progress.tick()
        progress.tick()
        time.sleep(0.35)
        _write(path, {**STATUS, "requests": 20000, "events": [lost], "final": True})
        progress.tick()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("runs: progress demo 1:15/1:00, users 12")
    assert lines[1] == "runs: worker_lost: worker 1 lost (no heartbeat)"
    assert [line for line in lines if "worker_lost" in line] == [lines[1]]
    assert lines[2].startswith("runs: progress demo") and "requests 20,000" in lines[2]
    assert " done, " in lines[-1] and len(lines) == 4  # the final line on exit, once


def test_quiet_prints_nothing(tmp_path: Path) -> None:
    path, out = tmp_path / "status.json", io.StringIO()
    _write(path, {**STATUS, "events": [{"kind": "worker_lost", "message": "x"}]})
    with RunProgress(path, planned_s=60, label="demo", stream=out, quiet=True) as progress:
        progress.tick()
    assert out.getvalue() == ""


@pytest.mark.slow
def test_demo_under_a_terminal_redraws_each_second_and_shows_a_lost_worker(
    demo_in_a_terminal: TerminalRun,
) -> None:
    """``python -m runs demo`` in a pseudo-terminal: >= 30 redraws during the run (40 s), a SIGKILLed worker
    shown at once on a line of its own, the last redraw carrying the run's request count."""
    text, run_dir = demo_in_a_terminal.text, demo_in_a_terminal.run_dir
    assert demo_in_a_terminal.returncode in (0, 1), text[-3000:]  # 1: an SLO breach, still a full run
    # rich redraws the line in place: carriage return + erase-line, then the new text.
    redraws = re.findall(r"\r\x1b\[2K(demo \d+:\d\d/\d+:\d\d[^\r\n]*)", text)
    during = [r for r in redraws if " done," not in r]
    assert len(during) >= 30, f"{len(during)} redraws during the run"
    with (run_dir / "locust_stats.csv").open() as f:
        total = next(int(r["Request Count"]) for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    final = re.findall(r"demo \d+:\d\d/\d+:\d\d[^\r\n\x1b]*", text)[-1]
    assert " done, " in final and f"requests {total:,}," in final, final
    assert demo_in_a_terminal.killed_worker, "the run never reached 0:10"
    lost = re.findall(r"runs: worker_lost: worker \d lost \(no heartbeat\)[^\r\n]*\r\n", text)
    assert len(lost) == 1, text[-3000:]
    # The verdict is the first line after the progress line, then the report as a link.
    after = text[text.rindex(final) :].splitlines()
    assert re.match(r"\S*runs: (PASS|FAIL) demo: ", after[1]), after[:3]
    assert f"runs: report: {(run_dir / 'report.html').resolve().as_uri()}" in text
