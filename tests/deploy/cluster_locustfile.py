"""Locustfile for the distributed-mode tests: a small, steady identify load against the sandbox.

Each user sends about 4 identify calls a second, so the cluster stays far below the sandbox's Track
limit and every request should be accepted. On the master, a listener records what each worker
reports (users, requests) and writes it to ``$CLUSTER_REPORT_FILE`` when the run ends, so tests can
see how users were split and that the master's totals are the sum of its workers'.
"""

from __future__ import annotations

from locust import FastHttpUser, constant_throughput, events, task
from locust.env import Environment
from locust.runners import MasterRunner

import itertools
import json
import os
from typing import Any

import locustfiles.master_watch  # noqa: F401 - workers exit when their master is gone, as in the suite

_ids = itertools.count()
_per_worker: dict[str, dict[str, int]] = {}


class IdentifyUser(FastHttpUser):
    """Identifies a new person on every task, with the sandbox's demo Track credentials."""

    wait_time = constant_throughput(4)

    @task
    def identify(self) -> None:
        person = f"cluster-{os.getpid()}-{next(_ids)}"
        with self.client.put(
            f"/api/v1/customers/{person}",
            json={"email": f"{person}@example.com"},
            auth=("demo-site", "demo-track-key"),
            name="/api/v1/customers/[id]",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"client error (4xx): {response.status_code}")


@events.worker_report.add_listener
def _record_worker_report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    seen = _per_worker.setdefault(client_id, {"max_users": 0, "requests": 0})
    seen["max_users"] = max(seen["max_users"], int(data.get("user_count", 0)))
    seen["requests"] += sum(int(entry["num_requests"]) for entry in data.get("stats", []))


@events.quitting.add_listener
def _write_worker_summary(environment: Environment, **_kwargs: Any) -> None:
    target = os.environ.get("CLUSTER_REPORT_FILE")
    if target and isinstance(environment.runner, MasterRunner):
        with open(target, "w") as out:
            json.dump(_per_worker, out)
