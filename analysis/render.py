"""Write a report's outputs: ``charts/*.png``, ``report.html`` (charts embedded), ``summary.md``
and ``summary.json``."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from analysis import transforms
from analysis.drawing import ChartJob, Charts
from analysis.locust_csv import AGGREGATED
from analysis.results import Results

if TYPE_CHECKING:  # matplotlib is imported where charts are drawn (worker processes), not here
    from concurrent.futures import Executor

    from matplotlib.figure import Figure

__all__ = [
    "aborted_line",
    "build_charts",
    "chart_jobs",
    "final_chart_jobs",
    "iter_chart_jobs",
    "render_html",
    "render_markdown",
    "summary",
    "write_report",
]

# A 24 h soak has 86,400 points per series; a 1,000 px wide chart cannot show more than ~1,500.
MAX_POINTS = 1500
_PEAKS = ("p50_ms", "p95_ms", "p99_ms")
_HEADLINE = ["requests", "failures", "error_rate", "rps", "p50", "p95", "p99", "avg_ms", "max_ms"]


def chart_jobs(results: Results, max_points: int = MAX_POINTS) -> dict[str, ChartJob]:
    """name -> (chart function, downsampled frames) for every chart the data supports."""
    return dict(iter_chart_jobs(results, max_points))


def iter_chart_jobs(results: Results, max_points: int = MAX_POINTS) -> Iterator[tuple[str, ChartJob]]:
    """(name, job) for every chart the data supports, in the report's order, each frame prepared
    only when its chart is next: a worker can draw one chart while the next one's frames are cut."""
    has_traffic = int(results.totals["requests"]) > 0
    # Every over-time chart counts elapsed time from the same start: the run's first second.
    start = transforms.run_start(results.seconds) if results.seconds is not None else None
    system: pd.DataFrame | None = None  # downsampled once, for the system and the delivery charts
    raw_system = results.run.system
    if raw_system is not None and len(raw_system):
        system = transforms.downsample(raw_system, max_points, peaks=("pipeline_consumer_lag",))
    if results.seconds is not None and has_traffic:
        seconds = transforms.downsample(results.seconds, max_points, peaks=_PEAKS)
        yield "throughput", ("throughput_chart", (seconds, results.knee, start))
        yield "latency", ("latency_chart", (seconds, results.knee, start))
        if results.run.full_history:
            yield "latency_per_endpoint", ("endpoint_latency_chart", (seconds, start))
        if results.kind_rates is not None:
            kind_rates = transforms.downsample(results.kind_rates, max_points)
            yield "errors", ("error_chart", (kind_rates, start))
        if system is not None:
            yield "system", ("system_chart", (seconds, system, start))
    delivery = results.delivery_seconds
    if delivery is not None and len(delivery):
        by_send_time = delivery.rename(columns={"second": "timestamp"})
        peaks = ("e2e_p99", "e2e_max", "lost")
        yield (
            "delivery",
            ("delivery_chart", (transforms.downsample(by_send_time, max_points, peaks), system, start)),
        )
    yield from final_chart_jobs(results.final).items()


def final_chart_jobs(final: pd.DataFrame) -> dict[str, ChartJob]:
    """The charts of the final figures alone (no history needed): drawn while the history is analysed."""
    if int(final.loc[final["endpoint"] == AGGREGATED, "requests"].sum()) == 0:
        return {}
    return {
        "latency_distribution": ("distribution_chart", (transforms.latency_distribution(final),)),
        "endpoints": ("endpoint_summary_chart", (final,)),
    }


def build_charts(results: Results, max_points: int = MAX_POINTS) -> dict[str, Figure]:
    """name -> Figure for every chart the data supports, series downsampled to ``max_points``."""
    from analysis import charts

    return {name: getattr(charts, f)(*args) for name, (f, args) in chart_jobs(results, max_points).items()}


def _clean(value: Any) -> Any:
    """JSON-safe: NaN -> null, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _span(results: Results) -> tuple[float | None, float | None]:
    if results.seconds is not None and len(results.seconds):
        return float(results.seconds["timestamp"].min()), float(results.seconds["timestamp"].max())
    totals = results.run.json_totals
    if totals is not None and len(totals):
        return float(totals["start"].min()), float(totals["last"].max())
    return None, None


def summary(results: Results, chart_names: list[str] | None = None) -> dict[str, Any]:
    """The headline figures as a JSON-ready dict (also the source of the Markdown summary)."""
    start, end = _span(results)
    kinds = results.failures.groupby("kind", observed=False)["occurrences"].sum()
    return _clean(
        {
            "verdict": "pass" if results.passed else "fail",
            "run": {
                "prefix": str(results.run.files.prefix),
                "start": _iso(start),
                "end": _iso(end),
                "duration_s": None if start is None or end is None else end - start,
                "full_history": results.run.full_history,
            },
            "final_source": results.final_source,
            "totals": {k: results.totals[k] for k in _HEADLINE},
            "endpoints": results.final[results.final["endpoint"] != AGGREGATED].to_dict("records"),
            "errors_by_kind": {str(k): int(v) for k, v in kinds.items()},
            "exceptions": int(results.run.exceptions["count"].sum()),
            "knee": results.knee.to_dict() if results.knee is not None else None,
            "aborted": _aborted_dict(results.aborted),
            "slo": [
                {
                    "endpoint": v.threshold.endpoint,
                    "rule": v.threshold.text,
                    "live": v.threshold.live,
                    "actual": v.actual,
                    "passed": v.passed,
                    "detail": v.detail,
                    "parts": [
                        {"endpoint": p.endpoint, "actual": p.actual, "passed": p.passed, "detail": p.detail}
                        for p in v.parts
                    ],
                }
                for v in results.verdicts
            ],
            "comparison": _comparison_dict(results),
            "delivery": results.delivery,
            "charts": [f"charts/{name}.png" for name in chart_names or []],
            "notes": results.notes,
        }
    )


def _aborted_dict(aborted: dict[str, Any] | None) -> dict[str, Any] | None:
    if aborted is None:
        return None
    at = aborted.get("at")
    return {**aborted, "at": _iso(float(at)) if isinstance(at, int | float) else at}


def aborted_line(data: dict[str, Any]) -> str | None:
    """``aborted by rule X at t`` for an aborted run's report, else None."""
    aborted = data.get("aborted")
    if not aborted:
        return None
    return (
        f"Aborted by rule '{aborted['rule']}' ({aborted['endpoint']}) at {aborted['at']}, "
        f"{aborted['at_s']:.0f} s into the run (value {aborted['value']})"
    )


def _comparison_dict(results: Results) -> dict[str, Any] | None:
    if results.comparison is None:
        return None
    return {
        "baseline": str(results.baseline_path),
        "tolerance_pct": results.tolerance_pct,
        "regressions": results.regressions.to_dict("records"),
        "rows": results.comparison.to_dict("records"),
    }


def _ms(v: Any) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.0f} ms"


def _pct(v: Any) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v * 100:.2f}%"


def _num(v: Any) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.1f}"


def _row(e: dict[str, Any]) -> list[str]:
    return [
        f"{e['requests']:,}",
        f"{e['failures']:,}",
        _pct(e["error_rate"]),
        _num(e["rps"]),
        _ms(e["p50"]),
        _ms(e["p95"]),
        _ms(e["p99"]),
        _ms(e["max_ms"]),
    ]


_TABLE_HEAD = ["endpoint", "requests", "failures", "error rate", "req/s", "p50", "p95", "p99", "max"]


def _tables(data: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for each table, shared by the Markdown and HTML renderers."""
    totals = [["all", *_row(data["totals"])]]
    endpoints = [[str(e["endpoint"]), *_row(e)] for e in data["endpoints"]]
    out = [("Totals", _TABLE_HEAD, totals), ("Per endpoint", _TABLE_HEAD, endpoints)]
    delivery = data.get("delivery")
    if delivery:
        e2e = delivery["e2e_ms"]
        head = ["acknowledged", "delivered", "lost", "duplicates", "delivered, not acknowledged",
                "e2e p50", "e2e p95", "e2e p99", "e2e max"]  # fmt: skip
        counts = [f"{delivery[k]:,}" for k in ("acknowledged", "delivered", "lost", "duplicates",
                                               "unacknowledged_delivered")]  # fmt: skip
        out.append(("Delivery", head, [[*counts, *(_ms(e2e[k]) for k in ("p50", "p95", "p99", "max"))]]))
    kinds = [[k, f"{v:,}"] for k, v in data["errors_by_kind"].items() if v]
    if kinds:
        out.append(("Failures by kind", ["kind", "occurrences"], kinds))
    if data["slo"]:
        rows = [
            [
                "PASS" if s["passed"] else "FAIL",
                s["endpoint"],
                s["rule"],
                _fmt_actual(s),
                s.get("detail") or "",
            ]
            for s in data["slo"]
        ]
        out.append(("SLO", ["verdict", "endpoint", "rule", "actual", "detail"], rows))
    comparison = data["comparison"]
    if comparison:
        rows = [
            _comparison_row(r)
            for r in comparison["rows"]
            if r["current"] is not None or r["baseline"] is not None
        ]
        title = f"Compared with {comparison['baseline']} (tolerance {comparison['tolerance_pct']:g}%)"
        out.append((title, ["endpoint", "metric", "baseline", "current", "change", ""], rows))
    return out


def _fmt_actual(s: dict[str, Any]) -> str:
    actual = s["actual"]
    if actual is None:
        return "no data"
    metric = re.match(r"\s*([a-z0-9_.]*)", s["rule"], re.I)
    name = metric.group(1).lower() if metric else ""
    if name == "error_rate":
        return _pct(actual)
    if name.startswith("e2e_"):
        return _ms(actual)
    if name in ("lost", "duplicates", "delivered", "acknowledged", "unacknowledged_delivered"):
        return f"{actual:,.0f}"
    return _ms(actual) if re.fullmatch(r"p[0-9.]+|avg|median|min|max", name) else _num(actual)


def _comparison_row(r: dict[str, Any]) -> list[str]:
    fmt: Callable[[Any], str] = _pct if r["metric"] == "error_rate" else _num if r["metric"] == "rps" else _ms
    change = "–" if r["delta_pct"] is None else f"{r['delta_pct']:+.1f}%"
    return [
        str(r["endpoint"]),
        r["metric"],
        fmt(r["baseline"]),
        fmt(r["current"]),
        change,
        "REGRESSION" if r["regression"] else "",
    ]


def _knee_line(data: dict[str, Any]) -> str | None:
    knee = data["knee"]
    if knee is None:
        return None
    th = knee["thresholds"]
    if knee["crossed_by"] is None:
        return (
            f"No knee: p95 stayed under {th['p95_ms']:g} ms and errors under {th['error_rate'] * 100:g}%; "
            f"peak {knee['rps']:.1f} req/s at {knee['users']} users."
        )
    what = (
        f"p95 > {th['p95_ms']:g} ms"
        if knee["crossed_by"] == "p95"
        else f"error rate > {th['error_rate'] * 100:g}%"
    )
    return (
        f"Knee: {knee['rps']:.1f} req/s at {knee['users']} users ({_iso(knee['timestamp'])}), "
        f"before {what} at {_iso(knee['crossed_at'])}."
    )


def _headline(data: dict[str, Any]) -> str:
    source = {
        "locust.json": "`locust.json` (exact totals at exit)",
        "_stats.csv": "`_stats.csv` (may trail ~4%)",
    }
    return f"**Verdict: {data['verdict'].upper()}** · final figures from {source[data['final_source']]}"


def render_markdown(data: dict[str, Any]) -> str:
    """A CI-job-summary sized Markdown report."""
    lines = [
        f"# Load test report: {Path(data['run']['prefix']).parent.name or data['run']['prefix']}",
        "",
        _headline(data),
        "",
    ]
    if data["run"]["start"]:
        lines += [
            f"Run: {data['run']['start']} → {data['run']['end']} ({data['run']['duration_s']:,.0f} s)",
            "",
        ]
    aborted = aborted_line(data)
    if aborted:
        lines += [f"**{aborted}**", ""]
    knee = _knee_line(data)
    if knee:
        lines += [knee, ""]
    for title, head, rows in _tables(data):
        lines += [f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        lines.append("")
    if data["notes"]:
        lines += ["## Notes", "", *[f"- {n}" for n in data["notes"]], ""]
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:100%;display:block;margin:1em 0}
.pass{color:#2ca02c}.fail{color:#d62728}"""


def render_html(data: dict[str, Any], images: dict[str, bytes]) -> str:
    """One self-contained page: tables plus every chart embedded as a base64 PNG."""
    esc = html.escape
    verdict = data["verdict"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Load test report</title><style>{_CSS}</style></head><body>",
        f"<h1>Load test report: {esc(data['run']['prefix'])}</h1>",
        f"<p class='{verdict}'><b>Verdict: {verdict.upper()}</b> · final figures from {esc(data['final_source'])}</p>",
    ]
    aborted = aborted_line(data)
    if aborted:
        parts.append(f"<p class='fail'><b>{esc(aborted)}</b></p>")
    knee = _knee_line(data)
    if knee:
        parts.append(f"<p>{esc(knee)}</p>")
    for title, head, rows in _tables(data):
        parts.append(f"<h2>{esc(title)}</h2><table><tr>{''.join(f'<th>{esc(h)}</th>' for h in head)}</tr>")
        parts += [f"<tr>{''.join(f'<td>{esc(c)}</td>' for c in row)}</tr>" for row in rows]
        parts.append("</table>")
    for name, png in images.items():
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(
            f"<h2>{esc(name.replace('_', ' '))}</h2><img alt='{esc(name)}' src='data:image/png;base64,{encoded}'>"
        )
    if data["notes"]:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in data["notes"]) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    results: Results,
    out: Path,
    max_points: int = MAX_POINTS,
    pool: Executor | None = None,
    charts: Charts | None = None,
) -> dict[str, Any]:
    """Write every output into ``out``; returns the summary dict. ``pool`` draws the charts
    (see :func:`analysis.drawing.chart_workers`); without one they are drawn here. ``charts``:
    charts already started (e.g. :func:`final_chart_jobs`' while the history was analysed)."""
    chart_dir = out / "charts"
    chart_dir.mkdir(parents=True, exist_ok=True)
    charts = Charts(pool) if charts is None else charts
    names = []
    for name, job in iter_chart_jobs(results, max_points):
        charts.add(name, job)  # a chart started earlier keeps its job
        names.append(name)
    images = charts.collect(names)
    for name, png in images.items():
        (chart_dir / f"{name}.png").write_bytes(png)
    data = summary(results, list(images))
    if results.delivery_seconds is not None:
        results.delivery_seconds.to_csv(out / "delivery_per_second.csv", index=False)
    (out / "summary.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    (out / "summary.md").write_text(render_markdown(data))
    (out / "report.html").write_text(render_html(data, images))
    return data
