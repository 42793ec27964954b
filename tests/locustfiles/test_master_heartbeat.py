"""A master started with the traffic model tolerates a worker stalled for seconds at test start."""

from __future__ import annotations

import locust.runners
from locust.env import Environment

from locustfiles import plugin
from locustfiles.users import IdentifyUser
from plumbing.ports import free_port
from tests.locustfiles.conftest import parse_options


def test_master_waits_15_missed_heartbeats_before_calling_a_worker_missing(monkeypatch) -> None:
    """Locust's 3 missed beats drop every worker of a busy 2-core machine at once; ours wait 15."""
    monkeypatch.setattr(locust.runners, "HEARTBEAT_LIVENESS", 3)
    environment = Environment(user_classes=[IdentifyUser], parsed_options=parse_options(),
                              host="http://127.0.0.1:8080")  # fmt: skip
    runner = environment.create_master_runner("127.0.0.1", free_port())
    try:
        plugin._on_init(environment)
        assert locust.runners.HEARTBEAT_LIVENESS == plugin.HEARTBEAT_LIVENESS == 15
    finally:
        runner.quit()
