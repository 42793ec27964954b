"""Turn a loaded run into everything the report shows: final table, series, knee, SLO, comparison."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import transforms
from analysis.compare import compare
from analysis.delivery import Delivery, reconcile_files
from analysis.knee import Knee, KneeThresholds, find_knee
from analysis.locust_csv import AGGREGATED
from analysis.options import TOLERANCE
from analysis.run import TRAILING_NOTE, Run
from analysis.slo import Threshold, Verdict, evaluate

__all__ = ["Results", "analyse", "final_table", "run_delivery"]

FINAL_NOTES = {
    "locust.json": "final figures are Locust's exact totals at exit (--json-file)",
    "_stats.csv": TRAILING_NOTE,
}


@dataclass
class Results:
    run: Run
    final: pd.DataFrame
    seconds: pd.DataFrame | None
    kind_rates: pd.DataFrame | None
    failures: pd.DataFrame
    knee: Knee | None
    verdicts: list[Verdict] = field(default_factory=list)
    comparison: pd.DataFrame | None = None
    baseline_path: Path | None = None
    tolerance_pct: float = TOLERANCE.default
    notes: list[str] = field(default_factory=list)
    delivery: dict[str, Any] | None = None
    """The delivery reconciliation (``summary.json``'s ``delivery`` block); None without accounting."""
    delivery_seconds: pd.DataFrame | None = None
    """Acknowledged, delivered, lost and e2e delay per second of send time (``analysis.delivery``)."""

    @property
    def final_source(self) -> str:
        return self.run.final_source

    @property
    def totals(self) -> pd.Series:
        return self.final[self.final["endpoint"] == AGGREGATED].iloc[0]

    @property
    def regressions(self) -> pd.DataFrame:
        if self.comparison is None:
            return pd.DataFrame()
        return self.comparison[self.comparison["regression"]]

    @property
    def aborted(self) -> dict[str, Any] | None:
        """``{"rule", "endpoint", "at_s", "at", "value"}`` when a live rule stopped the run."""
        record = self.run.live
        aborted = record.get("aborted") if record else None
        return aborted if isinstance(aborted, dict) else None

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts) and self.regressions.empty and self.aborted is None


def final_table(run: Run) -> pd.DataFrame:
    """Final per-endpoint figures: exact ones from ``--json-file`` when saved, else ``_stats.csv``."""
    if run.json_totals is not None:
        return transforms.final_from_json(run.json_totals, run.histograms)
    return transforms.final_from_stats(run.stats)


def run_delivery(run: Run) -> Delivery | None:
    """The run's delivery reconciliation when it recorded acks and arrivals, else None (with a note)."""
    files = run.files
    if files.acks is None:
        return None
    if files.arrivals is None:
        run.notes.append(
            "acks recorded but no arrivals/ directory: delivery is not reconciled "
            "(run the sandbox with --arrivals-dir RUN_DIR/arrivals)"
        )
        return None
    return reconcile_files(files.acks, files.arrivals)


def analyse(
    run: Run,
    thresholds: list[Threshold] | None = None,
    baseline: Run | None = None,
    tolerance_pct: float = TOLERANCE.default,
    knee_thresholds: KneeThresholds | None = None,
    delivery: Delivery | None = None,
) -> Results:
    final = final_table(run)
    failures = transforms.error_kinds(run.failures)
    seconds = kind_rates = knee = None
    if run.history is not None and len(run.history):
        seconds = transforms.per_second(run.history)
        kind_rates = transforms.error_rate_by_kind(seconds, failures)
        knee = find_knee(seconds, knee_thresholds)
    notes = list(run.notes)
    notes.insert(0, FINAL_NOTES[run.final_source])
    if run.final_source == "locust.json":
        notes = [n for n in notes if n != TRAILING_NOTE]
    if int(final.loc[final["endpoint"] == AGGREGATED, "requests"].iloc[0]) == 0:
        notes.append("the run recorded no requests")
    return Results(
        run=run,
        final=final,
        seconds=seconds,
        kind_rates=kind_rates,
        failures=failures,
        knee=knee,
        verdicts=evaluate(
            final,
            thresholds or [],
            delivery.totals if delivery is not None else None,
            system=run.system,
            live=run.live,
        ),
        comparison=compare(final, final_table(baseline), tolerance_pct) if baseline is not None else None,
        baseline_path=baseline.files.prefix if baseline is not None else None,
        tolerance_pct=tolerance_pct,
        notes=notes,
        delivery=delivery.totals if delivery is not None else None,
        delivery_seconds=delivery.per_second if delivery is not None else None,
    )
