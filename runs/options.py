"""Every option of ``python -m runs``, declared once (see ``plumbing.options``)."""

from __future__ import annotations

from pathlib import Path

from plumbing.options import Options, declarer

__all__ = ["OPTIONS"]

_o = declarer("RUNS_", ("runs",))

OPTIONS = Options(
    "runs",
    (
        _o("--workers", 2, "Locust worker processes", type=int, low=1),
        _o("--duration", None, "override the shape's length, e.g. 2m (not for demo's stages)"),
        _o(
            "--out",
            None,
            "parent of the run directory (default: reports/ in the repository)",
            type=Path,
            metavar="DIR",
        ),  # fmt: skip
        _o(
            "--host",
            None,
            "load this target instead of starting a sandbox (e.g. the pipeline ingest)",
            schemes=("http", "https"),
            metavar="URL",
        ),  # fmt: skip
        _o("--no-analysis", False, "skip python -m analysis.report", kind="flag"),
        # Passed on to python -m analysis.report (declared here too: runs does not import the analysis).
        _o(
            "--slo",
            None,
            "SLO rules (live and end-of-run) instead of the profile's profiles/<name>.slo.yaml",
            type=Path,
            metavar="FILE",
        ),  # fmt: skip
        _o(
            "--junit",
            None,
            "JUnit XML of the SLO verdicts (default: junit.xml in the run directory)",
            type=Path,
            metavar="FILE",
        ),  # fmt: skip
        _o(
            "--web",
            False,
            "the same run with Locust's web UI on 127.0.0.1 (URL printed): it starts when you press Start, "
            "and the report is written when it stops",
            kind="flag",
        ),  # fmt: skip
        _o("--quiet", False, "no live progress line", kind="flag"),
        _o(
            "--open",
            False,
            "open the report in the desktop browser at the end, where there is one",
            kind="flag",
        ),
    ),
)
