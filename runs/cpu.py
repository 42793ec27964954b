"""Per-process CPU of a run, sampled once a second in a thread: which component saturates first.

Writes ``process_cpu.csv`` (``timestamp, component, pid, cpu_percent``; 100 = one core) for every
process the run started, so the report can say which one hit a core's worth of CPU first.
"""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import psutil

__all__ = ["CpuSampler", "saturation"]

CPU_FILE = "process_cpu.csv"


class CpuSampler:
    def __init__(self, path: Path, interval: float = 1.0):
        self.path = path
        self.interval = interval
        self._processes: dict[str, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._lock = threading.Lock()

    def watch(self, component: str, pid: int) -> None:
        try:
            process = psutil.Process(pid)
            process.cpu_percent(None)  # the first call only sets the baseline
        except psutil.Error:
            return
        with self._lock:
            self._processes[component] = process

    def start(self) -> CpuSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.interval * 3)

    def _run(self) -> None:
        with self.path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["timestamp", "component", "pid", "cpu_percent"])
            while not self._stop.wait(self.interval):
                now = round(time.time(), 3)
                with self._lock:
                    watched = list(self._processes.items())
                for component, process in watched:
                    try:
                        writer.writerow([now, component, process.pid, round(process.cpu_percent(None), 1)])
                    except psutil.Error:
                        continue  # it ended (or was killed on purpose); its rows just stop
                f.flush()


def saturation(path: Path, busy_percent: float = 90.0, seconds: int = 3) -> dict[str, object]:
    """Mean and peak CPU per component, and the first to stay above ``busy_percent`` for ``seconds``."""
    rows: dict[str, list[tuple[float, float]]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            rows.setdefault(row["component"], []).append((float(row["timestamp"]), float(row["cpu_percent"])))
    first: tuple[float, str] | None = None
    for component, samples in rows.items():
        streak = 0
        for at, cpu in samples:
            streak = streak + 1 if cpu >= busy_percent else 0
            if streak >= seconds and (first is None or at < first[0]):
                first = (at, component)
                break
    per_component = {
        c: {"mean": round(sum(v for _, v in s) / len(s), 1), "max": max(v for _, v in s)}
        for c, s in rows.items()
        if s
    }
    busiest = max(per_component, key=lambda c: per_component[c]["mean"], default=None)
    return {
        "saturated_first": first[1] if first else None,
        "busiest": busiest,
        "busy_percent": busy_percent,
        "components": per_component,
    }
