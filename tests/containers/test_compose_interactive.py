"""The interactive compose flow, then its faults: a killed worker mid-run, then a stopped master.

One project, three checks in sequence (each needs the state the one before left): the web UI on its
loopback port shows 3 workers and runs a test started through its HTTP API; ``docker kill`` of one
worker mid-run is noticed by the master and the run ends with a consistent report; killing the
master makes the other workers exit with their one line, and they stay down.
"""

from __future__ import annotations

import os
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plumbing.ports import free_port
from tests.containers import credentials
from tests.support.containers import (
    ComposeProject,
    docker,
    http_json,
    wait_until,
    workspace_label,
)
from tests.support.sandbox import sandbox_stats

if TYPE_CHECKING:
    from tests.containers.conftest import Scenarios

CREDENTIALS = credentials.WEB_UI

SCENARIO_SECONDS = 120
"""About how long it takes alone (up, a 40 s run, the master's loss noticed after 15 s of heartbeats)."""


def _total(stats: dict[str, Any]) -> dict[str, Any]:
    return next(row for row in stats["stats"] if row["name"] == "Aggregated")


def test_web_ui_worker_kill_and_master_stop(scenarios: Scenarios) -> None:
    scenarios.result(__name__)


def scenario(images: dict[str, str], directory: Path, say: Callable[[str], None]) -> None:
    ui_port, sandbox_port = free_port(), free_port()
    env = {**images, **CREDENTIALS, "MASTER_PUBLISHED_PORT": str(ui_port),
           "SANDBOX_PUBLISHED_PORT": str(sandbox_port)}  # fmt: skip
    ui = f"http://127.0.0.1:{ui_port}"
    with ComposeProject.copy_of_repo(directory, f"ui{os.getpid()}", env, say) as project:
        project.write_secrets()
        project.compose("up", "-d", "--scale", "worker=3")
        wait_until(
            "3 workers in the web UI", lambda: http_json(f"{ui}/stats/requests")["worker_count"] == 3, 180
        )
        with urllib.request.urlopen(ui + "/", timeout=10) as page:  # noqa: S310 - loopback
            assert page.status == 200 and b"locust" in page.read().lower()

        form = {"user_count": 9, "spawn_rate": 9, "host": "http://sandbox:8080", "run_time": "40s"}
        started = http_json(f"{ui}/swarm", data=urllib.parse.urlencode(form).encode())
        assert started["success"], started
        wait_until(
            "requests in the stats",
            lambda: _total(http_json(f"{ui}/stats/requests"))["num_requests"] > 20,
            90,
        )

        victim, *survivors = project.containers("worker")
        assert docker(env, "kill", victim).returncode == 0
        noticed = wait_until(
            "the master noticing the killed worker",
            lambda: [w for w in http_json(f"{ui}/stats/requests")["workers"] if w["state"] == "missing"],
            60,
        )
        assert len(noticed) == 1, noticed
        final = wait_until(
            "the run ending at its run time",
            lambda: (s := http_json(f"{ui}/stats/requests"))["state"] == "stopped" and s,
            120,
        )
        total = _total(final)
        assert total["num_requests"] > 50 and total["num_failures"] == 0, total
        # Consistent: the master never counts more than the sandbox saw (the killed worker's last
        # unsent report may be missing, nothing may be invented).
        seen = sandbox_stats(f"http://127.0.0.1:{sandbox_port}", project.secret("sandbox_admin_token"))[
            "workspaces"
        ]
        seen = seen[workspace_label(CREDENTIALS["CIO_SITE_ID"])]
        assert total["num_requests"] <= seen["totals"]["requests"], (total, seen["totals"])
        with urllib.request.urlopen(f"{ui}/stats/report", timeout=30) as report:  # noqa: S310 - loopback
            assert report.status == 200 and b"/api/v1/customers/[id]" in report.read()

        # The master vanishes (killed, OOM, node lost): no quit message reaches the workers. (A
        # graceful `docker stop` sends them one, and they exit at once.)
        master = project.containers("master")[0]
        assert docker(env, "kill", master).returncode == 0
        stopped = time.monotonic()
        wait_until(
            "the remaining workers exiting",
            lambda: all(project.inspect(w)["State"]["Status"] == "exited" for w in survivors),
            120,
        )
        say(f"workers exited {time.monotonic() - stopped:.0f} s after the master was killed")
        time.sleep(3)  # a restart policy restarts within a second (Docker's first backoff is 100 ms)
        for worker in survivors:
            state = project.inspect(worker)
            assert state["HostConfig"]["RestartPolicy"]["Name"] == "no", state["HostConfig"]["RestartPolicy"]
            assert state["State"]["Status"] == "exited" and state["RestartCount"] == 0, state["State"]
            assert state["State"]["ExitCode"] == 1, state["State"]
            assert "Lost the Locust master at master:5557" in project.logs(worker), project.logs(worker)
        token = project.secret("sandbox_admin_token")
    leaked = project.leaks([*CREDENTIALS.values(), token])
    assert not leaked, f"credentials in docker inspect output: {leaked}"
