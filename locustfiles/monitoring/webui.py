"""The Customer.io tab in Locust's web UI, and the routes behind it.

Uses Locust's documented extension points (``examples/extend_web_ui.py``): ``extendedTabs`` and
``extendedTables`` in ``template_args`` declare the tab, ``extended_stats`` added to the
``/stats/requests`` answer fills it (the UI polls that every 2 s, so the tab updates live), and
``extendedCsvFiles`` puts the report and history links in the Download Data tab.
"""

from __future__ import annotations

from gevent.lock import Semaphore
from locust.stats import save_stats_json

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Response, redirect, request, send_from_directory
from werkzeug.wrappers import Response as BaseResponse

from locustfiles.monitoring.live import TABLE_STRUCTURE, tab_rows
from locustfiles.monitoring.options import HISTORY_FILE
from locustfiles.monitoring.report import REPORT_FILE, build_report

if TYPE_CHECKING:
    from locust.env import Environment
    from locust.web import WebUI

    from locustfiles.monitoring.sampler import SystemSampler

__all__ = ["TAB_KEY", "install"]

TAB_KEY = "customerio"
# What the report route may serve from the run directory: the analysis outputs, nothing else.
_REPORT_FILES = (REPORT_FILE, "summary.md", "summary.json")


def install(
    web_ui: WebUI,
    environment: Environment,
    sampler: Callable[[], SystemSampler | None],
    csv_prefix: Path | None,
) -> None:
    """Declare the tab and links, and add the routes; ``sampler`` returns the current run's sampler."""
    base = (getattr(environment.parsed_options, "web_base_path", None) or "").rstrip("/")
    web_ui.template_args["extendedTabs"] = [{"title": "Customer.io", "key": TAB_KEY}]
    web_ui.template_args["extendedTables"] = [{"key": TAB_KEY, "structure": TABLE_STRUCTURE}]
    web_ui.template_args["extendedCsvFiles"] = [
        {"href": f"{base}/customerio/report", "title": "Customer.io analysis report for the last run"},
        {"href": f"{base}/customerio/system_history.csv", "title": "Download system history CSV"},
    ]
    app = web_ui.app
    assert app is not None  # WebUI creates its Flask app in __init__

    def rows() -> list[dict[str, str]]:
        state = environment.runner.state if environment.runner else "no runner"
        # Other plugins (the live SLO gate) add their rows through this list of callables.
        extra = getattr(environment, "customerio_extra_rows", [])
        return [*tab_rows(sampler(), state), *(row for more in extra for row in more())]

    @app.after_request
    def add_customerio_stats(response: Response) -> Response:
        if not request.path.endswith("/stats/requests") or response.status_code != 200:
            return response
        body = response.get_json(silent=True)
        if isinstance(body, dict):
            body["extended_stats"] = [{"key": TAB_KEY, "data": rows()}]
            response.set_data(json.dumps(body))
        return response

    @app.route(f"{base}/customerio/state")
    @web_ui.auth_required_if_enabled
    def customerio_state() -> Response:
        return Response(json.dumps({"rows": rows()}), mimetype="application/json")

    _add_file_routes(web_ui, environment, sampler, csv_prefix, base)


def _add_file_routes(
    web_ui: WebUI,
    environment: Environment,
    sampler: Callable[[], SystemSampler | None],
    prefix: Path | None,
    base: str,
) -> None:
    building = Semaphore()
    run_dir = prefix.parent if prefix is not None else None
    app = web_ui.app
    assert app is not None
    guard = web_ui.auth_required_if_enabled  # the routes obey --web-login like Locust's own

    @app.route(f"{base}/customerio/system_history.csv")
    @guard
    def customerio_history() -> Response:
        current = sampler()
        path = current.csv_path if current is not None else None
        if path is None or not path.is_file():
            return _text(
                "No system history yet: start a run with --csv DIR/locust (or --system-history PATH).", 404
            )
        return send_from_directory(
            path.parent.resolve(), path.name, as_attachment=True, download_name=HISTORY_FILE
        )

    @app.route(f"{base}/customerio/report")
    @guard
    def customerio_report() -> BaseResponse:
        refusal = _refusal(environment, prefix)
        if refusal or prefix is None:
            return _text(refusal or "no run directory", 409)
        with building:  # two clicks must not run two analyses over the same files
            _save_locust_json(environment, prefix)
            outcome = build_report(prefix)
        if not outcome.ok:
            return _text(f"The analysis report could not be built: {outcome.message}", 500)
        return redirect(f"{base}/customerio/report/{REPORT_FILE}")

    @app.route(f"{base}/customerio/report/<path:name>")
    @guard
    def customerio_report_file(name: str) -> Response:
        if run_dir is None or not (name in _REPORT_FILES or name.startswith("charts/")):
            return _text("Not an analysis report file.", 404)
        return send_from_directory(run_dir.resolve(), name)


def _refusal(environment: Environment, prefix: Path | None) -> str | None:
    runner = environment.runner
    if prefix is None:
        return "No run directory: start Locust with --csv DIR/locust so the run's files land in one place."
    if runner is None or runner.stats.total.num_requests == 0:
        return "No run yet: start a run, stop it, then open this link."
    if runner.state in ("spawning", "running", "cleanup", "stopping"):
        return "The run is still going: stop it, then open this link again."
    return None


def _save_locust_json(environment: Environment, prefix: Path) -> None:
    # Locust writes --json-file only when it quits; a web-UI run's report wants exact totals now.
    if environment.runner is not None:
        save_stats_json(environment.runner.stats, str(prefix))


def _text(message: str, status: int) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")
