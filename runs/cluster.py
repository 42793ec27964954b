"""Run Locust in distributed mode on this machine: one master and N worker processes over loopback.

The same master/worker protocol that spans containers and pods, without containers: the master binds
``127.0.0.1`` on a free port and waits (``--expect-workers``) for every worker before it starts. Each
process runs in its own session with its log in the run directory, so one can be killed alone (to
prove the master notices) and ``stop()`` never leaves a stray worker behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from plumbing.errors import RunsError
from plumbing.ports import LOOPBACK, free_port
from runs.processes import ManagedProcess

__all__ = ["ClusterError", "LocalCluster", "start_local_cluster"]

_CONNECTED = re.compile(r"reported as ready\. (\d+) workers connected")


class ClusterError(RunsError):
    """The cluster did not start or finish in time; the message quotes the master's last output."""

    exit_code = 1


class LocalCluster:
    """A running master plus workers; ``wait()`` for the headless run, ``stop()`` to end it early."""

    def __init__(
        self,
        master: ManagedProcess,
        workers: list[ManagedProcess],
        *,
        master_port: int,
        run_dir: Path,
        web_url: str | None,
    ):
        self.master = master
        self.workers = workers
        self.master_port = master_port
        self.run_dir = run_dir
        self.web_url = web_url
        """The master's web UI (``http://127.0.0.1:PORT``) when started with ``web_ui=True``."""

    @property
    def processes(self) -> list[ManagedProcess]:
        return [self.master, *self.workers]

    def master_log(self) -> str:
        return self.master.log_text()

    def connected_workers(self) -> int:
        """How many workers the master last said were connected (from its log)."""
        counts = _CONNECTED.findall(self.master_log())
        return int(counts[-1]) if counts else 0

    def wait_for_workers(self, count: int | None = None, timeout: float = 30.0) -> None:
        """Block until ``count`` (default: all) workers have connected to the master."""
        wanted = len(self.workers) if count is None else count
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connected_workers() >= wanted:
                return
            if not self.master.alive():
                break
            time.sleep(0.1)
        raise ClusterError(
            f"only {self.connected_workers()} of {wanted} Locust workers connected within {timeout:.0f} s; "
            f"see the worker logs in {self.run_dir}\n{_tail(self.master_log())}"
        )

    def wait(self, timeout: float) -> int:
        """Wait for the master to finish (``--run-time`` or a shape); return its exit code.

        Workers get a quit message from a finishing master; any still alive a few seconds later are
        stopped. On timeout everything is stopped and ClusterError is raised.
        """
        try:
            code = self.master.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise ClusterError(
                f"Locust master still running after {timeout:.0f} s; give it a --run-time or a shape that "
                f"ends, or a longer timeout\n{_tail(self.master_log())}"
            ) from None
        self._reap_workers(grace=10.0)
        return code

    def kill_worker(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (default SIGKILL, no goodbye to the master) to worker ``index`` and its children."""
        _kill(self.workers[index], sig)

    def kill_master(self, sig: int = signal.SIGKILL) -> None:
        """Make the master vanish without telling the workers (to test that they give up)."""
        _kill(self.master, sig)

    def stop(self) -> None:
        """Stop the master first (it tells workers to quit), then any worker still running."""
        self.master.stop()
        self._reap_workers(grace=3.0)

    def _reap_workers(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        for worker in self.workers:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                worker.popen.wait(remaining)
            except subprocess.TimeoutExpired:
                worker.stop()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_local_cluster(
    *,
    locustfile: str | os.PathLike[str],
    host: str,
    workers: int = 2,
    run_dir: str | os.PathLike[str],
    locust_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    master_bind_port: int = 0,
    web_ui: bool = False,
    expect_workers_max_wait: float = 30.0,
    master_heartbeat_timeout: float = 15.0,
    rebalance: bool = True,
) -> LocalCluster:
    """Start ``locust --master`` and ``workers`` x ``locust --worker`` on 127.0.0.1; return at once.

    ``locust_args`` go to the master only (users, spawn rate, ``--run-time``, ``--csv``...): workers
    take their orders from it. Headless unless ``web_ui``, in which case the UI listens on a free
    loopback port (``LocalCluster.web_url``). ``master_bind_port=0`` picks a free port. With
    ``rebalance`` (Locust's ``--enable-rebalancing``) the users of a lost worker move to the others,
    so a run that loses a worker keeps its load.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1 (got {workers}); a master alone generates no load")
    run_path = Path(run_dir)
    run_path.mkdir(parents=True, exist_ok=True)
    port = master_bind_port or free_port()
    child_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    master_argv, web_url = _master_argv(locustfile, host, workers, port, web_ui, expect_workers_max_wait)
    if rebalance:
        master_argv.append("--enable-rebalancing")
    master = _spawn("locust-master", [*master_argv, *locust_args], run_path, child_env, web_url)
    started: list[ManagedProcess] = []
    try:
        for index in range(workers):
            argv = _worker_argv(locustfile, port, master_heartbeat_timeout)
            started.append(_spawn(f"locust-worker-{index}", argv, run_path, child_env, None))
    except BaseException:
        for process in [master, *started]:
            process.stop()
        raise
    return LocalCluster(master, started, master_port=port, run_dir=run_path, web_url=web_url)


def _master_argv(
    locustfile: str | os.PathLike[str],
    host: str,
    workers: int,
    port: int,
    web_ui: bool,
    max_wait: float,
) -> tuple[list[str], str | None]:
    argv = [
        *_locust(),
        *("-f", os.fspath(locustfile), "--host", host, "--master"),
        *("--master-bind-host", LOOPBACK, "--master-bind-port", str(port)),
        *("--expect-workers", str(workers), "--expect-workers-max-wait", f"{max_wait:g}"),
    ]
    if not web_ui:
        return [*argv, "--headless"], None
    web_port = free_port()
    return [*argv, "--web-host", LOOPBACK, "--web-port", str(web_port)], f"http://{LOOPBACK}:{web_port}"


def _worker_argv(locustfile: str | os.PathLike[str], port: int, heartbeat_timeout: float) -> list[str]:
    # The master watch (--master-heartbeat-timeout) comes with the locustfile's own plugins.
    return [
        *_locust(),
        *("-f", os.fspath(locustfile), "--worker", "--master-host", LOOPBACK, "--master-port", str(port)),
        *("--master-heartbeat-timeout", f"{heartbeat_timeout:g}"),
    ]


def _locust() -> list[str]:
    # The interpreter running us, so the venv's locust is used even when its bin/ is not on PATH.
    return [sys.executable, "-m", "locust"]


def _spawn(name: str, argv: list[str], run_dir: Path, env: dict[str, str], url: str | None) -> ManagedProcess:
    log_path = run_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    return ManagedProcess(
        name, popen, {"url": url, "pid": popen.pid} if url else {"pid": popen.pid}, log_path
    )


def _kill(process: ManagedProcess, sig: int) -> None:
    try:
        os.killpg(process.popen.pid, sig)
    except ProcessLookupError:
        return
    process.popen.wait(10)


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.splitlines()[-lines:])
