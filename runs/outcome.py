"""How a run ends on the terminal: the verdict in one line, and the report opened on request."""

from __future__ import annotations

import json
import os
import sys
import webbrowser
from pathlib import Path

__all__ = ["open_report", "verdict_line"]


def verdict_line(
    profile: str, exit_code: int | None, summary_json: Path, slo_file: Path, breached: str
) -> str:
    """``runs: PASS demo: 3 of 3 SLO rules held (demo.slo.yaml)``, or FAIL with the rules that broke.

    ``exit_code`` is the analysis's (None: not analysed); ``breached`` names the broken rules as the
    analysis wrote them (``runs.cli.breach_reason``), so they read exactly as in the report.
    """
    if exit_code is None:
        return f"runs: DONE {profile}: not analysed (--no-analysis), so no verdict"
    rules = _slo_rules(summary_json)
    if exit_code not in (0, 1) or rules is None:
        return f"runs: ERROR {profile}: the analysis could not read the run (exit {exit_code}); see below"
    held = sum(bool(rule.get("passed")) for rule in rules)
    if exit_code == 0:
        return f"runs: PASS {profile}: {held} of {len(rules)} SLO rules held ({slo_file.name})"
    if held == len(rules):
        return f"runs: FAIL {profile}: a regression against the baseline, or the run was aborted (see below)"
    return f"runs: FAIL {profile}: {len(rules) - held} of {len(rules)} SLO rules breached ({slo_file.name}): {breached}"


def _slo_rules(summary_json: Path) -> list[dict[str, object]] | None:
    try:
        return list(json.loads(summary_json.read_text())["slo"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def open_report(report: Path) -> str:
    """Open ``report`` in the desktop browser if there is one; never raises. Returns what happened."""
    uri = report.resolve().as_uri()
    if not _has_desktop():
        return f"--open: no desktop browser here (no DISPLAY or WAYLAND_DISPLAY); open {uri} yourself"
    try:
        opened = webbrowser.open(uri, new=2)
    except Exception as exc:  # any browser failure is the user's to fix, never the run's
        return f"--open: could not open a browser ({exc}); open {uri} yourself"
    return f"--open: opened {uri}" if opened else f"--open: no browser found; open {uri} yourself"


def _has_desktop() -> bool:
    # On Linux and the BSDs, webbrowser falls back to text browsers (lynx, w3m) without a display,
    # and those would take over the terminal; macOS and Windows always have a desktop browser.
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
