"""Locust event wiring of the traffic model: options, validation before the run, pools, probe report.

Bad options stop Locust before any user starts, with one line on stderr and exit code 2 (checked in
``events.init``, which fires before a headless run or the web UI starts). On workers nothing is
checked at init: their options arrive from the master with the first spawn message.
"""

from __future__ import annotations

import gevent
import locust.argument_parser as locust_argument_parser
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

import functools
import json
import logging
import sys
from pathlib import Path
from typing import Any

from locustfiles import acks
from locustfiles.context import build_context
from locustfiles.options import OptionError, add_arguments, settings_from
from locustfiles.shapes import OptionShape

__all__ = ["fail", "probe_report_path"]

log = logging.getLogger(__name__)
_TAGS = (
    "identify",
    "track",
    "page",
    "screen",
    "anonymous",
    "batch",
    "transactional",
    "pipelines",
    "integration",
)


def fail(message: str) -> None:
    """End the process with one clear line, no traceback, exit code 2."""
    sys.stderr.write(f"locust: {message}\n")
    sys.stderr.flush()
    sys.exit(2)


@events.init_command_line_parser.add_listener
def _on_parser(parser: Any, **_: Any) -> None:
    add_arguments(parser)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    if environment.parsed_options is None:
        return
    if environment.runner is not None:
        acks.install(environment)
    if isinstance(environment.runner, WorkerRunner):
        _memoize_default_args()
        _prebuild(environment)
        return
    try:
        settings = settings_from(environment.parsed_options, host=environment.host)
    except OptionError as exc:
        fail(str(exc))
        return
    if settings.rate_cap is not None:
        log.warning("Real Customer.io host: total request rate capped at %g req/s", settings.rate_cap)
    _drop_users_without_tasks(environment)
    if isinstance(environment.runner, MasterRunner):
        _tolerate_stalled_workers()
    else:
        _prebuild(environment)


# Seconds of missed 1-s heartbeats before the master counts a worker as missing (Locust: 3). On a
# busy 2-core machine a worker's test_start (payload pool, first users) stalls it for 4-5 s; with
# every worker "missing" at once Locust ends the run with no requests, though all self-heal 0.3 s on.
HEARTBEAT_LIVENESS = 15


def _tolerate_stalled_workers() -> None:
    import locust.runners

    # A module constant, read each time a heartbeat arrives (locust/runners.py, MasterRunner).
    locust.runners.HEARTBEAT_LIVENESS = max(locust.runners.HEARTBEAT_LIVENESS, HEARTBEAT_LIVENESS)


def _memoize_default_args() -> None:
    # Locust 2.47's worker calls argument_parser.default_args_dict() once per option key of every
    # spawn message (a dict comprehension in WorkerRunner.handle_message): ~100 full parses that
    # block the gevent loop for seconds on a busy machine, long enough to miss 3 heartbeats and be
    # dropped by the master. The defaults never change within a process, so compute them once.
    if not hasattr(locust_argument_parser.default_args_dict, "cache_info"):
        locust_argument_parser.default_args_dict = functools.cache(locust_argument_parser.default_args_dict)


def _drop_users_without_tasks(environment: Environment) -> None:
    # Locust keeps a user class whose tasks --tags/--exclude-tags removed and then fails in every
    # such user ("No tasks defined"). Filtering now (Locust does it only once) and dropping those
    # classes on the master/local runner means they are never dispatched, to any worker.
    if not (
        getattr(environment.parsed_options, "tags", None)
        or getattr(environment.parsed_options, "exclude_tags", None)
    ):
        return
    environment._filter_tasks_by_tags()
    kept = [cls for cls in environment.user_classes if cls.tasks]
    if not kept:
        fail("no user class has a task left after --tags/--exclude-tags; tags are: " + ", ".join(_TAGS))
    environment.user_classes = kept


def _prebuild(environment: Environment) -> None:
    # Faker needs about half a second; paying it before the run starts keeps it out of the
    # measured time. test_start reuses this pool when seed and size did not change.
    try:
        build_context(environment)
    except OptionError:
        pass  # a worker's own defaults; the master's options arrive with the first spawn


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    try:
        if not isinstance(environment.runner, WorkerRunner):
            # The web UI may have changed the host or dropped the shape since init.
            _check_cap_applies(environment)
        if not isinstance(environment.runner, MasterRunner):
            build_context(environment)
    except OptionError as exc:
        log.error("Not starting: %s", exc)
        if environment.runner is not None:
            gevent.spawn_later(0, environment.runner.quit)


def _check_cap_applies(environment: Environment) -> None:
    settings = settings_from(environment.parsed_options, host=environment.host)
    if settings.rate_cap is not None and not isinstance(environment.shape_class, OptionShape):
        # Only our shapes apply the cap; a shapeless run (class picker "Default") would not.
        raise OptionError("on a real Customer.io host pick one of the suite's shapes, which cap the rate")


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    shape = environment.shape_class
    if not isinstance(shape, OptionShape) or isinstance(environment.runner, WorkerRunner):
        return
    if shape._settings is None or shape.shape_name != "probe" or not shape.probe_state.steps:
        return
    state = shape.probe_state
    log.info(state.summary())
    path = probe_report_path(environment)
    if path is not None:
        best = state.highest_held
        report = {
            "highest_rate_held": best.rate if best else None,
            "measured_rate": best.measured_rate if best else None,
            "stopped": state.stopped_reason,
            "steps": [{**vars(s), "measured_rate": s.measured_rate} for s in state.steps],
        }
        path.write_text(json.dumps(report, indent=2))


def probe_report_path(environment: Environment) -> Path | None:
    """``<--csv prefix>_probe.json`` when the run writes CSVs, else None."""
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    return Path(f"{prefix}_probe.json") if prefix else None
