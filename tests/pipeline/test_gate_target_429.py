"""Through the pipeline: the sandbox behind the senders answers 429, and the live rule on the
target-side series ``target_429_per_s == 0`` aborts the Locust run (exit 1, rule named)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipeline.conftest import Topics
from tests.pipeline.harness import start_ingest, start_sender
from tests.support.kafka import Broker
from tests.support.sandbox import running_sandbox

REPO = Path(__file__).resolve().parents[2]
RULE = "target_429_per_s == 0 after 2s abort"


@pytest.mark.slow
def test_429_at_the_target_behind_the_pipeline_aborts_the_run(
    broker: Broker, topics: Topics, redis_url: str, log_dir: Path, tmp_path: Path
) -> None:
    slo = tmp_path / "slo.yaml"
    slo.write_text(f'global: ["{RULE}", "error_rate < 5%"]\n')
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # The senders believe in 100 req/s; the sandbox allows 2 per second, so it answers 429.
    with running_sandbox("--rate-limit", "track=2", log_dir=log_dir) as sandbox, \
            start_ingest(broker, topics, log_dir) as ingest, \
            start_sender(broker, topics, sandbox.url, redis_url, log_dir, "--rate-limit", "100",
                         "--max-batch-operations", "5") as _sender:  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "locust", "-f", "locustfiles/locustfile.py", "--headless", "-t", "60s",
             "-u", "4", "-r", "4", "--user-rate", "5", "TrackUser", "--host", ingest.url,
             "--metrics-url", f"{sandbox.url}/metrics", "--slo", str(slo), "--csv", str(tmp_path / "locust")],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    trip = [line for line in done.stderr.splitlines() if "SLO rule tripped" in line]
    assert len(trip) == 1 and RULE in trip[0] and "aborting the run" in trip[0], done.stderr[-3000:]
    record = json.loads((tmp_path / "slo_live.json").read_text())
    assert record["aborted"]["rule"] == RULE
    assert record["aborted"]["at_s"] < 45  # well before the planned 60 s
    [state] = [r for r in record["rules"] if r["rule"] == RULE]
    assert state["trip_value"] > 0
