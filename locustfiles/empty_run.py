"""Locust plugin: a distributed run that counted no request fails, loudly, instead of passing.

A master counts only what its workers report. When no report arrives (workers that start after the
run is over, reports lost on the way), Locust 2.47 still ends with exit code 0 and empty statistics,
although the target may have received the workers' traffic: a load test that "passes" having
measured nothing. Imported by the suite's locustfile like its other plugins: on a master whose run
started and counted 0 requests it logs one error line and sets exit code 1. Single-process runs and
workers are left alone (their users' requests are counted where they are made).
"""

from __future__ import annotations

from locust import events
from locust.env import Environment
from locust.runners import MasterRunner

import logging
from typing import Any

__all__ = ["EMPTY_RUN_EXIT_CODE", "empty_run_message", "install"]

EMPTY_RUN_EXIT_CODE = 1
log = logging.getLogger(__name__)


def empty_run_message(workers_seen: int) -> str:
    """The one line the master logs; tests and operators grep for its start."""
    return (
        f"The run counted no requests: none of the {workers_seen} worker(s) reported statistics to the "
        "master, so any traffic they sent was not measured; failing the run (exit code 1). See the "
        "workers' logs (a worker busy past the run's end, or unable to reach the master)"
    )


def install(environment: Environment) -> None:
    """Check, as the master quits, that a run which started counted at least one request."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    started: list[bool] = []
    workers_seen: set[str] = set()
    environment.events.test_start.add_listener(lambda **_: started.append(True))
    environment.events.worker_connect.add_listener(lambda client_id, **_: workers_seen.add(client_id))

    def check(**_: Any) -> None:
        if not started or runner.stats.total.num_requests > 0:
            return
        log.error(empty_run_message(len(workers_seen)))
        if environment.process_exit_code is None:
            environment.process_exit_code = EMPTY_RUN_EXIT_CODE

    environment.events.quitting.add_listener(check)


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs: Any) -> None:
    install(environment)
