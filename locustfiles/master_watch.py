"""Locust plugin: a worker whose master has gone away exits promptly, saying why.

Locust 2.47 workers only give up after a hard-coded 60 s without a master heartbeat, and then log a
terse line. Imported by the suite's locustfile like its other plugins, this adds ``--master-heartbeat-timeout``
(env ``LOCUST_MASTER_HEARTBEAT_TIMEOUT``, default 15 s) and exits with code 1 and one clear line.
With ``--heartbeat-file PATH`` (env ``LOCUST_HEARTBEAT_FILE``) it also touches PATH on every master
heartbeat, so a container probe (``python -m deploy.healthcheck --file PATH``) can tell a live worker
from one whose master is gone: a worker listens on no port to probe.
It defines no User classes, so it changes nothing on the master or in a standalone run.
"""

from __future__ import annotations

import gevent
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

import logging
import time
from pathlib import Path
from typing import Any

from plumbing.options import Options, declarer

__all__ = [
    "DEFAULT_TIMEOUT",
    "OPTIONS",
    "LOST_MASTER_EXIT_CODE",
    "lost_master_message",
    "touch_on_heartbeat",
    "watch_master",
]

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
    while True:
        gevent.sleep(_CHECK_INTERVAL)
        # Until the first heartbeat, Locust's own connect retries apply (minutes): a worker may start
        # before its master, as compose and Kubernetes start them in any order.
        last = runner.last_heartbeat_timestamp
        silent_for = time.time() - last if last else 0.0
        if silent_for > timeout:
            logger.error(lost_master_message(runner.master_host, runner.master_port, silent_for))
            environment.process_exit_code = LOST_MASTER_EXIT_CODE
            runner.quit()
            return


def touch_on_heartbeat(environment: Environment, path: Path) -> None:
    """Touch ``path`` whenever the master's heartbeat arrives (the worker's liveness signal)."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def _touch(**_kwargs: Any) -> None:
        path.touch()

    environment.events.heartbeat_received.add_listener(_touch)


_o = declarer("LOCUST_", ("locust worker",))

OPTIONS = Options(
    "Locust worker",
    (
        _o(
            "--master-heartbeat-timeout",
            DEFAULT_TIMEOUT,
            "worker only: exit (code 1) after this many seconds without a heartbeat from the master",
            type=float,
            low=0,
            low_open=True,
        ),  # fmt: skip
        _o(
            "--heartbeat-file",
            "",
            "worker only: touch this file on every master heartbeat (for container health probes)",
            metavar="PATH",
        ),  # fmt: skip
    ),
)


@events.init_command_line_parser.add_listener
def _add_argument(parser: Any, **_kwargs: Any) -> None:
    OPTIONS.add_to(parser)


@events.init.add_listener
def _start_watch(environment: Environment, **_kwargs: Any) -> None:
    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        return
    options = environment.parsed_options
    timeout = getattr(options, "master_heartbeat_timeout", DEFAULT_TIMEOUT) if options else DEFAULT_TIMEOUT
    heartbeat_file = getattr(options, "heartbeat_file", "") if options else ""
    if heartbeat_file:
        touch_on_heartbeat(environment, Path(heartbeat_file))
    gevent.spawn(watch_master, environment, runner, float(timeout))
