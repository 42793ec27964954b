"""``python -m runs demo`` in a pseudo-terminal, a worker SIGKILLed half-way: one real run, shared.

The progress test reads what the terminal showed; the notebook test explores the run directory it
left (one minute of CI time serves both).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]
_ROWS, _COLUMNS = 50, 220


@dataclass(frozen=True)
class TerminalRun:
    text: str
    """Everything the terminal received, escape sequences included."""
    returncode: int | None
    run_dir: Path
    killed_worker: bool


def run_demo_in_a_terminal(out: Path, timeout: float = 240.0) -> TerminalRun:
    master_fd, slave_fd = pty.openpty()
    fcntl.ioctl(slave_fd, termios.TIOCSWINSZ, struct.pack("HHHH", _ROWS, _COLUMNS, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "runs", "demo", "--workers", "3", "--reports-dir", str(out)],
        cwd=REPO, stdin=slave_fd, stdout=slave_fd, stderr=slave_fd, start_new_session=True,
    )  # fmt: skip
    os.close(slave_fd)
    killed: list[int] = []

    def kill_a_worker_half_way(seen: bytes) -> None:
        # Once the line shows 0:10 elapsed: a worker vanishing mid-run, without a goodbye. The master
        # notices after HEARTBEAT_LIVENESS missed heartbeats (locustfiles/plugin.py), well before the end.
        if killed or not re.search(rb"demo 0:1\d/", seen):
            return
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                if "--worker" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                    os.killpg(child.pid, signal.SIGKILL)
                    killed.append(child.pid)
                    return
            except (psutil.Error, ProcessLookupError):
                continue  # exited meanwhile

    try:
        raw = _read_terminal(master_fd, proc, time.monotonic() + timeout, kill_a_worker_half_way)
        proc.wait(60)
    finally:
        stop_runs(proc)
        os.close(master_fd)
    (run_dir,) = out.iterdir()
    return TerminalRun(raw.decode(errors="replace"), proc.returncode, run_dir, bool(killed))


def stop_runs(proc: subprocess.Popen[Any]) -> None:
    """End a ``python -m runs`` a test gave up on: SIGTERM first, which makes it stop every process it
    started (they run in sessions of their own, so killing its group alone would orphan them)."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _read_terminal(
    fd: int, proc: subprocess.Popen[bytes], until: float, on_output: Callable[[bytes], None]
) -> bytes:
    received = bytearray()
    while time.monotonic() < until:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            received += chunk
            on_output(bytes(received[-4096:]))
        elif proc.poll() is not None:
            break
    return bytes(received)
