"""The master's live status file: what ``python -m runs`` shows while a run goes on.

With ``--status-file PATH`` (declared in ``locustfiles.monitoring.options``) the master (or a single-process runner; never a worker) rewrites PATH
once a second, atomically, with its own figures: state, users, workers connected and missing,
requests and failures so far, requests/s now, failures per kind, and the target-side figures the
sampler read this second (429s, dropped, queue lag, delivered/s). A watcher reads the file; nothing
parses the master's log. Things that need attention at once (a worker lost, a live rule breached)
are kept as ``events``: a list that only grows during a run, so a watcher prints each one once.
"""

from __future__ import annotations

import gevent
from locust.env import Environment
from locust.runners import STATE_MISSING, STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner
from locust.stats import StatsError

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from plumbing.failures import ERROR_KINDS, classify_error

__all__ = ["STATUS_VERSION", "StatusWriter", "attach", "record_event"]

log = logging.getLogger(__name__)

STATUS_VERSION = 1
_INTERVAL_S = 1.0
# Target-side figures from the sampler's latest row, under the names the status file uses.
_TARGET_COLUMNS = {
    "rate_limited_per_s": "sandbox_rate_limited_per_s",
    "dropped_per_s": "sandbox_dropped_per_s",
    "budget_used": "sandbox_budget_used",
    "queue_lag": "pipeline_consumer_lag",
    "delivered_per_s": "pipeline_delivered_per_s",
    "ingested_per_s": "pipeline_ingested_per_s",
}


class StatusWriter:
    """Writes the status file once a second from a greenlet, and a final one when Locust quits."""

    def __init__(self, environment: Environment, path: Path, interval: float = _INTERVAL_S):
        self.environment = environment
        self.path = path
        self.interval = interval
        self.events: list[dict[str, Any]] = []
        self.started: float | None = None
        self.stopped: float | None = None
        self._known_workers: dict[str, int] = {}
        self._lost: set[str] = set()
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._greenlet = gevent.spawn(self._loop)

    def on_test_start(self, **_: Any) -> None:
        self.started, self.stopped = time.time(), None
        self.events.clear()
        self._lost.clear()

    def on_test_stop(self, **_: Any) -> None:
        self.stopped = time.time()
        self.write()

    def on_quit(self, **_: Any) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
        self.write(final=True)

    def record(self, kind: str, message: str) -> None:
        self._append(kind, message)
        self.write()

    def _append(self, kind: str, message: str) -> None:
        self.events.append({"time": round(time.time(), 3), "kind": kind, "message": message})
        log.warning("%s: %s", kind, message)

    def _loop(self) -> None:
        # A monotonic schedule, so a slow write does not drift the cadence.
        next_at = time.monotonic()
        while True:
            try:
                self.write()
            except Exception:  # a full disk must not end the run; the watcher sees a stale file
                log.exception("could not write the status file %s", self.path)
            next_at += self.interval
            gevent.sleep(max(0.0, next_at - time.monotonic()))

    def write(self, final: bool = False) -> None:
        status = self.snapshot(final)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(status))
        os.replace(tmp, self.path)

    def snapshot(self, final: bool = False) -> dict[str, Any]:
        runner = self.environment.runner
        assert runner is not None
        if isinstance(runner, MasterRunner):
            self._watch_workers(runner)
        total = runner.stats.total
        now = time.time()
        return {
            "version": STATUS_VERSION,
            "updated": round(now, 3),
            "final": final,
            "state": runner.state,
            "started": self.started,
            "elapsed_s": _elapsed(self.started, self.stopped or now),
            "users": runner.user_count,
            "workers": runner.worker_count if isinstance(runner, MasterRunner) else None,
            "workers_missing": len(runner.clients.missing) if isinstance(runner, MasterRunner) else None,
            "requests": total.num_requests,
            "failures": total.num_failures,
            "rps": round(total.current_rps, 2),
            "failures_per_s": round(total.current_fail_per_sec, 2),
            "failure_kinds": _failure_kinds(runner.stats.errors.values()),
            "target": self._target(),
            "events": list(self.events),
        }

    def _target(self) -> dict[str, Any]:
        monitor = getattr(self.environment, "customerio_monitor", None)
        sampler = getattr(monitor, "sampler", None)
        if sampler is None or not sampler.sources:
            return {"sampled": False}
        latest = sampler.latest
        figures: dict[str, Any] = {name: latest.get(column) for name, column in _TARGET_COLUMNS.items()}
        figures["sampled"] = any(source.last is not None for source in sampler.sources)
        figures["pipeline"] = any(
            latest.get(c) is not None for c in _TARGET_COLUMNS.values() if "pipeline" in c
        )
        return figures

    def _watch_workers(self, runner: MasterRunner) -> None:
        # A worker that stops sending heartbeats is lost whatever the run's state (the last one going
        # missing is what stops the run); one that leaves the table while the run goes on is lost too.
        # Workers leave the table at the end of every run, which is not a loss.
        running = runner.state in (STATE_RUNNING, STATE_SPAWNING)
        current = {w.id: w for w in runner.clients.values()}
        for worker_id in current:
            self._known_workers.setdefault(worker_id, runner.get_worker_index(worker_id))
        for worker_id, index in self._known_workers.items():
            worker = current.get(worker_id)
            gone = worker.state == STATE_MISSING if worker is not None else running
            if gone and worker_id not in self._lost:
                self._lost.add(worker_id)
                self._append(
                    "worker_lost",
                    f"worker {index} lost (no heartbeat); {runner.worker_count} connected, "
                    "its users move to the others",
                )
        for worker_id in [w for w in self._lost if w in current and current[w].state != STATE_MISSING]:
            self._lost.discard(worker_id)  # it came back (Locust calls that self-healed)


def _elapsed(started: float | None, until: float) -> float | None:
    return None if started is None else round(until - started, 1)


def _failure_kinds(errors: Any) -> dict[str, int]:
    # The analysis's kinds (429, 5xx, timeout, connection, 4xx, other), in its order.
    counts = dict.fromkeys(ERROR_KINDS, 0)
    for entry in errors:
        counts[classify_error(StatsError.parse_error(entry.error))] += int(entry.occurrences)
    return {kind: count for kind, count in counts.items() if count}


def attach(environment: Environment) -> StatusWriter | None:
    """Start a status writer on the master or a single-process runner when ``--status-file`` is set."""
    if isinstance(environment.runner, WorkerRunner) or environment.runner is None:
        return None
    path = getattr(environment.parsed_options, "status_file", None)
    if not path:
        return None
    existing = getattr(environment, "customerio_status", None)
    if existing is not None:
        return existing
    writer = StatusWriter(environment, Path(path))
    environment.customerio_status = writer  # type: ignore[attr-defined]
    environment.events.test_start.add_listener(writer.on_test_start)
    environment.events.test_stop.add_listener(writer.on_test_stop)
    environment.events.quit.add_listener(writer.on_quit)
    writer.start()
    return writer


def record_event(environment: Environment, kind: str, message: str) -> None:
    """Put ``message`` in the status file's events at once (e.g. a live SLO rule breached).

    Watchers print each event as a line of its own. Does nothing without ``--status-file``.
    """
    writer = getattr(environment, "customerio_status", None)
    if writer is not None:
        writer.record(kind, message)
