"""End to end: the real ``locust`` command against the real sandbox, one process and a cluster."""

from __future__ import annotations

import base64
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cio_contract import ENDPOINTS
from runs.cluster import start_local_cluster
from tests.support.sandbox import running_sandbox, sandbox_stats

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "locustfiles" / "locustfile.py"
SECRETS = {
    "CIO_SITE_ID": "site-e2e-7Qx",
    "CIO_API_KEY": "trk-SECRET-a1b2c3",
    "CIO_APP_API_KEY": "app-SECRET-d4e5f6",
    "CIO_CDP_API_KEY": "cdp-SECRET-g7h8i9",
}
WORKSPACE = ":".join(SECRETS.values())
STATS_NAMES = {e.stats_name for e in ENDPOINTS}


def secret_env() -> dict[str, str]:
    return {**os.environ, **SECRETS, "PYTHONUNBUFFERED": "1"}


def output_args(run_dir: Path) -> list[str]:
    prefix = str(run_dir / "locust")
    return ["--csv", prefix, "--csv-full-history", "--html", str(run_dir / "locust_report.html"),
            "--json-file", prefix, "--stop-timeout", "5"]  # fmt: skip


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def locust_429s(run_dir: Path) -> int:
    failures = rows(run_dir / "locust_failures.csv")
    return sum(int(r["Occurrences"]) for r in failures if "rate limited (429)" in r["Error"])


def assert_no_secret_in(run_dir: Path, *texts: str) -> None:
    site, track, app, cdp = SECRETS.values()
    needles = [track, app, cdp, site, base64.b64encode(f"{site}:{track}".encode()).decode()]
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.name == "locust_report.html" for p in files)
    for path in files:
        content = path.read_text(errors="replace")
        for needle in needles:
            assert needle not in content, f"{needle!r} leaked into {path.name}"
    for text in texts:
        assert not any(n in text for n in needles)


@pytest.mark.slow
def test_single_process_run_names_counts_and_secrets(tmp_path):
    """One locust process: route names only, Locust's 429s equal the sandbox's, no secret leaks."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with running_sandbox("--workspace", WORKSPACE, "--rate-limit", "track=25", log_dir=tmp_path / "sb") as sb:
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", sb.url, "--headless",
                   "-u", "20", "-r", "20", "-t", "6s", "--seed", "11", *output_args(run_dir)]  # fmt: skip
        done = subprocess.run(
            command, cwd=run_dir, env=secret_env(), capture_output=True, text=True, timeout=90
        )
        stats = sandbox_stats(sb.url)["totals"]
    (run_dir / "locust.log").write_text(done.stdout + done.stderr)
    assert (run_dir / "locust_stats.csv").exists(), done.stderr[-2000:]
    names = {r["Name"] for r in rows(run_dir / "locust_stats.csv")} - {"Aggregated"}
    assert names <= STATS_NAMES
    assert {"/api/v1/customers/[id]", "/api/v1/customers/[id]/events", "/api/v2/batch", "/v1/batch",
            "/v1/send/email", "/api/v1/events"} <= names  # fmt: skip
    assert stats["invalid"] == 0 and stats["unauthorized"] == 0
    assert stats["rate_limited"] > 0
    assert locust_429s(run_dir) == stats["rate_limited"]
    # The sandbox's own log (outside run_dir) names its workspaces; ours must name none.
    assert_no_secret_in(run_dir, done.stdout, done.stderr)


@pytest.mark.slow
def test_cluster_arrival_rate_holds_target_and_429s_match(tmp_path):
    """Master + 2 workers, arrival shape at 40 req/s: within 5% once ramped; 429 counts agree."""
    run_dir = tmp_path / "run"
    with running_sandbox("--workspace", WORKSPACE, "--rate-limit", "track=30", log_dir=tmp_path / "sb") as sb:
        args = [*output_args(run_dir), "--shape", "arrival", "--target-rate", "40", "--shape-ramp", "3s",
                "--shape-duration", "16s", "IdentifyUser", "TrackUser"]  # fmt: skip
        with start_local_cluster(locustfile=LOCUSTFILE, host=sb.url, workers=2, run_dir=run_dir,
                                 locust_args=args, env=SECRETS) as cluster:  # fmt: skip
            rate, seconds = arrival_rate_at_target(sb.url, settle=6.0, window=9.0)
            cluster.wait(timeout=90)
            assert cluster.connected_workers() == 2
        stats = sandbox_stats(sb.url)["totals"]
    assert rate == pytest.approx(40, rel=0.05), f"held {rate:.1f} req/s over {seconds:.1f} s"
    assert stats["rate_limited"] > 0 and locust_429s(run_dir) == stats["rate_limited"]
    assert_no_secret_in(run_dir)


def arrival_rate_at_target(url: str, settle: float, window: float) -> tuple[float, float]:
    """Requests/s the sandbox received over ``window`` s, starting ``settle`` s after the first one.

    Counted at the target, not from Locust's history: workers report to the master only every 3 s,
    so a history window of a few seconds gains or loses a whole report.
    """
    import time

    deadline = time.monotonic() + 60
    while sandbox_stats(url)["totals"]["requests"] == 0:
        assert time.monotonic() < deadline, "no request reached the sandbox within 60 s"
        time.sleep(0.05)
    time.sleep(settle)
    first, t0 = sandbox_stats(url)["totals"]["requests"], time.monotonic()
    time.sleep(window)
    last, t1 = sandbox_stats(url)["totals"]["requests"], time.monotonic()
    return (last - first) / (t1 - t0), t1 - t0


BAD_OPTIONS = [
    (["--shape", "bogus"], "invalid choice: 'bogus'"),
    (["--shape", "stages", "--stages", "@MALFORMED@"], "not valid YAML"),
    (["--target-rate", "-5"], "--target-rate must be greater than 0 (got -5)"),
    (["--host", "https://track.customer.io", "--allow-real-customerio"], "set CIO_SITE_ID, CIO_API_KEY"),
    (["--host", "https://track.customer.io"], "is a real Customer.io host; refusing"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "message"), BAD_OPTIONS)
def test_bad_options_stop_before_the_run_with_one_line(tmp_path, args, message):
    """Unknown shape, malformed stages file, negative rate, real host: one line, exit 2, no run."""
    stages = tmp_path / "stages.yaml"
    stages.write_text("stages: [{duration: 10s, target: 5}\n")
    args = [str(stages) if a == "@MALFORMED@" else a for a in args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIO_")}
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-t", "5s",
               "--host", "http://127.0.0.1:9", "--csv", str(tmp_path / "locust"), *args]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    ours = [line for line in done.stderr.splitlines() if "error" in line or line.startswith("locust:")]
    assert len(ours) == 1 and message in ours[0], done.stderr
    stats_file = tmp_path / "locust_stats.csv"  # Locust creates it before our check; it stays empty
    assert not stats_file.exists() or all(r["Request Count"] == "0" for r in rows(stats_file))


@pytest.mark.slow
def test_web_ui_offers_options_but_no_secret(tmp_path):
    """The web UI page lists the traffic options (mix, shape) and carries no credential."""
    import time
    import urllib.request

    from plumbing.ports import free_port

    port = free_port()
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", "http://127.0.0.1:9",
               "--web-host", "127.0.0.1", "--web-port", str(port)]  # fmt: skip
    proc = subprocess.Popen(command, cwd=tmp_path, env=secret_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        page = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not page:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    page = response.read().decode()
            except OSError:
                time.sleep(0.2)
        assert "target_rate" in page and "mix" in page
        assert not any(secret in page for secret in SECRETS.values())
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
def test_probe_finds_the_highest_rate_under_the_sandbox_limit(tmp_path):
    """Limit 50 req/s, probe 20, 40, 60...: 40 holds, 60 draws 429s; the report says so."""
    import json

    with running_sandbox("--rate-limit", "track=50", log_dir=tmp_path / "sb") as sb:
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", sb.url, "--headless",
                   "--shape", "probe", "--target-rate", "20", "--probe-step-rate", "20", "--probe-step-time", "4s",
                   "--shape-duration", "40s", "--csv", str(tmp_path / "locust"), "IdentifyUser", "TrackUser"]  # fmt: skip
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=90)
    report = json.loads((tmp_path / "locust_probe.json").read_text())
    assert report["highest_rate_held"] == 40, done.stderr[-1500:]
    assert [s["rate"] for s in report["steps"]] == [20, 40, 60]
    assert report["steps"][-1]["rate_limited"] > 0 and "429 share" in report["stopped"]
    assert "highest rate that held 40 req/s" in done.stderr


@pytest.mark.slow
def test_tags_select_tasks_and_drop_users_left_without_any(tmp_path):
    """--tags identify screen: only those requests; users with no tagged task are not started."""
    with running_sandbox(log_dir=tmp_path / "sb") as sb:
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", sb.url, "--headless",
                   "-u", "8", "-r", "8", "-t", "3s", "--tags", "identify", "screen",
                   "--csv", str(tmp_path / "locust")]  # fmt: skip
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    names = {r["Name"] for r in rows(tmp_path / "locust_stats.csv")} - {"Aggregated"}
    assert names == {"/api/v1/customers/[id]", "/api/v1/customers/[id]/events"}
    assert "No tasks defined" not in done.stderr and "Traceback" not in done.stderr
