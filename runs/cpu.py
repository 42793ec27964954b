"""Per-process CPU of a run, sampled once a second in a thread: utilisation, CPU-seconds, saturation.

Writes ``process_cpu.csv`` (``timestamp, component, pid, cpu_percent, cpu_seconds``; 100 % = one
core, ``cpu_seconds`` the process's cumulative user + system time) for every process the run started,
plus a ``host`` row per sample in units of the whole machine (100 % = every core busy; its
``cpu_seconds`` are busy seconds of all cores divided by their number). From it,
the run learns how many CPU-seconds each process spent in a time window (what a rate per CPU-second
divides by) and which component hit a core's worth of CPU first, or whether the machine ran out of
cores before any one process did.
"""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import psutil

__all__ = ["CPU_FILE", "HOST", "CpuSampler", "cpu_seconds", "saturation"]

CPU_FILE = "process_cpu.csv"
HOST = "host"
"""The component name of the machine's own row (all cores; its pid is 0)."""


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
        # The run directory may not exist yet (the first service started makes it otherwise).
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.interval * 3)

    def _run(self) -> None:
        psutil.cpu_percent(None)  # baseline of the host's row
        with self.path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["timestamp", "component", "pid", "cpu_percent", "cpu_seconds"])
            while not self._stop.wait(self.interval):
                now = round(time.time(), 3)
                with self._lock:
                    watched = list(self._processes.items())
                for component, process in watched:
                    try:
                        with process.oneshot():
                            times = process.cpu_times()
                            percent = process.cpu_percent(None)
                    except psutil.Error:
                        continue  # it ended (or was killed on purpose); its rows just stop
                    writer.writerow([now, component, process.pid, round(percent, 1),
                                     round(times.user + times.system, 3)])  # fmt: skip
                writer.writerow([now, HOST, 0, round(psutil.cpu_percent(None), 1), round(_host_busy(), 3)])
                f.flush()


def _host_busy() -> float:
    """Busy seconds of the machine so far, per core (so a share of 1.0 is every core busy)."""
    times = psutil.cpu_times()
    busy = (
        times.user + times.nice + times.system + getattr(times, "irq", 0.0) + getattr(times, "softirq", 0.0)
    )
    return float(busy) / (psutil.cpu_count() or 1)


Samples = dict[str, list[tuple[float, float, float]]]


def _samples(path: Path, window: tuple[float, float] | None) -> Samples:
    """component -> [(timestamp, cpu_percent, cpu_seconds)] inside ``window`` (all when None)."""
    rows: Samples = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            at = float(row["timestamp"])
            if window is not None and not window[0] <= at <= window[1]:
                continue
            seconds = float(row["cpu_seconds"]) if row.get("cpu_seconds") else float("nan")
            rows.setdefault(row["component"], []).append((at, float(row["cpu_percent"]), seconds))
    return rows


def cpu_seconds(path: Path, window: tuple[float, float]) -> dict[str, dict[str, float]]:
    """Per component: CPU-seconds spent between its first and last sample in ``window``, over how
    many wall seconds, and their ratio ``share`` (of one core; the host's is of the whole machine)."""
    out: dict[str, dict[str, float]] = {}
    for component, samples in _samples(path, window).items():
        if len(samples) < 2:
            continue
        (t0, _, c0), (t1, _, c1) = samples[0], samples[-1]
        wall, spent = t1 - t0, c1 - c0
        if wall <= 0 or spent != spent:  # nan: a file from before cpu_seconds was recorded
            continue
        out[component] = {"cpu_seconds": round(spent, 2), "wall_seconds": round(wall, 2),
                          "share": round(spent / wall, 4)}  # fmt: skip
    return out


def saturation(
    path: Path, busy_percent: float = 90.0, seconds: int = 3, window: tuple[float, float] | None = None
) -> dict[str, object]:
    """Mean and peak CPU per component in ``window`` (the load, not the start-up), and the first to
    stay above ``busy_percent`` (of a core; the host's of every core) for ``seconds`` samples: a process,
    or the host when the machine ran out of cores before any single process used one."""
    rows = _samples(path, window)
    first: tuple[float, str] | None = None
    for component, samples in rows.items():
        streak = 0
        for at, cpu, _ in samples:
            streak = streak + 1 if cpu >= busy_percent else 0
            if streak >= seconds and (first is None or at < first[0]):
                first = (at, component)
                break
    per_component = {
        c: {"mean": round(sum(v for _, v, _ in s) / len(s), 1), "max": max(v for _, v, _ in s)}
        for c, s in rows.items()
        if s and c != HOST
    }
    host = rows.get(HOST, [])
    busiest = max(per_component, key=lambda c: per_component[c]["mean"], default=None)
    saturated = first[1] if first else None
    return {
        "saturated_first": "host (every core busy)" if saturated == HOST else saturated,
        "busiest": busiest,
        "busy_percent": busy_percent,
        "components": per_component,
        "host_mean": round(sum(v for _, v, _ in host) / len(host), 1) if host else None,
    }
