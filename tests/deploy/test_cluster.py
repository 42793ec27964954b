"""Real Locust master + worker processes on loopback against the sandbox (runs.cluster)."""

from __future__ import annotations

import csv
import json
import time
import urllib.request
from pathlib import Path

import pytest

from runs.cluster import ClusterError, LocalCluster, start_local_cluster
from runs.processes import ManagedProcess
from tests.deploy.conftest import CLUSTER_LOCUSTFILE
from tests.support.sandbox import sandbox_stats

ENDPOINT = "/api/v1/customers/[id]"


def _cluster(sandbox: ManagedProcess, run_dir: Path, users: int, run_time: str, **kwargs) -> LocalCluster:
    args = ["-u", str(users), "-r", str(users), "-t", run_time, "--csv", str(run_dir / "locust")]
    args += ["--csv-full-history", "--json-file", str(run_dir / "locust"), "--only-summary"]
    env = {"CLUSTER_REPORT_FILE": str(run_dir / "workers.json")}
    return start_local_cluster(
        locustfile=CLUSTER_LOCUSTFILE, host=sandbox.url, workers=2, run_dir=run_dir, locust_args=args,
        env=env, **kwargs,
    )  # fmt: skip


def _stats_rows(run_dir: Path) -> dict[str, dict[str, str]]:
    with open(run_dir / "locust_stats.csv", newline="") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def _accepted(sandbox: ManagedProcess) -> int:
    return int(sandbox_stats(sandbox.url)["totals"]["accepted"])


@pytest.mark.slow
def test_two_workers_split_users_and_master_aggregates(fresh_sandbox: ManagedProcess, tmp_path: Path) -> None:
    """Both workers connect, each runs half the users, and the master's totals are theirs summed."""
    with _cluster(fresh_sandbox, tmp_path, users=6, run_time="5s") as cluster:
        cluster.wait_for_workers(timeout=30)
        assert cluster.wait(timeout=60) == 0
        assert all(worker.popen.returncode == 0 for worker in cluster.workers)
    workers = json.loads((tmp_path / "workers.json").read_text())
    assert sorted(seen["max_users"] for seen in workers.values()) == [3, 3]
    rows = _stats_rows(tmp_path)
    total = int(rows["Aggregated"]["Request Count"])
    assert total == int(rows[ENDPOINT]["Request Count"]) > 40
    assert int(rows["Aggregated"]["Failure Count"]) == 0
    assert total == sum(seen["requests"] for seen in workers.values())
    assert all(seen["requests"] > 0.3 * total for seen in workers.values())
    # Nothing counted twice or lost between workers, master and target; the only allowed gap is a
    # request per user that was in flight when the run stopped (the sandbox saw it, Locust did not).
    assert total <= _accepted(fresh_sandbox) <= total + 6
    final = json.loads((tmp_path / "locust.json").read_text())
    assert sum(entry["num_requests"] for entry in final) == total


@pytest.mark.slow
def test_sigkilled_worker_is_noticed_and_run_finishes(fresh_sandbox: ManagedProcess, tmp_path: Path) -> None:
    """A worker killed with SIGKILL is marked missing; the survivor takes its users and the report is sound."""
    with _cluster(fresh_sandbox, tmp_path, 6, "14s") as cluster:
        cluster.wait_for_workers(timeout=30)
        time.sleep(3)
        cluster.kill_worker(1)
        killed_at = time.time()
        assert cluster.wait(timeout=60) == 0
        log = cluster.master_log()
    assert "failed to send heartbeat, setting state to missing" in log
    rows = _stats_rows(tmp_path)
    total = int(rows["Aggregated"]["Request Count"])
    assert int(rows["Aggregated"]["Failure Count"]) == 0
    assert total == int(rows[ENDPOINT]["Request Count"])
    # The killed worker's last unreported seconds (stats go out every 3 s) never reach the master.
    accepted = _accepted(fresh_sandbox)
    assert 0.7 * accepted <= total <= accepted
    with open(tmp_path / "locust_stats_history.csv", newline="") as handle:
        history = [row for row in csv.DictReader(handle) if row["Name"] == "Aggregated"]
    after_kill = [row for row in history if float(row["Timestamp"]) > killed_at + 6]
    # Rebalancing (on by default): the survivor is given all 6 users and keeps the load going.
    assert "Sending spawn jobs of 6 users at 6.00 spawn rate to 1 ready workers" in log
    assert max(int(row["User Count"]) for row in after_kill) == 6
    assert max(float(row["Requests/s"]) for row in after_kill) > 10


@pytest.mark.slow
def test_workers_exit_with_clear_message_when_master_vanishes(
    fresh_sandbox: ManagedProcess, tmp_path: Path
) -> None:
    """With the master SIGKILLed, both workers exit (code 1) within their heartbeat timeout, saying why."""
    with _cluster(fresh_sandbox, tmp_path, users=2, run_time="60s", master_heartbeat_timeout=3) as cluster:
        cluster.wait_for_workers(timeout=30)
        time.sleep(1)
        cluster.kill_master()
        codes = [worker.popen.wait(20) for worker in cluster.workers]
    assert codes == [1, 1]
    for worker in cluster.workers:
        assert "Lost the Locust master at 127.0.0.1:" in worker.log_text()


def test_cluster_needs_a_worker(tmp_path: Path) -> None:
    """Zero workers is refused up front with a message saying why."""
    with pytest.raises(ValueError, match="at least 1"):
        start_local_cluster(
            locustfile=CLUSTER_LOCUSTFILE, host="http://127.0.0.1:9", workers=0, run_dir=tmp_path
        )


@pytest.mark.slow
def test_wait_timeout_stops_everything(fresh_sandbox: ManagedProcess, tmp_path: Path) -> None:
    """A run without an end is stopped at the wait timeout, workers included, with a clear error."""
    cluster = _cluster(fresh_sandbox, tmp_path, users=2, run_time="10m")
    cluster.wait_for_workers(timeout=30)
    with pytest.raises(ClusterError, match="still running after 1 s"):
        cluster.wait(timeout=1)
    assert not any(process.alive() for process in cluster.processes)


@pytest.mark.slow
def test_web_ui_cluster_serves_the_ui_on_loopback(fresh_sandbox: ManagedProcess, tmp_path: Path) -> None:
    """With web_ui=True the master's UI answers on 127.0.0.1 and an autostarted run still completes."""
    args = ["--autostart", "--autoquit", "0", "-u", "2", "-r", "2", "-t", "2s"]
    with start_local_cluster(
        locustfile=CLUSTER_LOCUSTFILE, host=fresh_sandbox.url, workers=2, run_dir=tmp_path, locust_args=args,
        web_ui=True,
    ) as cluster:  # fmt: skip
        assert cluster.web_url and cluster.web_url.startswith("http://127.0.0.1:")
        cluster.wait_for_workers(timeout=30)
        with urllib.request.urlopen(cluster.web_url, timeout=10) as response:  # noqa: S310 - loopback
            assert response.status == 200
        assert cluster.wait(timeout=60) == 0
    assert _accepted(fresh_sandbox) > 0
