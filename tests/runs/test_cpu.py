"""``runs.cpu``: CPU-seconds per process in a window, and which component saturated first."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from runs.cpu import CPU_FILE, HOST, CpuSampler, cpu_seconds, saturation


@pytest.mark.slow
def test_the_sampler_counts_the_cpu_seconds_a_busy_process_spends(tmp_path: Path) -> None:
    """A real busy loop and a real sleeper: the busy one spends CPU-seconds, the sleeper next to none."""
    busy = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.time() + 6\nwhile time.time() < end: pass"]
    )
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(6)"])
    sampler = CpuSampler(tmp_path / CPU_FILE, interval=0.5).start()
    try:
        sampler.watch("busy", busy.pid)
        sampler.watch("idle", idle.pid)
        started = time.time()
        busy.wait(30)
        idle.wait(30)
    finally:
        busy.kill()
        idle.kill()
        sampler.stop()
    spent = cpu_seconds(tmp_path / CPU_FILE, (started, time.time()))
    # On a loaded 2-core machine the loop gets what it gets: well above the sleeper is the point.
    assert spent["busy"]["cpu_seconds"] > 0.5 and spent["busy"]["share"] > 0.1, spent
    assert spent["idle"]["cpu_seconds"] < 0.2, spent
    assert 0 < spent[HOST]["share"] <= 1.0, spent


def _csv(path: Path, rows: list[tuple[float, str, float]]) -> Path:
    lines = ["timestamp,component,pid,cpu_percent,cpu_seconds"]
    lines += [f"{t},{c},1,{cpu},0" for t, c, cpu in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_saturation_counts_only_the_window_and_names_the_host_when_the_cores_ran_out(tmp_path: Path) -> None:
    """A worker busy while importing (before the load) did not saturate under load; the machine did."""
    rows = [(float(t), "locust-worker-0", 100.0 if t < 5 else 30.0) for t in range(20)]
    rows += [(float(t), "sender-0", 60.0) for t in range(20)]
    rows += [(float(t), HOST, 95.0 if t >= 10 else 40.0) for t in range(20)]
    path = _csv(tmp_path / CPU_FILE, rows)
    assert saturation(path)["saturated_first"] == "locust-worker-0"  # start-up counted: wrong culprit
    under_load = saturation(path, window=(6.0, 19.0))
    assert under_load["saturated_first"] == "host (every core busy)"
    assert under_load["busiest"] == "sender-0" and HOST not in under_load["components"]
    assert saturation(path, window=(6.0, 11.0))["saturated_first"] is None
