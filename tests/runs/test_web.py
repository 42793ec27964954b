"""``python -m runs PROFILE --web``: the same orchestration, driven from Locust's web UI in chromium."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runs.progress import STATUS_FILE, read_status
from tests.runs.progress_checks import assert_plain_progress
from tests.support.browser import chromium_page
from tests.support.terminal import stop_runs

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "runs"


def _lines_of(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for_line(lines: queue.Queue[str], pattern: str, seen: list[str], timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matching {pattern!r} within {timeout:.0f} s; got:\n" + "\n".join(seen))


def _wait_for_status(run_dir: Path, condition, timeout: float) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = read_status(run_dir / STATUS_FILE)
        if status is not None and condition(status):
            return status
        time.sleep(0.5)
    raise AssertionError(f"the master's status never matched: {read_status(run_dir / STATUS_FILE)}")


def _customerio_figure(page, figure: str) -> str:  # type: ignore[no-untyped-def]
    row = page.locator("table tbody tr", has_text=figure).first
    return str(row.locator("td").nth(2).inner_text()).strip()  # "This run"


@pytest.mark.slow
def test_web_runs_the_profile_from_the_page_and_reports_when_it_stops(tmp_path: Path) -> None:
    """The URL is printed; nothing runs until Start is pressed on the page; the stats and the
    Customer.io tab fill; Stop on the page ends the run, and the analysis report follows."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runs", "demo", "--web", "--reports-dir", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines, seen = _lines_of(proc), []
    try:
        url = _wait_for_line(lines, r"runs: web UI: (http://127\.0\.0\.1:\d+) ", seen, 90).group(1)
        (run_dir,) = tmp_path.iterdir()
        with chromium_page() as page:
            page.goto(url)
            # Both workers connect before Start, as in a headless run; nothing runs until then.
            status = _wait_for_status(run_dir, lambda s: s.get("workers") == 2, 90)
            time.sleep(2)
            assert read_status(run_dir / STATUS_FILE)["started"] is None and status["requests"] == 0
            page.get_by_role("button", name="Start").click()
            page.get_by_text("/api/v1/customers/[id]/events").first.wait_for(timeout=60_000)
            page.screenshot(path=ARTIFACTS / "web-01-stats.png")
            page.get_by_role("tab", name="Customer.io").click()
            page.get_by_text("Requests reaching the sandbox").wait_for(timeout=30_000)
            deadline = time.monotonic() + 60
            while _customerio_figure(page, "Requests reaching the sandbox") in ("–", "0"):
                assert time.monotonic() < deadline, "the Customer.io tab never filled"
                page.wait_for_timeout(500)
            assert _customerio_figure(page, "Accepted events") not in ("–", "0")
            page.screenshot(path=ARTIFACTS / "web-02-customerio-tab.png")
            _wait_for_status(run_dir, lambda s: (s.get("elapsed_s") or 0) >= 22, 90)  # two plain lines due
            page.get_by_role("button", name="Stop").click()
        verdict = _wait_for_line(lines, r"runs: (PASS|FAIL) demo: ", seen, 120)
        report = _wait_for_line(lines, r"runs: report: (file://\S+)", seen, 60).group(1)
        proc.wait(60)
    finally:
        stop_runs(proc)
    assert proc.returncode in (0, 1), "\n".join(seen)
    assert verdict.group(1) in ("PASS", "FAIL")
    assert report == (run_dir / "report.html").resolve().as_uri() and (run_dir / "report.html").is_file()
    assert (run_dir / "locust.json").is_file()  # written by the master's own shutdown, so totals are exact
    # After a Stop on the page too, the workers quit on their master's word, not on runs' SIGTERM.
    for worker in sorted(run_dir.glob("locust-worker-*.log")):
        assert "Got quit message from master" in worker.read_text(), worker.read_text()[-2000:]
    # Not a terminal: plain progress lines every 10 s from Start to Stop, then the final one.
    assert_plain_progress("\n".join(seen))
