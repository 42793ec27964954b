"""``python -m runs``: a real short profile run end to end, Ctrl-C cleanup, and bad input."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]


def start_runs(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runs", *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def children_while(proc: subprocess.Popen[str], until: float, want: int = 0) -> set[int]:
    """Pids of everything ``proc`` started, collected until it exits (or ``want`` are seen)."""
    seen: set[int] = set()
    parent = psutil.Process(proc.pid)
    while proc.poll() is None and time.monotonic() < until:
        try:
            seen |= {c.pid for c in parent.children(recursive=True)}
        except psutil.NoSuchProcess:
            break
        if want and len(seen) >= want:
            break
        time.sleep(0.2)
    return seen


def alive(pids: set[int]) -> list[int]:
    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


@pytest.mark.slow
def test_short_baseline_writes_the_run_directory_and_stops_everything(tmp_path):
    """Sandbox + master + 2 workers + analysis; every shared run file is written; nothing left."""
    proc = start_runs("baseline", "--duration", "8s", "--reports-dir", str(tmp_path), "--", "--seed", "3")
    pids = children_while(proc, time.monotonic() + 120)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 1), err  # 1 = an SLO breach on a loaded machine, still a full run
    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name.endswith("-baseline")
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv", "locust_report.html",
                 "locust.json", "sandbox_stats.json", "locust-worker-1.log"):  # fmt: skip
        assert (run_dir / name).exists(), name
    assert "runs: requests " in out and "runs: sandbox: accepted" in out and "runs: report:" in out
    assert len(pids) >= 4 and not alive(pids)
    # The workers quit on their master's word, not on the SIGTERM runs sends them 10 s later.
    for worker in sorted(run_dir.glob("locust-worker-*.log")):
        assert "Got quit message from master" in worker.read_text(), worker.read_text()[-2000:]


@pytest.mark.slow
def test_interrupt_stops_every_process(tmp_path):
    """Ctrl-C during the run: exit 130, sandbox, master and workers all gone."""
    proc = start_runs("soak", "--duration", "2m", "--reports-dir", str(tmp_path))
    pids = children_while(proc, time.monotonic() + 60, want=4)
    assert len(pids) >= 4, proc.stderr.read() if proc.poll() is not None else "too few processes"
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    assert not alive(pids)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "invalid choice: 'nope'"),
        (["demo", "--duration", "2m"], "--duration does not apply to demo"),
        (["soak", "--duration", "forever"], "--duration 'forever' is not a duration"),
        (["soak", "--workers", "0"], "--workers must be at least 1"),
    ],
)
def test_bad_arguments_one_line_exit_2(tmp_path, args, message):
    """Unknown profile or bad option: one line, exit 2, nothing started."""
    done = subprocess.run([sys.executable, "-m", "runs", *args, "--reports-dir", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and message in lines[-1] and "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())


def test_summary_reads_locust_csvs_and_failure_kinds(tmp_path):
    """The printed summary: totals from the Aggregated row, failures grouped by kind, the probe."""
    from runs.cli import summarise

    # Locust's own header: the summary reads it through analysis.locust_csv, which wants all of it.
    percentiles = "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
    (tmp_path / "locust_stats.csv").write_text(
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
        f"Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,{percentiles}\n"
        "PUT,/api/v1/customers/[id],90,7,2,3,1,40,2,9.0,0.7,2,2,2,2,3,9,9,9,40,40,40\n"
        ",Aggregated,100,8,2,3,1,41.5,2,10.04,0.8,2,2,2,2,3,10,10,10,41,41,41\n"
    )
    (tmp_path / "locust_failures.csv").write_text(
        "Method,Name,Error,Occurrences\n"
        "PUT,/api/v1/customers/[id],CatchResponseError('rate limited (429)'),5\n"
        "POST,/api/v1/events,CatchResponseError('rate limited (429)'),2\n"
        "POST,/api/v1/events,CatchResponseError('server error (5xx): 503'),1\n"
    )
    (tmp_path / "locust_probe.json").write_text(
        '{"highest_rate_held": 60.0, "stopped": "stopped at 80 req/s"}'
    )
    text = summarise(tmp_path, {"accepted": 92, "rate_limited": 7, "operations_accepted": 120})
    assert "requests 100, failures 8, 10.0 req/s, median 2 ms, p95 10 ms, max 42 ms" in text
    # One classifier (plumbing.failures, as in the report): kinds, not the raw messages.
    assert "failures: 429 x7, 5xx x1" in text
    assert "sandbox: accepted 92, rate limited 7" in text and "highest rate that held 60.0 req/s" in text


@pytest.mark.slow
def test_bad_locust_option_after_double_dash_exits_2_and_stops_everything(tmp_path):
    """`-- --target-rate -5`: Locust's one line is repeated, exit 2, sandbox and workers stopped."""
    proc = start_runs("baseline", "--reports-dir", str(tmp_path), "--", "--target-rate", "-5")
    pids = children_while(proc, time.monotonic() + 60)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1] == "runs: locust: --target-rate must be greater than 0 (got -5)"
    assert not alive(pids)
