"""The end of a run: the verdict in one line, and --open that never fails."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from runs.outcome import open_report, verdict_line

SLO = Path("profiles/demo.slo.yaml")
BREACHED = "Aggregated: error_rate < 1% (actual 2.35%)"


def _summary(tmp_path: Path, passed: list[bool]) -> Path:
    path = tmp_path / "summary.json"
    path.write_text(
        json.dumps({"slo": [{"endpoint": "Aggregated", "rule": "r", "passed": p} for p in passed]})
    )
    return path


def test_pass_counts_the_rules_that_held(tmp_path: Path) -> None:
    line = verdict_line("demo", 0, _summary(tmp_path, [True, True, True]), SLO, BREACHED)
    assert line == "runs: PASS demo: 3 of 3 SLO rules held (demo.slo.yaml)"


def test_fail_quotes_the_broken_rules_as_the_analysis_wrote_them(tmp_path: Path) -> None:
    line = verdict_line("demo", 1, _summary(tmp_path, [True, False, True]), SLO, BREACHED)
    assert line == (
        "runs: FAIL demo: 1 of 3 SLO rules breached (demo.slo.yaml): Aggregated: error_rate < 1% (actual 2.35%)"
    )


def test_unreadable_run_and_no_analysis(tmp_path: Path) -> None:
    assert verdict_line("demo", 2, tmp_path / "missing.json", SLO, "").startswith("runs: ERROR demo: ")
    assert verdict_line("demo", None, tmp_path / "missing.json", SLO, "").startswith("runs: DONE demo: ")


def test_open_without_a_desktop_says_so_and_opens_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    report = tmp_path / "report.html"
    report.write_text("<html></html>")
    said = open_report(report)
    assert (
        said
        == f"--open: no desktop browser here (no DISPLAY or WAYLAND_DISPLAY); open {report.as_uri()} yourself"
    )


def test_open_with_a_desktop_hands_the_file_url_to_the_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real browser command ($BROWSER, as webbrowser honours it) receives the report's file:// URL."""
    received = tmp_path / "received"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {received}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("BROWSER", str(browser))
    report = tmp_path / "report.html"
    report.write_text("<html></html>")
    assert open_report(report) == f"--open: opened {report.as_uri()}"
    deadline = time.monotonic() + 10
    while not received.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert received.read_text().strip() == report.as_uri()


def test_open_with_a_browser_that_fails_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("BROWSER", str(tmp_path / "no-such-browser"))
    monkeypatch.setenv("PATH", str(tmp_path))  # and no xdg-open, firefox, ... to fall back on
    report = tmp_path / "report.html"
    report.write_text("")
    said = open_report(report)
    assert said.startswith("--open: ") and report.as_uri() in said and os.environ["PATH"] == str(tmp_path)
