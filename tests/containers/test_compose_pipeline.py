"""Pipeline and monitoring profiles in containers, on the offline override (Tansu, Debian's redis and
Prometheus): Locust -> ingest -> Kafka -> 2 senders -> sandbox delivers every acknowledged event without
a 429, and Prometheus scrapes sandbox, ingest and both senders."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plumbing.ports import free_port
from tests.containers import credentials
from tests.pipeline.harness import scrape
from tests.support.containers import (
    ComposeProject,
    http_json,
    wait_until,
    workspace_label,
)
from tests.support.sandbox import sandbox_stats

if TYPE_CHECKING:
    from tests.containers.conftest import Scenarios

CREDENTIALS = credentials.PIPELINE
OVERRIDE = "deploy/docker/compose.offline.yml"

SCENARIO_SECONDS = 70
"""About how long it takes alone (up of 8 services, a 20 s run, the drain, Prometheus' scrapes)."""


def _query(prometheus: str, expression: str) -> list[dict[str, Any]]:
    answer = http_json(f"{prometheus}/api/v1/query?query={urllib.parse.quote(expression)}")
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def _acknowledged(ingest: str) -> float:
    return sum(
        v
        for k, v in scrape(ingest).items()
        if k.startswith("pipeline_ingest_events_total{") and "outcome=accepted" in k
    )


def test_pipeline_and_monitoring_profiles(scenarios: Scenarios) -> None:
    scenarios.result(__name__)


def scenario(images: dict[str, str], directory: Path, say: Callable[[str], None]) -> None:
    ports = {name: free_port() for name in ("SANDBOX", "INGEST", "PROMETHEUS", "MASTER")}
    env = {**images, **CREDENTIALS, **{f"{n}_PUBLISHED_PORT": str(p) for n, p in ports.items()}}
    sandbox = f"http://127.0.0.1:{ports['SANDBOX']}"
    ingest = f"http://127.0.0.1:{ports['INGEST']}"
    prometheus = f"http://127.0.0.1:{ports['PROMETHEUS']}"
    with ComposeProject.copy_of_repo(directory, f"pipe{os.getpid()}", env, say, [OVERRIDE]) as project:
        profiles = ["--profile", "pipeline", "--profile", "monitoring"]
        project.write_secrets()
        project.compose(*profiles, "up", "-d", "--scale", "sender=2", "--scale", "worker=1",
                        "sandbox", "ingest", "sender", "prometheus", "worker", timeout=420)  # fmt: skip
        # Track traffic only: ingest speaks the Track API (the App and Pipelines APIs go elsewhere).
        run = project.compose(
            *profiles, "run", "--rm", "--use-aliases", "-e", "LOCUST_HOST=http://ingest:8000", "master",
            "--headless", "--expect-workers", "1", "--expect-workers-max-wait", "120", "-u", "6", "-r", "6",
            "-t", "20s", "--exit-code-on-error", "1", "IdentifyUser", "TrackUser", "BatchUser",
            timeout=300, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        acknowledged = _acknowledged(ingest)
        assert acknowledged > 50, acknowledged

        def delivered() -> Any:
            seen = sandbox_stats(sandbox, project.secret("sandbox_admin_token"))["workspaces"][
                workspace_label(CREDENTIALS["CIO_SITE_ID"])
            ]
            seen = seen["totals"]
            return seen if seen["operations_accepted"] >= acknowledged else None

        seen = wait_until("every acknowledged event at the sandbox", delivered, 120, interval=2)
        assert seen["rate_limited"] == 0 and seen["unauthorized"] == 0, seen
        say(
            f"acknowledged {acknowledged:.0f}, arrived {seen['operations_accepted']}, requests {seen['requests']}"
        )

        def scraped() -> Any:
            up = {(r["metric"]["job"], r["metric"]["instance"]) for r in _query(prometheus, "up == 1")}
            jobs = [job for job, _ in up]
            return up if jobs.count("sender") == 2 and {"sandbox", "ingest"} <= set(jobs) else None

        wait_until("Prometheus scraping sandbox, ingest and 2 senders", scraped, 90, interval=2)

        def delivery_series() -> Any:
            # Scraped every 5 s: the series catches up with the senders' counters within a scrape or two.
            result = _query(prometheus, "sum(pipeline_sender_events_delivered_total)")
            return result if result and float(result[0]["value"][1]) >= acknowledged else None

        wait_until(
            "the delivery series read back from Prometheus reaching the acknowledged count",
            delivery_series,
            60,
            interval=2,
        )
        token = project.secret("sandbox_admin_token")
    leaked = project.leaks([*CREDENTIALS.values(), token])
    assert not leaked, f"credentials in docker inspect output: {leaked}"
