"""Live progress of a run, from the Locust master's status file (``--status-file``).

In a terminal: one line, redrawn once a second (rich's ``Live``: it keeps the line to the terminal's
width so a redraw never wraps, and prints the event lines above it without tearing). Not a terminal
(CI logs): one plain line every 10 s. Events the master records (a worker lost, a live rule
breached) are printed at once, each as a line of its own, in both modes. ``quiet`` shows nothing.

Every run kind waits the same way::

    with RunProgress(run_dir / STATUS_FILE, planned_s=60, label="demo") as progress:
        code = progress.wait(master.popen, timeout=150)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path, PurePath
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

__all__ = ["PLAIN_EVERY_S", "STATUS_FILE", "RunProgress", "format_line", "read_status", "status_args"]

STATUS_FILE = "locust_status.json"
PLAIN_EVERY_S = 10.0
_TICK_S = 1.0


def status_args(run_dir: PurePath) -> list[str]:
    """The master's options that make it write the status file this module reads."""
    return ["--status-file", str(run_dir / STATUS_FILE)]


def read_status(path: Path) -> dict[str, Any] | None:
    """The latest status, or None before the master wrote one (it is replaced atomically)."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--"
    whole = int(max(0.0, seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _rate(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.1f}/s"


def format_line(status: dict[str, Any] | None, planned_s: float | None, label: str) -> str:
    """One progress line: time, users, workers, requests, req/s, failures per kind, target figures."""
    if status is None or status.get("started") is None:
        state = "starting" if status is None else str(status.get("state", "starting"))
        workers = "" if status is None or status.get("workers") is None else f", workers {status['workers']}"
        return f"{label} {state}: waiting for the run to start{workers}"
    done = " done" if status.get("final") else ""  # first, where a narrow terminal cannot cut it off
    parts = [f"{label} {_clock(status.get('elapsed_s'))}/{_clock(planned_s)}{done}"]
    parts.append(f"users {status.get('users', 0)}")
    if status.get("workers") is not None:
        missing = status.get("workers_missing") or 0
        parts.append(f"workers {status['workers']}" + (f" ({missing} missing)" if missing else ""))
    parts.append(f"requests {status.get('requests', 0):,}")
    parts.append(f"{float(status.get('rps') or 0):,.1f} req/s")
    kinds = status.get("failure_kinds") or {}
    failures = f"failures {status.get('failures', 0):,}"
    if kinds:
        failures += " (" + ", ".join(f"{k} x{n:,}" for k, n in kinds.items()) + ")"
    parts.append(failures)
    target = status.get("target") or {}
    if target.get("sampled"):
        figures = f"target 429 {_rate(target.get('rate_limited_per_s'))} dropped {_rate(target.get('dropped_per_s'))}"
        if target.get("pipeline"):
            lag = target.get("queue_lag")
            figures += f" lag {'-' if lag is None else f'{lag:,.0f}'}"
            figures += f" delivered {_rate(target.get('delivered_per_s'))}"
        parts.append(figures)
    return ", ".join(parts)


class RunProgress:
    """Shows a run's progress while the caller waits for the master; see the module docstring."""

    def __init__(
        self,
        status_path: Path,
        *,
        planned_s: float | None,
        label: str,
        quiet: bool = False,
        stream: TextIO | None = None,
        plain_every_s: float = PLAIN_EVERY_S,
    ):
        self.status_path = status_path
        self.planned_s = planned_s
        self.label = label
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.plain_every_s = plain_every_s
        self.status: dict[str, Any] | None = None
        self._events_shown = 0
        self._last_plain: float | None = None
        self._console = Console(file=self.stream, highlight=False, soft_wrap=False)
        self._live: Live | None = None

    @property
    def interactive(self) -> bool:
        return self._console.is_terminal

    def __enter__(self) -> RunProgress:
        if not self.quiet and self.interactive:
            self._live = Live(console=self._console, auto_refresh=False, transient=False)
            self._live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.tick(final=True)
        if self._live is not None:
            self._live.stop()
            self._live = None

    def wait(self, popen: subprocess.Popen[Any], timeout: float) -> int:
        """Wait for ``popen`` (the master) to exit, ticking once a second; TimeoutExpired after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(popen.args, timeout)
            try:
                return popen.wait(min(_TICK_S, remaining))
            except subprocess.TimeoutExpired:
                self.tick()

    def wait_for_run_end(self, popen: subprocess.Popen[Any], timeout_after_start: float) -> bool:
        """For a master whose web UI stays up: wait until a run has started and stopped (True) or the
        master exited (False). No limit before the person presses Start; ``timeout_after_start`` after."""
        deadline: float | None = None
        while popen.poll() is None:
            self.tick()
            started = self.status is not None and self.status.get("started") is not None
            if started and deadline is None:
                deadline = time.monotonic() + timeout_after_start
            if started and self.status is not None and self.status.get("state") == "stopped":
                return True
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(popen.args, timeout_after_start)
            time.sleep(_TICK_S)
        return False

    def tick(self, final: bool = False) -> None:
        """Read the status file and show what changed: new events at once, then the progress line."""
        status = read_status(self.status_path)
        if status is not None:
            self.status = status
        if self.quiet:
            return
        for event in (self.status or {}).get("events", [])[self._events_shown :]:
            self._print_line(f"runs: {event.get('kind', 'event')}: {event.get('message', '')}")
            self._events_shown += 1
        line = format_line(self.status, self.planned_s, self.label)
        if self._live is not None:
            self._live.update(Text(line, no_wrap=True, overflow="ellipsis"), refresh=True)
            return
        now = time.monotonic()
        started = self.status is not None and self.status.get("started") is not None
        due = self._last_plain is None or now - self._last_plain >= self.plain_every_s
        if final or (started and due):
            self._print_line(f"runs: progress {line}")
            self._last_plain = now

    def _print_line(self, line: str) -> None:
        if self._live is not None:
            self._live.console.print(Text(line), soft_wrap=True)
        else:
            print(line, file=self.stream, flush=True)
