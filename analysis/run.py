"""Find a run's files from a directory or ``--csv`` prefix and load them as tidy frames."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from analysis import locust_csv
from analysis.errors import InputError
from analysis.files import LIVE_RECORD, RunFiles, resolve_run
from analysis.system import read_system_history

__all__ = ["LIVE_RECORD", "Run", "RunFiles", "load_run", "read_live_record", "resolve_run"]

# Measured in this project: a single-process run's _stats.csv ended ~4% below Locust's final
# console totals, because Locust rewrites it once a second and the last second is lost at exit.
TRAILING_NOTE = (
    "final figures come from _stats.csv, which Locust rewrites once a second; "
    "it may trail the console's final totals by ~4% (save --json-file for exact totals)"
)


@dataclass
class Run:
    """A loaded run. Every frame is tidy: one row per observation, snake_case columns."""

    files: RunFiles
    stats: pd.DataFrame
    """Per endpoint plus ``Aggregated``, from ``_stats.csv``."""
    history: pd.DataFrame | None
    """One row per (second, endpoint) from ``_stats_history.csv``; None when absent."""
    failures: pd.DataFrame
    exceptions: pd.DataFrame
    json_totals: pd.DataFrame | None
    """Final totals from ``--json-file`` when it was saved."""
    histograms: dict[str, dict[int, int]] = field(default_factory=dict)
    system: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    live: dict[str, Any] | None = None
    """The live SLO gate's record: each live rule's outcome, and ``aborted`` when one stopped the run."""

    @property
    def full_history(self) -> bool:
        """True when history has per-endpoint rows, i.e. Locust ran with ``--csv-full-history``
        and its percentiles are a ~10 s window rather than cumulative."""
        if self.history is None:
            return False
        return bool((self.history["endpoint"] != locust_csv.AGGREGATED).any())

    @property
    def final_source(self) -> str:
        return "locust.json" if self.json_totals is not None else "_stats.csv"


def load_run(path: str | Path, history_columns: Sequence[str] | None = None) -> Run:
    """Load everything a run left behind. Raises :class:`InputError` for unusable input.

    ``history_columns``: which tidy history columns to parse besides ``timestamp`` and ``endpoint``
    (default all; see :func:`analysis.locust_csv.read_history`). The report asks only for what
    its per-second figures use, which halves the parse of a long run.
    """
    files = resolve_run(path)
    notes: list[str] = []
    history = None
    if files.history is not None:
        history, history_notes = locust_csv.read_history(files.history, history_columns)
        notes += history_notes
    else:
        notes.append("no _stats_history.csv: over-time charts and the knee are omitted")
    json_totals: pd.DataFrame | None = None
    histograms: dict[str, dict[int, int]] = {}
    if files.json is not None:
        json_totals, histograms = locust_csv.read_json_totals(files.json)
    else:
        notes.append(TRAILING_NOTE)
    run = Run(
        files=files,
        stats=locust_csv.read_stats(files.stats),
        history=history,
        failures=_optional(files.failures, locust_csv.read_failures, _EMPTY_FAILURES),
        exceptions=_optional(files.exceptions, locust_csv.read_exceptions, _EMPTY_EXCEPTIONS),
        json_totals=json_totals,
        histograms=histograms,
        system=read_system_history(files.system) if files.system is not None else None,
        notes=notes,
        live=read_live_record(files.live) if files.live is not None else None,
    )
    if history is not None and not run.full_history and len(history):
        notes.append(
            "history has no per-endpoint rows (run without --csv-full-history): "
            "its percentiles are cumulative since start, not a 10 s window"
        )
    return run


_EMPTY_FAILURES = ["endpoint", "error", "occurrences", "first_seen", "last_seen"]
_EMPTY_EXCEPTIONS = ["count", "message", "traceback", "nodes"]


def _optional(path: Path | None, reader: Callable[[Path], pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if path is None:
        return pd.DataFrame(
            {c: pd.Series(dtype="int64" if c in {"occurrences", "count"} else object) for c in columns}
        )
    return reader(path)


def read_live_record(path: Path) -> dict[str, Any]:
    """``slo_live.json``: ``{"rules": [...], "aborted": {...} | None}``."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InputError(
            path, f"cannot read the live SLO record ({exc}); re-run, or delete the file"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise InputError(path, "not a live SLO record (expected an object with a 'rules' list)")
    return data
