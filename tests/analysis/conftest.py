"""Analysis fixtures: one real Locust run per session, plus hand-written Locust CSVs for edge cases."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

LOCUSTFILE = """
from locust import HttpUser, constant, task


class Probe(HttpUser):
    wait_time = constant(0.02)

    @task(3)
    def ok(self):
        self.client.get("/ok")

    @task
    def slow(self):
        self.client.get("/slow")

    @task
    def fail(self):
        with self.client.get("/fail", catch_response=True) as r:
            r.failure(f"server error (5xx): {r.status_code}")

    @task
    def limited(self):
        with self.client.get("/429", catch_response=True) as r:
            r.failure("rate limited (429)")

    @task
    def refused(self):
        self.client.get("http://127.0.0.1:1/", name="/refused")
"""

STATS_HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
    "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)
HISTORY_HEADER = (
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,"
    "Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,"
    "Total Min Response Time,Total Max Response Time,Total Average Content Size"
)
NA11 = ",".join(["N/A"] * 11)


class _Handler(BaseHTTPRequestHandler):
    STATUS = {"/ok": 200, "/slow": 200, "/fail": 500, "/429": 429}

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/slow":
            time.sleep(0.03)
        body = b"ok"
        self.send_response(self.STATUS.get(self.path, 404))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def target_url() -> Iterator[str]:
    """A tiny threaded HTTP server on 127.0.0.1:0 with /ok, /slow, /fail (500) and /429."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory, target_url: str) -> Path:
    """Run directory written by a real `locust --headless` (10 s, 10 users) with full history and JSON."""
    run_dir = tmp_path_factory.mktemp("real-run")
    (run_dir / "probe_locustfile.py").write_text(LOCUSTFILE)
    cmd = [
        sys.executable, "-m", "locust", "-f", "probe_locustfile.py", "--headless", "-u", "10", "-r", "10",
        "-t", "10s", "-H", target_url, "--csv", "locust", "--csv-full-history", "--json-file", "locust",
        "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=run_dir, capture_output=True, text=True, timeout=90)
    # Locust exits 1 when requests failed, which this run does on purpose.
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert (run_dir / "locust_stats_history.csv").is_file(), proc.stderr[-2000:]
    return run_dir


def write_run(directory: Path, stats: str, history: str | None = None, failures: str | None = None,
              exceptions: str | None = None) -> Path:  # fmt: skip
    """Write hand-made Locust CSVs under prefix ``locust``; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "locust_stats.csv").write_text(stats)
    for suffix, text in (("_stats_history", history), ("_failures", failures), ("_exceptions", exceptions)):
        if text is not None:
            (directory / f"locust{suffix}.csv").write_text(text)
    return directory


@pytest.fixture
def empty_run(tmp_path: Path) -> Path:
    """What Locust leaves when no request was made: only Aggregated rows, N/A percentiles."""
    return write_run(
        tmp_path / "empty",
        f"{STATS_HEADER}\n,Aggregated,0,0,0,0,0,0,0,0.0,0.0,{NA11}\n",
        f"{HISTORY_HEADER}\n1795884489,0,,Aggregated,0.000000,0.000000,{NA11},0,0,0,0.0,0,0,0\n",
        "Method,Name,Error,Occurrences,First Seen,Last Seen\n",
        "Count,Message,Traceback,Nodes\n",
    )


@pytest.fixture
def one_request_run(tmp_path: Path) -> Path:
    """A single successful request; pre-2.44 failures header (no First/Last Seen)."""
    pct = ",".join(["12"] * 11)
    return write_run(
        tmp_path / "one",
        f"{STATS_HEADER}\nGET,/ok,1,0,12,12.4,12.4,12.4,2.0,1.0,0.0,{pct}\n,Aggregated,1,0,12,12.4,12.4,12.4,2.0,1.0,0.0,{pct}\n",
        f"{HISTORY_HEADER}\n"
        f"1795884489,1,GET,/ok,0.000000,0.000000,{','.join(['0'] * 11)},1,0,12,12.4,12.4,12.4,2.0\n"
        f"1795884489,1,,Aggregated,0.000000,0.000000,{','.join(['0'] * 11)},1,0,12,12.4,12.4,12.4,2.0\n",
        "Method,Name,Error,Occurrences\n",
    )


@pytest.fixture
def all_failures_run(tmp_path: Path) -> Path:
    """Every request failed: 5xx on one endpoint, timeouts on another (Locust 2.44+ failures file)."""
    pct = ",".join(["5"] * 11)
    return write_run(
        tmp_path / "fail",
        f"{STATS_HEADER}\n"
        f"POST,/a,10,10,5,5.0,5.0,5.0,0,2.0,2.0,{pct}\n"
        f"POST,/b,10,10,5,5.0,5.0,5.0,0,2.0,2.0,{pct}\n"
        f",Aggregated,20,20,5,5.0,5.0,5.0,0,4.0,4.0,{pct}\n",
        f"{HISTORY_HEADER}\n"
        f"1795884490,2,POST,/a,0,0,{pct},4,4,5,5.0,5,5,0\n"
        f"1795884490,2,POST,/b,0,0,{pct},4,4,5,5.0,5,5,0\n"
        f"1795884490,2,,Aggregated,0,0,{pct},8,8,5,5.0,5,5,0\n"
        f"1795884491,2,POST,/a,4,4,{pct},10,10,5,5.0,5,5,0\n"
        f"1795884491,2,POST,/b,4,4,{pct},10,10,5,5.0,5,5,0\n"
        f"1795884491,2,,Aggregated,8,8,{pct},20,20,5,5.0,5,5,0\n",
        "Method,Name,Error,Occurrences,First Seen,Last Seen\n"
        "POST,/a,CatchResponseError('server error (5xx): 503'),10,2026-11-28T16:48:09Z,2026-11-28T16:48:11Z\n"
        "POST,/b,CatchResponseError('timeout'),10,2026-11-28T16:48:09Z,2026-11-28T16:48:11Z\n",
    )
