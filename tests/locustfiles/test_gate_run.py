"""The live SLO gate on real runs: a latency fault aborts a 2-minute run early; without it the run ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.sandbox import admin_call, running_sandbox, sandbox_stats

REPO = Path(__file__).resolve().parents[2]
RULE = "p95 < 50ms over 5s for 5s abort"
# The baseline profile's shape and users, at a rate a loaded 2-core machine keeps up with.
RATE = ["--target-rate", "20", "--shape-ramp", "3s"]
SHAPE = ["--shape", "arrival", *RATE, "IntegrationUser"]


def _slo(tmp_path: Path) -> Path:
    path = tmp_path / "slo.yaml"
    path.write_text(f'global:\n  - "{RULE}"\n  - "error_rate < 5%"\n')
    return path


def _requests(url: str) -> int:
    return int(sandbox_stats(url)["totals"]["requests"])


@pytest.mark.slow
def test_latency_fault_aborts_a_two_minute_run_by_rule(tmp_path: Path) -> None:
    """200 ms fault: stopped within 20 s of it, exit 1, rule named, complete report marked aborted."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with running_sandbox() as sandbox:
        command = [sys.executable, "-m", "runs", "baseline", "--host", sandbox.url, "--workers", "1",
                   "--duration", "2m", "--slo", str(_slo(tmp_path)), "--reports-dir", str(tmp_path / "reports"),
                   "--", *RATE]  # fmt: skip
        runs = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            deadline = time.monotonic() + 60
            while _requests(sandbox.url) < 40 and time.monotonic() < deadline and runs.poll() is None:
                time.sleep(0.5)
            assert runs.poll() is None, runs.communicate()[0][-3000:]
            admin_call(sandbox.url, "faults", "PUT", {"*": {"latency": {"fixed_ms": 200}}})
            fault_at = time.time()
            output, _ = runs.communicate(timeout=150)
        finally:
            if runs.poll() is None:
                runs.kill()
                runs.wait(10)
    assert runs.returncode == 1, output[-3000:]
    assert f"aborted by rule '{RULE}'" in output.lower().replace("aborted  by", "aborted by"), output[-3000:]
    [run_dir] = (tmp_path / "reports").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    aborted = summary["aborted"]
    assert aborted["rule"] == RULE and summary["verdict"] == "fail"
    stopped = datetime.fromisoformat(summary["run"]["end"]).timestamp()
    assert stopped - fault_at < 20, f"the run went on {stopped - fault_at:.1f} s after the fault"
    assert datetime.fromisoformat(aborted["at"]).timestamp() - fault_at < 20
    assert "Aborted by rule 'p95 < 50ms over 5s for 5s abort'" in (run_dir / "summary.md").read_text()
    assert "Aborted by rule" in (run_dir / "report.html").read_text()
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust.json", "locust_report.html",
                 "system_history.csv", "slo_live.json", "junit.xml"):  # fmt: skip
        assert (run_dir / name).is_file(), name
    junit = ET.parse(run_dir / "junit.xml").getroot()
    assert (junit.get("tests"), junit.get("failures")) == ("2", "1")


@pytest.mark.slow
def test_without_the_fault_the_same_rules_let_the_run_end(tmp_path: Path) -> None:
    """Plain locust --slo, 20 s: the rule is judged every second, never trips, exit 0."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with running_sandbox() as sandbox:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "locust", "-f", "locustfiles/locustfile.py", "--headless", "--host", sandbox.url,
             "--slo", str(_slo(tmp_path)), "--csv", str(tmp_path / "locust"), *SHAPE, "--shape-duration", "20s"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert took >= 20
    assert "SLO rule tripped" not in done.stderr
    record = json.loads((tmp_path / "slo_live.json").read_text())
    assert record["aborted"] is None
    [state] = [r for r in record["rules"] if r["rule"] == RULE]
    assert state["status"] == "ok" and state["judged_s"] >= 15 and state["worst"] < 50


def test_the_suite_locustfile_takes_slo_and_refuses_a_bad_file(tmp_path: Path) -> None:
    """--slo is registered by the suite's locustfile; a bad rule stops Locust at once: one line, exit 2."""
    bad = tmp_path / "slo.yaml"
    bad.write_text('global: ["p95 < 500ms over 0.5s abort"]\n')
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", "locustfiles/locustfile.py", "--headless", "-t", "1s",
         "--slo", str(bad)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith("locust: --slo: ")
    assert "a window ('over') must be at least 1s" in done.stderr and "Traceback" not in done.stderr
