"""Start and stop the suite's own service processes (sandbox, pipeline, Locust) as real subprocesses.

Every service of the suite accepts ``--ready-file PATH``: once it listens, it writes a JSON object
(at least ``{"url": ..., "pid": ...}``) to that path atomically (``plumbing.ready``). Waiting for that
file, rather than polling a port, lets tests and the demo bind services to port 0 and still learn the
real address.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from plumbing.errors import RunsError

__all__ = ["ManagedProcess", "ServiceStartError", "start_service", "stop_all"]


class ServiceStartError(RunsError):
    """A service exited or did not report ready in time; the message carries its last output."""

    exit_code = 1


class ManagedProcess:
    """A subprocess the suite started, with the ready information it reported."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], info: dict[str, Any], log_path: Path):
        self.name = name
        self.popen = popen
        self.info = info
        """The JSON object the service wrote to its ready file."""
        self.log_path = log_path
        """Where the service's stdout and stderr go."""

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; returns the exit code."""
        if self.popen.poll() is None:
            _signal_group(self.popen, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen, signal.SIGKILL)
                self.popen.wait(timeout)
        return self.popen.returncode

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _signal_group(popen: subprocess.Popen[bytes], sig: int) -> None:
    # Services run in their own session, so their children (e.g. sandbox worker processes) get it too.
    try:
        os.killpg(popen.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            popen.send_signal(sig)
        except ProcessLookupError:
            pass


def start_service(
    name: str,
    argv: Sequence[str],
    *,
    log_dir: Path | None = None,
    env: dict[str, str] | None = None,
    ready_timeout: float = 30.0,
    python_module: bool = True,
) -> ManagedProcess:
    """Start ``python -m <argv...> --ready-file F`` (or a plain command) and wait until it is ready.

    ``argv`` is e.g. ``["sandbox", "--port", "0"]``. Raises ServiceStartError, naming the service and
    quoting the end of its log, when it exits early or does not report ready within ``ready_timeout``.
    """
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix=f"{name}-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    ready_file = log_dir / f"{name}.ready.json"
    ready_file.unlink(missing_ok=True)
    log_path = log_dir / f"{name}.log"
    command = [sys.executable, "-m", *argv] if python_module else list(argv)
    command += ["--ready-file", str(ready_file)]
    log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - handed to the child, closed below
    try:
        popen = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    finally:
        log.close()
    process = ManagedProcess(name, popen, {}, log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if ready_file.exists():
            process.info = json.loads(ready_file.read_text())
            return process
        if popen.poll() is not None:
            break
        time.sleep(0.05)
    process.stop()
    tail = "\n".join(process.log_text().splitlines()[-15:])
    state = f"exited with code {popen.returncode}" if popen.returncode is not None else "did not become ready"
    raise ServiceStartError(f"{name} {state} (command: {' '.join(command)}); last output:\n{tail}")


def stop_all(processes: Sequence[ManagedProcess]) -> None:
    """Stop in reverse start order (load generators before the services they hit)."""
    for process in reversed(processes):
        process.stop()
