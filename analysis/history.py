"""``python -m analysis.history REPORTS_DIR``: every run's headline figures, a trend and regressions.

Reads each run's ``summary.json`` under REPORTS_DIR (written by ``python -m analysis.report`` and
``python -m runs``) into one tidy frame, one row per (run, endpoint), ``Aggregated`` included, and
writes beside them:

- ``history.parquet``: the index. Parquet (through pyarrow) because it keeps the column types,
  is one self-describing file that ``pandas.read_parquet`` and DuckDB read directly in a notebook,
  and is rewritten whole in well under a second for thousands of runs: a run history is written
  by one process after a run and read by many, so SQLite's concurrent updates buy nothing here.
- ``history.png``: p50/p95/p99, req/s and error rate per run, per endpoint.
- ``history.md``: the last N runs as a Markdown table, and any regression.

A run *regresses* when a figure is worse than the median of the previous K runs beyond the
tolerance (latency and error rate higher, req/s lower). Exit codes: 0 the newest run did not
regress, 1 it did, 2 unusable input (one line on stderr).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from analysis.errors import InputError
from analysis.options import HISTORY
from plumbing.errors import SuiteError
from plumbing.options import Parser

__all__ = [
    "INDEX_FILE",
    "HistoryRules",
    "build_frame",
    "flag_regressions",
    "main",
    "markdown_table",
    "trend_chart",
]

AGGREGATED = "Aggregated"
FIGURES = ["requests", "failures", "error_rate", "rps", "p50", "p95", "p99", "avg_ms", "max_ms"]
# Figure -> +1 when higher is worse, -1 when lower is worse.
WORSE = {"p50": 1, "p95": 1, "p99": 1, "error_rate": 1, "rps": -1}
# Below these a change is noise whatever its percentage (1 ms on a 2 ms median, 0.1 pp of errors).
_FLOOR = {"p50": 1.0, "p95": 1.0, "p99": 1.0, "error_rate": 0.001, "rps": 0.5}
INDEX_FILE = "history.parquet"


@dataclass(frozen=True)
class HistoryRules:
    previous: int = HISTORY.default("previous")
    """K: the newest run is compared with the median of this many runs before it."""
    tolerance_pct: float = HISTORY.default("tolerance")
    min_previous: int = 2
    """A run with fewer earlier runs than this is never flagged (no median worth the name)."""


def build_frame(reports: Path) -> pd.DataFrame:
    """One row per (run, endpoint) from every ``summary.json`` under ``reports``, oldest run first."""
    if not reports.is_dir():
        raise InputError(reports, "not a directory; pass the directory holding the run directories")
    rows: list[dict[str, Any]] = []
    for path in sorted(reports.rglob("summary.json")):
        rows += _rows(path, reports)
    if not rows:
        raise InputError(reports, "no run here has a summary.json; run python -m analysis.report RUN first")
    frame = pd.DataFrame(rows)
    frame["start"] = pd.to_datetime(frame["start"], utc=True, errors="coerce")
    frame = frame.sort_values(["start", "run"], kind="stable", na_position="first").reset_index(drop=True)
    order = list(dict.fromkeys(frame["run"]))
    frame["run_index"] = frame["run"].map({run: i for i, run in enumerate(order)}).astype("int64")
    for column in FIGURES:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


def _rows(path: Path, reports: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            path, f"cannot read this summary ({exc}); re-run python -m analysis.report"
        ) from None
    if not isinstance(data, dict) or "totals" not in data or "endpoints" not in data:
        raise InputError(path, "not a summary.json of python -m analysis.report (no totals/endpoints)")
    run = path.parent.relative_to(reports).as_posix() or path.parent.name
    meta = {
        "run": run,
        "start": (data.get("run") or {}).get("start"),
        "verdict": data.get("verdict"),
        "aborted_by": (data.get("aborted") or {}).get("rule"),
    }
    totals = {"endpoint": AGGREGATED, **data["totals"]}
    return [
        {**meta, "endpoint": str(e.get("endpoint")), **{f: e.get(f) for f in FIGURES}}
        for e in (totals, *data["endpoints"])
    ]


def flag_regressions(frame: pd.DataFrame, rules: HistoryRules | None = None) -> pd.DataFrame:
    """Each (run, endpoint, figure) worse than the median of the ``previous`` runs before it."""
    rules = rules or HistoryRules()
    out: list[dict[str, Any]] = []
    for endpoint, rows in frame.groupby("endpoint", sort=False):
        rows = rows.sort_values("run_index")
        for figure, direction in WORSE.items():
            values = rows[figure].tolist()
            for i in range(len(values)):
                earlier = [v for v in values[max(0, i - rules.previous) : i] if not math.isnan(v)]
                current = values[i]
                if len(earlier) < rules.min_previous or math.isnan(current):
                    continue
                median = float(pd.Series(earlier).median())
                allowed = max(abs(median) * rules.tolerance_pct / 100, _FLOOR[figure])
                if (current - median) * direction > allowed:
                    out.append({
                        "run": rows["run"].iloc[i], "run_index": int(rows["run_index"].iloc[i]),
                        "endpoint": endpoint, "figure": figure, "median_before": median, "value": current,
                        "change_pct": (current - median) / median * 100 if median else math.inf,
                    })  # fmt: skip
    columns = ["run", "run_index", "endpoint", "figure", "median_before", "value", "change_pct"]
    return (
        pd.DataFrame(out, columns=columns)
        .sort_values(["run_index", "endpoint", "figure"])
        .reset_index(drop=True)
    )


def trend_chart(frame: pd.DataFrame, max_endpoints: int = 8) -> Figure:
    """Per endpoint (rows): latency percentiles, req/s and error rate (columns) against the run."""
    endpoints = [AGGREGATED, *[e for e in dict.fromkeys(frame["endpoint"]) if e != AGGREGATED]][
        :max_endpoints
    ]
    height = 2.6 * len(endpoints) + 1.6
    figure = Figure(figsize=(15, height))
    # Margins in inches instead of constrained layout, which took ~90% of the drawing for 8 rows of
    # 3 panels: room for two-line y labels on the left and the slanted run names below.
    figure.subplots_adjust(left=0.7 / 15, right=1 - 0.2 / 15, top=1 - 0.4 / height,
                           bottom=1.45 / height, hspace=0.25, wspace=0.18)  # fmt: skip
    axes = figure.subplots(len(endpoints), 3, squeeze=False, sharex=True)
    runs = frame.drop_duplicates("run_index").sort_values("run_index")
    for row, endpoint in enumerate(endpoints):
        data = frame[frame["endpoint"] == endpoint].sort_values("run_index")
        latency, rate, errors = axes[row]
        for column, color in (("p50", "#1f77b4"), ("p95", "#ff7f0e"), ("p99", "#d62728")):
            latency.plot(data["run_index"], data[column], marker="o", color=color, label=column)
        rate.plot(data["run_index"], data["rps"], marker="o", color="#2ca02c")
        errors.plot(data["run_index"], data["error_rate"] * 100, marker="o", color="#d62728")
        latency.set_ylabel(f"{endpoint}\nms", fontsize=8)
        rate.set_ylabel("req/s")
        errors.set_ylabel("error rate %")
        for ax in axes[row]:
            ax.grid(True, alpha=0.3)
            ax.set_ylim(bottom=0)
        if row == 0:
            latency.legend(loc="upper left", fontsize=8)
            latency.set_title("latency")
            rate.set_title("throughput")
            errors.set_title("errors")
    for ax in axes[-1]:
        ax.set_xticks(
            runs["run_index"], [str(r)[-24:] for r in runs["run"]], rotation=30, ha="right", fontsize=7
        )
    return figure


def markdown_table(frame: pd.DataFrame, regressions: pd.DataFrame, last: int = 10) -> str:
    """The last ``last`` runs (aggregate figures) and the newest run's regressions, as Markdown."""
    totals = frame[frame["endpoint"] == AGGREGATED].sort_values("run_index").tail(last)
    flagged = set(regressions["run"])
    lines = ["# Run history", "", f"Last {len(totals)} of {frame['run'].nunique()} runs (all endpoints).", ""]
    lines += ["| run | start | verdict | requests | req/s | error rate | p50 | p95 | p99 | regression |",
              "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in totals.to_dict("records"):
        start = "–" if pd.isna(r["start"]) else r["start"].strftime("%Y-%m-%d %H:%M")
        verdict = f"aborted ({r['aborted_by']})" if r.get("aborted_by") else str(r["verdict"])
        lines.append(
            f"| {r['run']} | {start} | {verdict} | {_n(r['requests'], '{:,.0f}')} | {_n(r['rps'], '{:.1f}')} "
            f"| {_n(r['error_rate'] * 100, '{:.2f}%')} | {_n(r['p50'], '{:.0f} ms')} | {_n(r['p95'], '{:.0f} ms')} "
            f"| {_n(r['p99'], '{:.0f} ms')} | {'REGRESSION' if r['run'] in flagged else ''} |"
        )
    newest = int(frame["run_index"].max())
    mine = regressions[regressions["run_index"] == newest]
    lines += ["", "## Newest run against the median of the runs before it", ""]
    if mine.empty:
        lines.append("No regression.")
    for r in mine.to_dict("records"):
        lines.append(
            f"- REGRESSION {r['endpoint']} {r['figure']}: {r['value']:.4g} vs median {r['median_before']:.4g} "
            f"({r['change_pct']:+.1f}%)"
        )
    return "\n".join(lines) + "\n"


def _n(value: Any, fmt: str) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)


def _parser() -> Parser:
    p = Parser(prog="python -m analysis.history", description=__doc__.splitlines()[0])
    p.add_argument("reports", type=Path, metavar="REPORTS_DIR", help="directory holding the run directories")
    HISTORY.add_to(p, group=False)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_checked(argv)
    try:
        vars(args).update(HISTORY.values(args))
        frame = build_frame(args.reports)
        regressions = flag_regressions(
            frame, HistoryRules(previous=args.previous, tolerance_pct=args.tolerance)
        )
        out: Path = args.out or args.reports
        try:
            out.mkdir(parents=True, exist_ok=True)
            frame.to_parquet(out / INDEX_FILE, index=False)
            trend_chart(frame).savefig(out / "history.png", dpi=90)
            (out / "history.md").write_text(markdown_table(frame, regressions, args.last))
        except OSError as exc:
            raise InputError(
                out, f"cannot write the history ({exc.strerror}); pass a writable --out"
            ) from None
    except SuiteError as exc:  # InputError, OptionError
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    newest = int(frame["run_index"].max())
    for r in regressions.to_dict("records"):
        print(
            f"REGRESSION  {r['run']} {r['endpoint']}: {r['figure']} {r['value']:.4g} vs median {r['median_before']:.4g}"
        )
    print(
        f"history: {frame['run'].nunique()} runs -> {out / INDEX_FILE}, {out / 'history.png'}, {out / 'history.md'}"
    )
    return 1 if (regressions["run_index"] == newest).any() else 0


if __name__ == "__main__":
    sys.exit(main())
