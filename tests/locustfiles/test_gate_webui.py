"""The web UI's Customer.io tab shows each live rule's state while a run goes on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from plumbing.ports import free_port
from tests.support.sandbox import running_sandbox

REPO = Path(__file__).resolve().parents[2]


def _tab(port: int) -> list[dict[str, str]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests", timeout=5) as response:  # noqa: S310
        body = json.loads(response.read())
    return [row for table in body.get("extended_stats", []) for row in table["data"]]


@pytest.mark.slow
def test_tab_shows_ok_and_tripped_rules_in_a_web_ui_run(tmp_path: Path) -> None:
    slo = tmp_path / "slo.yaml"
    slo.write_text('global: ["rps > 1000 over 2s for 2s warn", "p95 < 5s over 5s"]\n')
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with running_sandbox() as sandbox:
        locust = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", "locustfiles/locustfile.py", "--web-host", "127.0.0.1",
             "--web-port", str(port), "--autostart", "-u", "2", "-r", "2", "-t", "60s", "--host", sandbox.url,
             "--slo", str(slo), "--user-rate", "5", "TrackUser"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            rows: dict[str, str] = {}
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline and locust.poll() is None:
                try:
                    rows = {r["figure"]: r["run"] for r in _tab(port) if r["figure"].startswith("SLO ")}
                except OSError:
                    rows = {}
                if rows.get("SLO rps > 1000 over 2s for 2s warn", "").startswith("tripped at"):
                    break
                time.sleep(0.5)
        finally:
            locust.send_signal(signal.SIGTERM)
            _, stderr = locust.communicate(timeout=30)
    assert rows.get("SLO rps > 1000 over 2s for 2s warn", "").startswith("tripped at"), (rows, stderr[-2000:])
    assert rows["SLO p95 < 5s over 5s"] == "ok"
    assert "SLO rule tripped: 'rps > 1000 over 2s for 2s warn'" in stderr and "warning only" in stderr
