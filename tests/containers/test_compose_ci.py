"""The documented headless CI flow (docs/ci.md), run verbatim with only the two credentials set."""

from __future__ import annotations

import csv
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from plumbing.ports import free_port
from tests.containers import credentials
from tests.support.containers import ROOT, ComposeProject

if TYPE_CHECKING:
    from tests.containers.conftest import Scenarios

CREDENTIALS = credentials.CI_FLOW

SCENARIO_SECONDS = 70
"""About how long it takes alone (up, a 20 s run, the report)."""


def documented_flow() -> str:
    """The sh block under the ``ci-compose-flow`` marker of docs/ci.md, as written there."""
    text = (ROOT / "docs" / "ci.md").read_text()
    match = re.search(r"<!-- ci-compose-flow:.*?-->\n```sh\n(.*?)```", text, re.S)
    assert match, "docs/ci.md lost its ci-compose-flow block"
    return match.group(1)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_headless_ci_flow_verbatim(scenarios: Scenarios) -> None:
    """Exit 0, no failed request (App and Pipelines included), the full report set in ./reports/ci, and
    no credential in the ``docker inspect`` output of any container the flow made."""
    scenarios.result(__name__)


def scenario(images: dict[str, str], directory: Path, say: Callable[[str], None]) -> None:
    flow = documented_flow()
    assert "docker-compose up" in flow and "--headless" in flow and "down -v" in flow
    assert flow.startswith("deploy/docker/write-secrets.sh")
    # Published ports on free ones: a test never takes a fixed port of the machine.
    env = {**images, **CREDENTIALS, "SANDBOX_PUBLISHED_PORT": str(free_port())}
    env = {k: v for k, v in env.items() if not k.startswith(("CIO_APP", "CIO_CDP", "LOCUST_"))}
    with ComposeProject.copy_of_repo(directory, f"ci{os.getpid()}", env, say) as project:
        started = time.time()
        done = project.shell(flow, timeout=420)
        assert done.returncode == 0, f"exit {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        token = project.secret("sandbox_admin_token")
    # Every container of the flow (the one-off masters included) had its credentials as files only.
    leaked = project.leaks([*CREDENTIALS.values(), token])
    assert not leaked, f"credentials in docker inspect output: {leaked}"
    # sandbox, 2 workers and the two one-off masters: the recorder saw them all
    assert len(list(project.inspections.glob("*.json"))) >= 5
    reports = directory / "reports" / "ci"
    stats = {row["Name"]: row for row in _rows(reports / "locust_stats.csv")}
    total = stats["Aggregated"]
    logs = (done.stdout + done.stderr).splitlines()
    output = "\n".join(line for line in logs if "/INFO/" in line or "ERROR" in line or "rror" in line)
    say(output[-6000:])
    assert int(total["Request Count"]) > 20 and int(total["Failure Count"]) == 0, total
    # The App and Pipelines endpoints were exercised and authenticated (the 401s of issue 10).
    assert {"/v1/send/email", "/v1/batch"} <= set(stats), sorted(stats)
    history = _rows(reports / "locust_stats_history.csv")
    assert {row["Name"] for row in history} - {"Aggregated"}, "no per-endpoint rows: not full history"
    first = min(int(r["Timestamp"]) for r in history if int(r["Total Request Count"] or 0) > 0)
    assert "<html" in (reports / "locust_report.html").read_text()[:2000].lower()
    system = _rows(reports / "system_history.csv")
    assert len(system) >= 10 and max(float(r["sandbox_requests_per_s"] or 0) for r in system) > 0
    summary = json.loads((reports / "summary.json").read_text())
    assert summary and (reports / "report.html").is_file() and (reports / "summary.md").is_file()
    say(f"up -> first request: {first - started:.1f} s")
