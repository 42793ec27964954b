"""``make demo``'s run on a busy machine: two CPU-bound loops beside it, and still exit 0, a report with
charts and no knee (issue 12). The demo runs once per module; ``demo_run`` exposes its output."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runs.cli import breach_reason
from tests.runs.progress_checks import assert_plain_progress

REPO = Path(__file__).resolve().parents[2]
BUSY_SECONDS = 240  # each loop ends by itself even if this test is killed
# Two processes that only burn CPU, bounded in time: on a 2-core machine they take both cores.
_BUSY_LOOP = (
    f"import time\nend = time.monotonic() + {BUSY_SECONDS}\nwhile time.monotonic() < end:\n    pass\n"
)


@dataclass(frozen=True)
class DemoRun:
    returncode: int
    stdout: str
    stderr: str
    run_dir: Path


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """``python -m runs demo`` with stdout a pipe (not a TTY) while two busy loops run."""
    out = tmp_path_factory.mktemp("demo")
    busy = [subprocess.Popen([sys.executable, "-c", _BUSY_LOOP]) for _ in range(2)]
    demo = subprocess.Popen([sys.executable, "-m", "runs", "demo", "--reports-dir", str(out)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        stdout, stderr = demo.communicate(timeout=BUSY_SECONDS)
    except subprocess.TimeoutExpired:
        demo.terminate()  # SIGTERM: python -m runs stops everything it started
        stdout, stderr = demo.communicate(timeout=60)
    finally:
        for loop in busy:
            loop.kill()
            loop.wait(10)
    run_dirs = sorted(out.glob("*-demo"))
    assert run_dirs, stdout[-2000:] + stderr[-2000:]
    yield DemoRun(demo.returncode, stdout, stderr, run_dirs[-1])


@pytest.mark.slow
def test_demo_passes_on_a_busy_machine(demo_run: DemoRun) -> None:
    """Exit 0, every chart in the report, no 429 or other failure, and "No knee"."""
    output = demo_run.stdout + demo_run.stderr
    assert demo_run.returncode == 0, output[-3000:]
    summary = json.loads((demo_run.run_dir / "summary.json").read_text())
    assert summary["verdict"] == "pass", output[-3000:]
    assert summary["totals"]["requests"] > 0 and summary["errors_by_kind"].get("429", 0) == 0
    assert summary["knee"] is not None and summary["knee"]["crossed_by"] is None, summary["knee"]
    assert "No knee" in (demo_run.run_dir / "summary.md").read_text()
    charts = {p.name for p in (demo_run.run_dir / "charts").glob("*.png")}
    assert {"throughput.png", "latency.png", "errors.png", "endpoints.png"} <= charts, charts
    report = (demo_run.run_dir / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= len(charts)
    sandbox = json.loads((demo_run.run_dir / "sandbox_stats.json").read_text())
    assert sandbox["rate_limited"] == 0 and sandbox["invalid"] == 0, sandbox
    # The demo's mix reaches the rarer endpoints too (segments, forms, metrics, App messages).
    names = {e["endpoint"] for e in summary["endpoints"]}
    assert {"POST /api/v1/forms/[form_id]/submit", "POST /api/v1/metrics"} <= names, names


def test_a_breach_is_told_in_one_line() -> None:
    """The failed rules of the report, joined into the one line python -m runs prints."""
    lines = ["Verdict: FAIL", "  PASS  Aggregated: rps > 10 (actual 24.1)",
             "  FAIL  Aggregated: error_rate < 1% (actual 1.28%)", "  FAIL  Aggregated: p95 < 2000ms (actual 2140 ms)"]  # fmt: skip
    assert breach_reason(lines) == (
        "Aggregated: error_rate < 1% (actual 1.28%); Aggregated: p95 < 2000ms (actual 2140 ms)"
    )
    assert breach_reason(["  FAIL  a"] * 6) == "a; a; a; a; and 2 more"
    assert breach_reason([]) == "the report's verdict was fail"


@pytest.mark.slow
def test_demo_without_a_terminal_prints_a_plain_progress_line_every_10_s(demo_run: DemoRun) -> None:
    """stdout is a pipe: plain 'runs: progress' lines about 10 s apart, then one final line (issue 17)."""
    assert_plain_progress(demo_run.stdout, min_lines=3)  # a 40 s demo: lines at about 0, 10, 20, 30 s
