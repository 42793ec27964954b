"""Locust plugin: a worker whose master has gone away exits promptly, saying why.

Locust 2.47 workers only give up after a hard-coded 60 s without a master heartbeat, and then log a
terse line. Loaded next to the real locustfile on workers (``-f locustfile.py,deploy/master_watch.py``,
which ``runs.cluster`` and the container entry points do), this adds ``--master-heartbeat-timeout``
(env ``LOCUST_MASTER_HEARTBEAT_TIMEOUT``, default 15 s) and exits with code 1 and one clear line.
It defines no User classes, so it changes nothing on the master or in a standalone run.
"""

from __future__ import annotations

import gevent
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

import logging
import time
from typing import Any

__all__ = ["DEFAULT_TIMEOUT", "LOST_MASTER_EXIT_CODE", "lost_master_message", "watch_master"]

DEFAULT_TIMEOUT = 15.0
LOST_MASTER_EXIT_CODE = 1
_CHECK_INTERVAL = 0.5

logger = logging.getLogger(__name__)


def lost_master_message(host: str, port: int, silent_for: float) -> str:
    """The one line a worker logs before it exits; tests and operators grep for its start."""
    return (
        f"Lost the Locust master at {host}:{port}: no heartbeat for {silent_for:.0f} s; this worker exits. "
        "Restart the master, then the workers (an orchestrator restarts them for you)."
    )


def watch_master(environment: Environment, runner: WorkerRunner, timeout: float) -> None:
    """Quit the worker once the master has been silent for ``timeout`` seconds (runs in a greenlet)."""
    started = time.time()
    while True:
        gevent.sleep(_CHECK_INTERVAL)
        # Before the first heartbeat, count from start-up so a master that never answers is caught too.
        last = runner.last_heartbeat_timestamp or started
        silent_for = time.time() - last
        if silent_for > timeout:
            logger.error(lost_master_message(runner.master_host, runner.master_port, silent_for))
            environment.process_exit_code = LOST_MASTER_EXIT_CODE
            runner.quit()
            return


@events.init_command_line_parser.add_listener
def _add_argument(parser: Any, **_kwargs: Any) -> None:
    parser.add_argument(
        "--master-heartbeat-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        env_var="LOCUST_MASTER_HEARTBEAT_TIMEOUT",
        help="Worker only: exit (code 1) after this many seconds without a heartbeat from the master.",
    )


@events.init.add_listener
def _start_watch(environment: Environment, **_kwargs: Any) -> None:
    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        return
    options = environment.parsed_options
    timeout = getattr(options, "master_heartbeat_timeout", DEFAULT_TIMEOUT) if options else DEFAULT_TIMEOUT
    gevent.spawn(watch_master, environment, runner, float(timeout))
