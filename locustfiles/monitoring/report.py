"""Produce the analysis report for a finished run by running ``python -m analysis.report RUN_DIR``.

The report is built in a child process (gevent's subprocess, so the Locust master keeps serving
while matplotlib draws); exit code 1 means an SLO breach, which still writes the report.
"""

from __future__ import annotations

from gevent import subprocess

import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["REPORT_FILE", "ReportOutcome", "build_report"]

REPORT_FILE = "report.html"
_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class ReportOutcome:
    """Whether report.html is there to open, and what the analysis said if not."""

    ok: bool
    message: str
    exit_code: int | None = None


def build_report(csv_prefix: Path, timeout: float = _TIMEOUT_S) -> ReportOutcome:
    """Run the analysis on the run whose Locust CSVs start with ``csv_prefix``.

    ok when it wrote report.html beside them (an SLO breach included).
    """
    run_dir = csv_prefix.parent
    command = [sys.executable, "-m", "analysis.report", str(csv_prefix)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return ReportOutcome(False, f"the analysis did not finish within {timeout:g} s")
    last_line = _last_line(done.stderr) or _last_line(done.stdout)
    if done.returncode in (0, 1) and (run_dir / REPORT_FILE).is_file():
        verdict = "SLO breached" if done.returncode == 1 else "ok"
        return ReportOutcome(True, verdict, done.returncode)
    return ReportOutcome(False, last_line or f"analysis exited with code {done.returncode}", done.returncode)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
