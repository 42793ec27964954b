"""The Customer.io tab in Locust's real web UI, driven in headless Debian chromium."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from plumbing.ports import free_port
from runs.processes import start_service as running_service
from tests.support.browser import chromium_page
from tests.support.sandbox import running_sandbox

playwright_api = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = "locustfiles/locustfile.py"
# The step shape: 4 users for 4 s, then 8; each Track user paced to 10 requests/s.
STEP = ["--shape-users", "8", "--shape-steps", "2", "--shape-duration", "8s", "--user-rate", "10"]


@contextmanager
def locust_web_ui(host: str, csv_prefix: Path, *extra: str) -> Iterator[str]:
    """``locust`` with its web UI on a free loopback port; yields the UI's URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "locust", *extra, "--web-host", "127.0.0.1", "--web-port", str(port),
        "--host", host, "--csv", str(csv_prefix), "--csv-full-history",
    ]  # fmt: skip
    log = (csv_prefix.parent / "locust.log").open("wb")
    process = subprocess.Popen(
        command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, process)
        yield url
    finally:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            continue


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise AssertionError(f"Locust's web UI did not come up at {url} (exit code {process.poll()})")


@pytest.fixture
def page() -> Iterator[object]:
    """A page in headless Debian chromium (never a downloaded browser)."""
    with chromium_page() as opened:
        yield opened


def _tab_figures(page) -> dict[str, list[str]]:
    """The Customer.io table as {figure: [now, this run, detail]}."""
    rows = page.locator("table tbody tr").all_inner_texts()
    figures = {}
    for row in rows:
        cells = row.split("\t")
        figures[cells[0].strip()] = [cell.strip() for cell in cells[1:]]
    return figures


@pytest.mark.slow
def test_run_from_ui_shows_live_customerio_figures_and_opens_report(
    page, artifacts: Path, tmp_path: Path
) -> None:
    """Pick a user class and shape, start, watch the tab's figures move, stop, open the report."""
    with (
        running_sandbox("--rate-limit", "track=20") as sandbox,
        locust_web_ui(sandbox.url, tmp_path / "locust", "-f", LOCUSTFILE, "--class-picker", *STEP) as ui,
    ):
        page.goto(ui)
        page.locator("table input[type=checkbox]").first.uncheck()  # "all" off, then pick one class
        page.locator("tr", has_text="TrackUser").locator("input[type=checkbox]").check()
        page.select_option("#shapeClass", "StepShape")
        page.screenshot(path=artifacts / "01-start-form.png")
        page.get_by_role("button", name="Start").click()

        page.get_by_text("/api/v1/customers/[id]/events").first.wait_for(timeout=15_000)
        assert page.get_by_text("/api/v1/customers/[id]", exact=True).count() == 0  # IdentifyUser left out
        assert page.get_by_text("/api/v2/batch", exact=True).count() == 0  # BatchUser too
        page.screenshot(path=artifacts / "02-stats.png")

        page.get_by_role("tab", name="Customer.io").click()
        page.get_by_text("Track budget used").wait_for(timeout=10_000)
        first = _wait_for_figures(page, lambda f: f["Requests reaching the sandbox"][1] not in ("–", "0"))
        page.screenshot(path=artifacts / "03-customerio-tab.png")
        later = _wait_for_figures(
            page, lambda f: f["Requests reaching the sandbox"][1] != first["Requests reaching the sandbox"][1]
        )
        page.screenshot(path=artifacts / "04-customerio-tab-later.png")
        assert later["Metrics endpoints"][0] == "1/1 answering"
        assert later["Track budget used"][0].endswith("%")
        assert int(later["Track budget used"][0].rstrip("%")) > 100  # 40-80 req/s against 20 req/s
        assert "20 req/s" in later["Track budget used"][2]
        assert later["Rate limited (429)"][1] not in ("–", "0")
        assert "demo-site" not in page.content() and "demo-track-key" not in page.content()

        page.get_by_role("button", name="Stop").click()
        page.get_by_text("STOPPED", exact=False).first.wait_for(timeout=15_000)
        page.get_by_role("tab", name="Download Data").click()
        page.get_by_role("link", name="Customer.io analysis report for the last run").click()
        page.wait_for_url("**/customerio/report/report.html", timeout=90_000)
        page.screenshot(path=artifacts / "05-report.png", full_page=True)
        assert "system" in page.content().lower()
        assert (tmp_path / "report.html").is_file()
        assert (tmp_path / "system_history.csv").read_text().count("\n") >= 4


def _wait_for_figures(page, condition, timeout: float = 15.0) -> dict[str, list[str]]:
    deadline = time.monotonic() + timeout
    figures = _tab_figures(page)
    while time.monotonic() < deadline:
        figures = _tab_figures(page)
        try:
            if condition(figures):
                return figures
        except KeyError:
            pass  # the table has not filled yet
        page.wait_for_timeout(250)
    raise AssertionError(f"the Customer.io tab did not change as expected: {figures}")


@pytest.mark.slow
def test_target_without_metrics_shows_no_metrics_endpoint(page, artifacts: Path, tmp_path: Path) -> None:
    """A target whose /metrics is 404: the tab says so plainly while the run goes on."""
    with (
        running_service(
            "endpoints", ["tests.monitoring.endpoints", "--no-metrics"], log_dir=tmp_path
        ) as target,
        locust_web_ui(
            target.url,
            tmp_path / "locust",
            "-f",
            LOCUSTFILE,
            "--autostart",
            "-u",
            "1",
            "-r",
            "1",
            "TrackUser",
        ) as ui,
    ):
        page.goto(f"{ui}/?tab=customerio")
        page.get_by_text("no metrics endpoint").first.wait_for(timeout=15_000)
        figures = _wait_for_figures(page, lambda f: "HTTP 404" in f["Metrics endpoints"][2])
        page.screenshot(path=artifacts / "06-no-metrics-endpoint.png")
        assert figures["Metrics endpoints"][0] == "no metrics endpoint"
        assert figures["Target-side figures"][0] == "unavailable"
        assert "--metrics-url" in figures["Target-side figures"][2]
        assert "Track budget used" not in figures  # no dashes that could pass for a quiet target
        state = requests.get(f"{ui}/customerio/state", timeout=5).json()
        assert state["rows"][0]["now"] == "no metrics endpoint"
        refused = requests.get(f"{ui}/customerio/report", timeout=5)
        assert refused.status_code == 409
        assert "still going" in refused.text


@pytest.mark.slow
def test_pipeline_as_target_fills_tab_and_history(page, artifacts: Path, tmp_path: Path) -> None:
    """Locust -> ingest -> Kafka -> sender -> sandbox: the tab and the history follow every stage."""
    from tests.support.kafka import running_broker
    from tests.support.redis import running_redis

    with (
        running_broker(tmp_path) as broker,
        running_redis() as redis_url,
        running_sandbox("--rate-limit", "track=30", log_dir=tmp_path) as sandbox,
    ):
        broker.create_topics("cio-events", "cio-events-dlq")
        bootstrap = ["--bootstrap-servers", broker.bootstrap]
        with (
            running_service("ingest", ["pipeline", "ingest", "--port", "0", *bootstrap], log_dir=tmp_path) as ingest,
            running_service(
                "sender",
                ["pipeline", "sender", *bootstrap, "--target", sandbox.url, "--redis-url", redis_url,
                 "--rate-limit", "25", "--metrics-port", "0"],
                log_dir=tmp_path,
            ) as sender,
            _assigned(sender),
            locust_web_ui(
                ingest.url, tmp_path / "locust", "-f", LOCUSTFILE, "--autostart", "-u", "4", "-r", "4",
                "-t", "8s", "--user-rate", "10", "TrackUser",
                "--metrics-url", f"{sender.url}/metrics", "--metrics-url", f"{sandbox.url}/metrics",
            ) as ui,
        ):  # fmt: skip
            page.goto(f"{ui}/?tab=customerio")
            page.get_by_text("Pipeline delivered").wait_for(timeout=20_000)
            live = _poll_state(
                ui, lambda rows: rows["Pipeline delivered"]["now"] not in ("–", "0.0 events/s")
            )
            page.wait_for_timeout(2500)  # the UI polls every 2 s
            page.screenshot(path=artifacts / "07-pipeline-target.png")
            final = _poll_state(ui, lambda rows: "(stopped)" in rows["Metrics endpoints"]["run"])
    assert live["Metrics endpoints"]["now"] == "3/3 answering"
    assert live["Pipeline ingested"]["now"].endswith("events/s")
    assert final["Queue lag"]["now"].endswith(" events")  # the senders' Kafka consumer lag
    # Run totals come from counter growth, so a scrape that missed its deadline loses nothing.
    delivered, accepted = _run_total(final, "Pipeline delivered"), _run_total(final, "Accepted events")
    assert delivered > 0
    assert accepted == pytest.approx(delivered, rel=0.15)  # what the sender delivered, the sandbox took
    assert _run_total(final, "Requests reaching the sandbox") * 3 < accepted  # batched delivery
    assert _run_total(final, "Dead letters") == 0

    rows = _history(tmp_path / "system_history.csv")
    assert 6 <= len(rows) <= 10
    # An empty cell is a scrape that missed its deadline on a loaded machine; most seconds have one.
    ingested = [
        row["pipeline_ingested_per_s"] for row in rows[1:-1] if row["pipeline_ingested_per_s"] is not None
    ]
    assert len(ingested) >= len(rows) - 3
    assert all(rate == pytest.approx(40, rel=0.35) for rate in ingested)
    assert any((row["pipeline_delivered_per_s"] or 0) > 0 for row in rows)
    assert sum(row["pipeline_consumer_lag"] is not None for row in rows) >= len(rows) - 3
    assert max(row["sandbox_budget_used"] or 0 for row in rows) < 1  # the sender keeps under the limit


@contextmanager
def _assigned(sender, timeout: float = 30.0) -> Iterator[None]:
    """Wait until the sender owns its partitions (its consumer group join takes seconds)."""
    deadline = time.monotonic() + timeout
    while "assigned" not in sender.log_text():
        if time.monotonic() > deadline or not sender.alive():
            raise AssertionError(f"the sender never got partitions:\n{sender.log_text()[-1500:]}")
        time.sleep(0.1)
    yield


def _run_total(rows: dict[str, dict[str, str]], figure: str) -> int:
    return int(rows[figure]["run"].replace(",", ""))


def _poll_state(ui: str, condition, timeout: float = 20.0) -> dict[str, dict[str, str]]:
    """``/customerio/state`` as {figure: row} once ``condition`` holds (KeyError counts as not yet)."""
    deadline = time.monotonic() + timeout
    rows: dict[str, dict[str, str]] = {}
    while time.monotonic() < deadline:
        rows = {
            row["figure"]: row for row in requests.get(f"{ui}/customerio/state", timeout=5).json()["rows"]
        }
        try:
            if condition(rows):
                return rows
        except KeyError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"/customerio/state never met the condition: {rows}")


def _history(path: Path) -> list[dict[str, float | None]]:
    with path.open(newline="") as file:
        return [{k: float(v) if v else None for k, v in row.items()} for row in csv.DictReader(file)]
