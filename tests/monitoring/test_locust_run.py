"""A real headless Locust run against the real sandbox writes system_history.csv beside its CSVs."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from locustfiles.monitoring import COLUMNS
from plumbing.ports import free_port
from tests.support.sandbox import running_sandbox

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = "locustfiles/locustfile.py"
TRACK_10 = ["--user-rate", "10", "TrackUser"]  # the traffic model's Track user at 10 requests/s each


def locust(*args: str, timeout: float = 40.0) -> subprocess.CompletedProcess[str]:
    """Run ``python -m locust`` from the repository root; the child is killed if it overruns."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "locust", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_headless_run_records_target_metrics_despite_bad_endpoints(
    endpoints: str, refused_url: str, tmp_path: Path
) -> None:
    """4 s at 40 req/s over a 30 req/s limit, with slow and dead extra endpoints: on time, rows match."""
    with running_sandbox("--rate-limit", "track=30") as sandbox:
        started = time.monotonic()
        done = locust(
            "-f", LOCUSTFILE, "--headless", "-u", "4", "-r", "4", "-t", "4s", "--host", sandbox.url,
            "--csv", str(tmp_path / "locust"), *TRACK_10,
            "--metrics-url", f"{endpoints}/slow", "--metrics-url", refused_url,
        )  # fmt: skip
        took = time.monotonic() - started
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: the 429s count as failures
    assert took < 25, f"the run took {took:.1f} s; a metrics endpoint stalled it"
    with (tmp_path / "system_history.csv").open(newline="") as file:
        reader = csv.DictReader(file)
        assert reader.fieldnames == list(COLUMNS)
        rows = list(reader)
    assert 3 <= len(rows) <= 6
    # The slow endpoint and the dead one add nothing; the sandbox's figures are there (a loaded
    # machine may make one sandbox scrape miss its deadline: that second's cells are then empty).
    steady = [row for row in rows[1:-1] if row["sandbox_requests_per_s"]]
    assert len(steady) >= len(rows) - 3
    for row in steady:
        assert float(row["sandbox_requests_per_s"]) == pytest.approx(40, rel=0.35)
        assert float(row["sandbox_accepted_per_s"]) == pytest.approx(30, rel=0.35)
        assert float(row["sandbox_rate_limited_per_s"]) == pytest.approx(10, rel=0.8)
        assert float(row["sandbox_budget_used"]) == pytest.approx(40 / 30, rel=0.35)
        assert row["pipeline_delivered_per_s"] == ""
    assert "demo-site" not in (tmp_path / "system_history.csv").read_text()


def test_bad_metrics_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A --metrics-url that is not http(s) stops Locust with exit 2 and one readable line."""
    done = locust("-f", LOCUSTFILE, "--headless", "-t", "1s", "--metrics-url", "ftp://127.0.0.1/metrics")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) <= 2, lines  # argparse's usage line, then the error
    assert "is not an http(s) URL" in lines[-1]
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_distributed_run_samples_on_the_master_only(tmp_path: Path) -> None:
    """Master + 1 worker: the master writes system_history.csv, the worker never samples."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with running_sandbox() as sandbox:
        worker_log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--worker", "--master-port", str(port)],
            cwd=REPO, env=env, stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            master = locust(
                "-f", LOCUSTFILE, "--headless", "--master", "--master-bind-host", "127.0.0.1",
                "--master-bind-port", str(port), "--expect-workers", "1", "-u", "2", "-r", "2", "-t", "4s",
                "--host", sandbox.url, "--csv", str(tmp_path / "locust"), *TRACK_10,
            )  # fmt: skip
            worker.wait(15)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(5)
            worker_log.close()
    assert master.returncode == 0, master.stderr[-2000:]
    assert "Sampling target metrics" in master.stderr
    assert "Sampling target metrics" not in (tmp_path / "worker.log").read_text()
    with (tmp_path / "system_history.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert 3 <= len(rows) <= 6
    rates = [float(row["sandbox_requests_per_s"]) for row in rows[1:-1] if row["sandbox_requests_per_s"]]
    assert len(rates) >= len(rows) - 3
    assert all(rate == pytest.approx(20, rel=0.35) for rate in rates)
