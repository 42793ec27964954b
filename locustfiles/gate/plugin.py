"""The live SLO gate: ``--slo FILE`` rules judged on the master every second while the run goes on.

Rules come from the same SLO file as the end-of-run gate (grammar in ``analysis.slo``). Each second
the gate takes Locust's merged statistics (``windows``) and the monitoring sampler's latest row, and
feeds every live rule's :class:`~analysis.rule_state.RuleState`. A rule that has breached for its
``for`` time *trips*: one log line names it, its value and the time; ``abort`` then stops the run
(headless: the master quits, which stops the workers, exit code 1; web UI: the run stops and the UI
stays up to show why). ``slo_live.json`` beside the CSVs records every rule's outcome; the
end-of-run gate and the report read it (an aborted run's report says by which rule and when).
"""

from __future__ import annotations

import gevent
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import RequestStats, StatsEntry

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from locustfiles.gate.windows import EntryWindow
from locustfiles.monitoring.status import record_event
from plumbing.options import Options, declarer

if TYPE_CHECKING:
    from analysis.rule_state import RuleState, SeriesWindow
    from analysis.slo import Threshold

__all__ = ["LIVE_RECORD", "OPTIONS", "LiveGate", "add_arguments", "register"]

log = logging.getLogger(__name__)
LIVE_RECORD = "slo_live.json"  # analysis.run.LIVE_RECORD reads it; analysis must not import Locust
_TICK_S = 1.0


OPTIONS = Options(
    "Customer.io SLO gate",
    (
        declarer("LOCUST_", ("locust master",))(
            "--slo",
            None,
            "YAML/JSON SLO rules, e.g. 'p95 < 500ms over 30s for 20s abort' (docs/slo.md); live rules are "
            "judged on the master every second, and 'abort' stops the run with exit code 1",
            metavar="FILE",
        ),
    ),
    description="rules judged live and after the run",
)


def add_arguments(parser: Any) -> None:
    """``--slo FILE`` on Locust's parser (``events.init_command_line_parser``)."""
    OPTIONS.add_to(parser)


@dataclass
class _Tracked:
    state: RuleState
    index: int


class LiveGate:
    """The live rules of one SLO file, judged between ``test_start`` and ``test_stop``."""

    def __init__(self, environment: Environment, rules: list[Threshold], record_path: Path | None):
        self.environment = environment
        self.rules = [rule for rule in rules if rule.live]
        self.record_path = record_path
        self.horizon_s = max([r.window_s or 0.0 for r in self.rules], default=0.0) + 2 * _TICK_S
        self.tracked: dict[tuple[int, str], _Tracked] = {}
        self.windows: dict[str, EntryWindow] = {}
        self.series: dict[str, SeriesWindow] = {}
        self.started: float | None = None
        self.aborted: dict[str, Any] | None = None
        self._last_sample_at: float | None = None
        self._greenlet: gevent.Greenlet | None = None

    # -- run lifecycle ---------------------------------------------------------------------------

    def on_test_start(self, **_: Any) -> None:
        self._stop_ticking()
        self.tracked, self.windows, self.series = {}, {}, {}
        self.started, self.aborted, self._last_sample_at = time.time(), None, None
        self._greenlet = gevent.spawn(self._run)

    def on_test_stop(self, **_: Any) -> None:
        if self.started is None:
            return
        self._stop_ticking()
        self.write_record()

    def _stop_ticking(self) -> None:
        if self._greenlet is not None and self._greenlet is not gevent.getcurrent():
            self._greenlet.kill(block=False)
        self._greenlet = None

    def _run(self) -> None:
        next_at = time.monotonic()
        while True:
            next_at += _TICK_S
            gevent.sleep(max(0.0, next_at - time.monotonic()))
            try:
                self.tick(time.time())
            except Exception:  # a gate bug must not take the run down; say so once a second
                log.exception("SLO gate: could not judge the rules this second")
            next_at = max(next_at, time.monotonic() - _TICK_S)

    # -- judging ---------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Judge every live rule on the figures at ``now`` (unix seconds)."""
        from analysis.rule_state import RuleState

        if self.started is None or self.environment.runner is None:
            return
        elapsed = now - self.started
        entries = self._entries(self.environment.runner.stats)
        for label, entry in entries.items():
            self.windows.setdefault(label, EntryWindow(self.horizon_s)).push(entry, now)
        self._feed_series(now)
        for index, rule in enumerate(self.rules):
            values = self._values(rule, entries, now)
            if values[0][0] != rule.endpoint:
                # Real endpoints matched ('*', a bare name): the placeholder that stood for them while
                # no request had finished yet would otherwise stay "no data" and fail the rule at the end.
                self.tracked.pop((index, rule.endpoint), None)
            for label, value in values:
                tracked = self.tracked.get((index, label))
                if tracked is None:
                    tracked = self.tracked[(index, label)] = _Tracked(RuleState(rule, label), index)
                if tracked.state.update(elapsed, value):
                    self._trip(tracked.state, now)

    def _entries(self, stats: RequestStats) -> dict[str, StatsEntry]:
        entries: dict[str, StatsEntry] = {"Aggregated": stats.total}
        for (name, method), entry in stats.entries.items():
            entries[f"{method} {name}".strip() if method else str(name)] = entry
        return entries

    def _values(
        self, rule: Threshold, entries: dict[str, StatsEntry], now: float
    ) -> list[tuple[str, float | None]]:
        from analysis.slo import endpoint_matches

        if rule.system:
            series = self.series.get(rule.metric)
            return [
                (rule.endpoint, series.value(now - (self.started or now), rule.window_s) if series else None)
            ]
        labels = [rule.endpoint] if rule.endpoint in entries else [
            label for label in entries if endpoint_matches(rule.endpoint, label)
        ]  # fmt: skip
        out: list[tuple[str, float | None]] = []
        for label in labels:
            figures = self.windows[label].figures(rule.window_s, self.started or now)
            out.append((label, figures.value(rule.metric) if figures is not None else None))
        return out or [(rule.endpoint, None)]

    def _feed_series(self, now: float) -> None:
        from analysis.rule_state import SeriesWindow
        from analysis.slo import LIVE_SYSTEM_COLUMNS

        monitor = getattr(self.environment, "customerio_monitor", None)
        sampler = getattr(monitor, "sampler", None)
        row = getattr(sampler, "latest", None) or {}
        at = row.get("timestamp")
        if at is None or at == self._last_sample_at or self.started is None:
            return
        self._last_sample_at = at
        for metric, column in LIVE_SYSTEM_COLUMNS.items():
            window = self.series.setdefault(metric, SeriesWindow(self.horizon_s))
            window.push(float(at) - self.started, row.get(column))

    def _trip(self, state: RuleState, now: float) -> None:
        rule = state.rule
        what = {"abort": "aborting the run", "warn": "warning only"}.get(rule.action or "", "recorded")
        log.error(
            "SLO rule tripped: '%s' on %s at %s (%.0f s into the run): value %s; %s",
            rule.text, state.endpoint, _iso(now), state.tripped_at, state.shown_value(), what,
        )  # fmt: skip
        # python -m runs prints this at once, on a line of its own (through the master's status file).
        record_event(
            self.environment,
            "slo_breach",
            f"'{rule.text}' on {state.endpoint} at {state.tripped_at:.0f} s: value {state.shown_value()}; {what}",
        )
        if rule.action != "abort" or self.aborted is not None:
            return
        self.aborted = {
            "rule": rule.text,
            "endpoint": state.endpoint,
            "at": now,
            "at_s": state.tripped_at,
            "value": state.shown_value(),
        }
        self.environment.process_exit_code = 1
        self.write_record()
        runner = self.environment.runner
        if runner is None:
            return
        headless = bool(getattr(self.environment.parsed_options, "headless", True))
        # A fresh greenlet: quitting fires test_stop, which must not kill the greenlet it runs in.
        gevent.spawn(runner.quit if headless or self.environment.web_ui is None else runner.stop)

    # -- outputs ---------------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "aborted": self.aborted,
            "rules": [t.state.record() for t in sorted(self.tracked.values(), key=lambda t: t.index)],
        }

    def write_record(self) -> None:
        if self.record_path is None:
            return
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.record_path.with_name(self.record_path.name + ".tmp")
        tmp.write_text(json.dumps(self.record(), indent=2))
        os.replace(tmp, self.record_path)

    def tab_rows(self) -> list[dict[str, str]]:
        """Rows for the web UI's Customer.io tab: one per rule and endpoint."""
        if not self.tracked:
            return [
                {"figure": f"SLO {r.text}", "now": "–", "run": "not started", "detail": r.endpoint}
                for r in self.rules
            ]
        return [
            {
                "figure": f"SLO {t.state.rule.text}",
                "now": t.state.shown_value(),
                "run": t.state.status(),
                "detail": f"{t.state.endpoint}; {t.state.rule.action or 'record only'}",
            }
            for t in sorted(self.tracked.values(), key=lambda t: t.index)
        ]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def register(environment: Environment) -> LiveGate | None:
    """Attach the gate for ``--slo`` to ``environment`` (master or single process only)."""
    options = environment.parsed_options
    path = getattr(options, "slo", None) if options is not None else None
    if not path or isinstance(environment.runner, WorkerRunner):
        return None
    # Imported only here, never on a worker: analysis brings pandas, seconds of CPU on a loaded machine,
    # and a worker's init runs right after it connects, with its gevent loop held by the import (no
    # heartbeat, no stats report, no spawn message handled), so its users started late or, when the
    # import outlasted the run, after the master had ended it with 0 requests counted.
    from analysis.errors import InputError
    from analysis.slo import load_slo_file

    try:
        rules = load_slo_file(path)
    except InputError as exc:
        from locustfiles.plugin import fail

        fail(f"--slo: {exc}")
        return None
    prefix = getattr(options, "csv_prefix", None)
    gate = LiveGate(environment, rules, Path(prefix).parent / LIVE_RECORD if prefix else None)
    environment.customerio_gate = gate  # type: ignore[attr-defined]
    rows = getattr(environment, "customerio_extra_rows", [])
    environment.customerio_extra_rows = [*rows, gate.tab_rows]  # type: ignore[attr-defined]
    environment.events.test_start.add_listener(gate.on_test_start)
    environment.events.test_stop.add_listener(gate.on_test_stop)
    log.info(
        "SLO gate: %d live rules judged every second, %d at the end (%s)",
        len(gate.rules), len(rules) - len(gate.rules), path,
    )  # fmt: skip
    return gate


@events.init_command_line_parser.add_listener
def _on_parser(parser: Any, **_: Any) -> None:
    add_arguments(parser)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    register(environment)
