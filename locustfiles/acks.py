"""Delivery accounting, client side: which ids the target acknowledged, written to the run's acks file.

Users call :meth:`Acks.add` with the ids of each call the target answered with a 2xx. Every
``interval`` seconds (and at ``test_stop``, after the users' last requests) the ids go to the file:
a worker sends them to the master as a Locust custom message, and the master (or a single-process
run) appends them, one ULID a line, to ``--acks-file`` (default ``<--csv prefix>_acks.txt``). The
master is the only writer, so this works the same across processes, containers and Kubernetes pods.

The tail of a run needs care: a headless master ends with ``quit``, which tells the workers to quit
and stops listening half a second later, before a loaded worker's users have finished their last
requests. So at the master's ``test_stop`` (the master is already STOPPING, so a stopped worker is not
given users again), it asks every live worker that has not sent its final acks to stop its users
(:data:`STOP`: they finish the request in flight, up to ``--stop-timeout``) and waits, at most
``--stop-timeout`` + 10 s, for each worker's final acks message. Not Locust's own ``stop`` message: a
worker answers that with ``client_stopped``, which makes the master forget it (Locust's ``quit`` then
reached no worker, and each idled until ``python -m runs`` killed it 10 s later), and then sleeps
``--stop-timeout`` before it reads the next message. A web UI's Stop does send Locust's ``stop``, so
at ``quitting`` the master also sends ``quit`` to every worker it has met but no longer counts.
``analysis.delivery`` reconciles the file with the sandbox's arrivals.
"""

from __future__ import annotations

import gevent
from locust.env import Environment
from locust.runners import WorkerRunner

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

__all__ = ["MESSAGE", "STOP", "Acks", "acks", "acks_path", "install"]

log = logging.getLogger(__name__)
MESSAGE = "cio_delivery_acks"
STOP = "cio_delivery_stop"
"""Master to worker: stop your users now (their final acks follow, from ``test_stop``)."""
OFF = "off"
_ATTRIBUTE = "cio_acks"


def acks_path(options: Any) -> Path | None:
    """Where the master writes acknowledged ids: ``--acks-file``, else beside the CSVs, else nowhere."""
    chosen = str(getattr(options, "acks_file", "") or "")
    if chosen.lower() == OFF:
        return None
    if chosen:
        return Path(chosen)
    prefix = getattr(options, "csv_prefix", None)
    return Path(f"{prefix}_acks.txt") if prefix else None


class Acks:
    """One process's acknowledged ids on their way to the acks file."""

    def __init__(self, environment: Environment, interval: float = 1.0):
        self.environment = environment
        self.interval = interval
        self.enabled = True
        self.written = 0
        self._pending: list[str] = []
        self._file: IO[str] | None = None
        self._greenlet: gevent.Greenlet | None = None
        self._final_from: set[str] = set()
        """Workers whose final message of this run has arrived (master only)."""
        self._met: set[str] = set()
        """Every worker that connected to this master (master only)."""

    @property
    def is_worker(self) -> bool:
        return isinstance(self.environment.runner, WorkerRunner)

    def add(self, ids: Iterable[str]) -> None:
        if self.enabled:
            self._pending.extend(ids)

    def start(self) -> None:
        self._final_from.clear()
        path = acks_path(self.environment.parsed_options)
        # A worker cannot see the master's file; it sends unless accounting is off on the master.
        self.enabled = path is not None or (self.is_worker and not self._off())
        if self.enabled and self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def _off(self) -> bool:
        return str(getattr(self.environment.parsed_options, "acks_file", "") or "").lower() == OFF

    def _run(self) -> None:
        while True:
            gevent.sleep(self.interval)
            self.flush()

    def stop(self) -> None:
        """Flush what the users acknowledged (they have finished their last requests by now)."""
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
            self._greenlet = None
        self.flush(final=True)

    def flush(self, final: bool = False) -> None:
        if not self._pending and not (final and self.is_worker and self.enabled):
            return
        ids, self._pending = self._pending, []
        runner = self.environment.runner
        if self.is_worker and runner is not None:
            if final and isinstance(runner, WorkerRunner):
                # The users are stopped: their last samples go first, so the master, which waits for
                # this final message, also has Locust's final stats. Locust sends those only on
                # "quit", and the master stops listening half a second after sending it.
                runner._send_stats()
            runner.send_message(MESSAGE, {"ids": ids, "final": final})
        else:
            self.write(ids)

    def drain_workers(self) -> None:
        """Master, at ``test_stop``: stop the workers' users and wait for their final acks."""
        from locust.rpc import Message
        from locust.runners import STATE_MISSING, MasterRunner

        runner = self.environment.runner
        if not isinstance(runner, MasterRunner) or acks_path(self.environment.parsed_options) is None:
            return
        clients = runner.clients
        # A worker gone missing cannot answer (and when all are, this runs in the very message loop
        # that would deliver the answers): wait only for live ones.
        workers = {client.id for client in clients.all if client.state != STATE_MISSING}
        for worker in workers - self._final_from:
            runner.server.send_to_client(Message(STOP, None, worker))
        deadline = time.monotonic() + float(getattr(self.environment, "stop_timeout", 0) or 0) + 10.0
        while not workers <= self._final_from and time.monotonic() < deadline:
            gevent.sleep(0.1)
        missing = workers - self._final_from
        if missing:
            log.warning("delivery acks: no final message from %d worker(s); their last acks may be missing",
                        len(missing))  # fmt: skip

    def write(self, ids: list[str]) -> None:
        """Append ``ids`` to the acks file (master or single process)."""
        if not ids:
            return
        if self._file is None:
            path = acks_path(self.environment.parsed_options)
            if path is None:
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a")  # noqa: SIM115 - closed at quit
        self._file.write("\n".join(ids) + "\n")
        self._file.flush()
        self.written += len(ids)

    def on_message(self, msg: Any, **_: Any) -> None:
        data = msg.data or {}
        self.write(list(data.get("ids") or []))
        if data.get("final"):
            self._final_from.add(msg.node_id)

    def met(self, client_id: str, **_: Any) -> None:
        self._met.add(client_id)

    def release_workers(self) -> None:
        """Master, at ``quitting``: ``quit`` to the workers Locust forgot when they stopped (see above)."""
        from locust.rpc import Message
        from locust.runners import MasterRunner

        runner = self.environment.runner
        if isinstance(runner, MasterRunner):
            for worker in self._met - set(runner.clients):  # the ones it knows get Locust's own quit
                runner.server.send_to_client(Message("quit", None, worker))

    def close(self) -> None:
        if self._greenlet is not None:
            self.stop()
        if self._file is not None:
            self._file.close()
            self._file = None


def acks(environment: Environment) -> Acks:
    """The environment's :class:`Acks` (made on first use, e.g. by a library-built Environment)."""
    existing: Acks | None = getattr(environment, _ATTRIBUTE, None)
    if existing is None:
        existing = Acks(environment)
        setattr(environment, _ATTRIBUTE, existing)
    return existing


def install(environment: Environment) -> Acks:
    """Wire the acks of ``environment`` to its run: message handler on the master, flushes on stop."""
    recorder = acks(environment)
    runner = environment.runner
    if runner is not None and not recorder.is_worker and hasattr(runner, "register_message"):
        runner.register_message(MESSAGE, recorder.on_message)
    if isinstance(runner, WorkerRunner):
        # Handled in the worker's message loop, like Locust's stop; test_stop sends the final acks.
        runner.register_message(STOP, lambda **_: runner.stop())
    environment.events.test_start.add_listener(lambda **_: recorder.start())
    if not recorder.is_worker:
        environment.events.test_stop.add_listener(lambda **_: recorder.drain_workers())
        environment.events.worker_connect.add_listener(recorder.met)
        environment.events.quitting.add_listener(lambda **_: recorder.release_workers())
    environment.events.test_stop.add_listener(lambda **_: recorder.stop())
    environment.events.quitting.add_listener(lambda **_: recorder.close())
    return recorder
