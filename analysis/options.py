"""Every option of ``python -m analysis.report`` and ``python -m analysis.history``, declared once (see
``plumbing.options``)."""

from __future__ import annotations

from pathlib import Path

from plumbing.options import Options, declarer

__all__ = ["HISTORY", "JUNIT", "OPTIONS", "OUT", "SLO", "TOLERANCE"]

_o = declarer("ANALYSIS_", ("report",))
_both = declarer("ANALYSIS_", ("report", "history"))
_h = declarer("ANALYSIS_HISTORY_", ("history",))

# --out means the same in both: the directory the outputs are written into.
OUT = _both(
    "--out",
    None,
    "the directory the outputs are written into: report.html, summary.md/json, charts/ (report; "
    "default: next to the CSVs) or history.parquet/.png/.md (history; default: REPORTS_DIR)",
    type=Path,
    metavar="DIR",
)
TOLERANCE = _both(
    "--tolerance",
    10.0,
    "allowed worsening against the reference (report: the --baseline run; history: the median of the "
    "--previous runs), %",
    type=float,
    low=0,
    metavar="PCT",
)

SLO = _o("--slo", None, "SLO rules, YAML/JSON, e.g. ['p95 < 500ms', 'error_rate < 1%']", type=Path,
         metavar="FILE")  # fmt: skip
JUNIT = _o("--junit", None, "also write the SLO verdicts as JUnit XML (one testcase per rule and endpoint)",
           type=Path, metavar="FILE")  # fmt: skip

OPTIONS = Options(
    "report",
    (
        OUT,
        SLO,
        JUNIT,
        _o("--baseline", None, "run directory or prefix to compare with", metavar="OTHER_RUN"),
        TOLERANCE,
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

HISTORY = Options(
    "history",
    (
        OUT,
        _h("--last", 10, "runs in the Markdown table", type=int, low=1, metavar="N"),
        _h(
            "--previous",
            5,
            "runs before the newest whose median it is compared with",
            type=int,
            low=1,
            metavar="K",
        ),  # fmt: skip
        TOLERANCE,
    ),
)
"""``python -m analysis.history REPORTS_DIR``."""
