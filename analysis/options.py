"""Every option of ``python -m analysis.report``, declared once (see ``plumbing.options``)."""

from __future__ import annotations

from pathlib import Path

from plumbing.options import Options, declarer

__all__ = ["JUNIT", "OPTIONS", "SLO"]

_o = declarer("ANALYSIS_", ("report",))

SLO = _o("--slo", None, "SLO rules, YAML/JSON, e.g. ['p95 < 500ms', 'error_rate < 1%']", type=Path,
         metavar="FILE")  # fmt: skip
JUNIT = _o("--junit", None, "also write the SLO verdicts as JUnit XML (one testcase per rule and endpoint)",
           type=Path, metavar="FILE")  # fmt: skip

OPTIONS = Options(
    "report",
    (
        _o(
            "--out",
            None,
            "where to write report.html, summary.md/json, charts/ (default: next to the CSVs)",
            type=Path,
            metavar="DIR",
        ),  # fmt: skip
        SLO,
        JUNIT,
        _o("--baseline", None, "run directory or prefix to compare with", metavar="OTHER_RUN"),
        _o("--tolerance", 10.0, "allowed worsening vs baseline, %", type=float, low=0, metavar="PCT"),
        _o(
            "--knee-p95-ms",
            500.0,
            "knee: p95 threshold in ms",
            type=float,
            low=0,
            low_open=True,
            metavar="N",
        ),  # fmt: skip
        _o(
            "--knee-error-rate",
            0.01,
            "knee: error-rate threshold as a fraction",
            type=float,
            low=0,
            low_open=True,
            high=1,
            metavar="R",
        ),  # fmt: skip
    ),
)
