"""``python -m runs pipeline`` and ``direct``: the queue architecture proven by delivery accounting.

Real processes throughout (Tansu, redis-server, sandbox, ingest, senders, a Locust master and two
workers), short runs at three times the sandbox's limit so they fit a loaded 2-core CI machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runs.pipeline import PipelineRun, RunPlan, run_pipeline

REPO = Path(__file__).resolve().parents[2]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> tuple[int, str, dict[str, Any]]:
    """Run ``python -m runs ARGS``; returns (exit code, output, the run's pipeline_run.json)."""
    out_dir = Path(args[args.index("--reports-dir") + 1])
    done = subprocess.run([sys.executable, "-m", "runs", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, check=False)  # fmt: skip
    results = sorted(out_dir.glob("*/pipeline_run.json"))
    assert results, done.stdout + done.stderr
    return done.returncode, done.stdout + done.stderr, json.loads(results[-1].read_text())


@pytest.mark.slow
def test_a_sender_killed_mid_run_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL one of two senders halfway: its uncommitted events are re-read, none lost, 0 x 429."""
    killed = threading.Event()

    def kill_a_sender(run: PipelineRun) -> None:
        time.sleep(8)
        os.killpg(run.senders[0].pid, signal.SIGKILL)
        killed.set()

    plan = RunPlan(rate=300, duration=16, senders=2, partitions=4, drain_timeout=60)
    result = run_pipeline(plan, tmp_path, during=kill_a_sender)
    assert killed.is_set()
    delivery = result["delivery"]
    assert result["exit_code"] == 0, result["checks"]
    assert delivery["acknowledged"] > 1000
    assert delivery["lost"] == 0 and delivery["duplicates"] >= 0
    assert delivery["delivered"] >= 0.999 * delivery["acknowledged"]
    assert result["sandbox"]["rate_limited"] == 0
    assert result["drain_s"] is not None
    assert all(delivery["e2e_ms"][k] is not None for k in ("p50", "p95", "p99", "max"))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["delivery"] == delivery
    assert (tmp_path / "charts" / "delivery.png").exists()


@pytest.mark.slow
def test_a_pipeline_that_loses_one_in_a_thousand_fails_the_gate(tmp_path: Path) -> None:
    """The test-only sender fault drops 1 in 1,000 events unsent: lost is about 0.1% and the run fails."""
    # One sender, so every 1,000th event it reads is dropped (a few thousand events in all).
    code, output, result = run_cli("pipeline", "--duration", "15s", "--rate", "300", "--senders", "1",
                                   "--partitions", "2", "--reports-dir", str(tmp_path),
                                   env={"PIPELINE_TEST_SKIP_ONE_IN": "1000"})  # fmt: skip
    delivery = result["delivery"]
    assert code == 1, output
    assert "FAIL  Aggregated: lost == 0" in output
    assert delivery["acknowledged"] >= 1000 and delivery["lost"] >= 1
    assert 0.0003 <= delivery["lost"] / delivery["acknowledged"] <= 0.002, delivery
    assert result["checks"]["lost == 0"] is False


@pytest.mark.slow
def test_direct_run_with_a_dropping_sandbox_counts_every_drop_as_lost(tmp_path: Path) -> None:
    """Straight to a sandbox in drop mode: each dropped call was acknowledged (200), never arrived."""
    # A limit of 20 req/s, so even a loaded machine's Locust sends well past it.
    code, output, result = run_cli("direct", "--rate-mode", "drop", "--rate-limit", "20", "--duration", "10s",
                                   "--rate", "200", "--reports-dir", str(tmp_path))  # fmt: skip
    assert code == 0, output
    dropped = result["sandbox"]["dropped"]
    assert dropped > 100
    assert result["delivery"]["lost"] == dropped
    assert result["delivery"]["duplicates"] == 0
