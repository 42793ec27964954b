"""``python -m analysis.report``: charts, an SLO verdict and a baseline comparison for one run.

Exit codes: 0 all good, 1 an SLO breach or a regression, 2 unusable input (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis.errors import InputError
from analysis.junit import write_junit
from analysis.knee import KneeThresholds
from analysis.render import write_report
from analysis.results import Results, analyse
from analysis.run import load_run
from analysis.slo import load_slo_file

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analysis.report", description=__doc__.splitlines()[0])
    p.add_argument(
        "run", metavar="RUN_DIR_OR_CSV_PREFIX", help="run directory or the prefix given to locust --csv"
    )
    p.add_argument(
        "--out",
        type=Path,
        help="where to write report.html, summary.md/json, charts/ (default: next to the CSVs)",
    )
    p.add_argument("--slo", type=Path, help="YAML/JSON thresholds, e.g. ['p95 < 500ms', 'error_rate < 1%%']")
    p.add_argument(
        "--junit",
        type=Path,
        metavar="FILE",
        help="also write the SLO verdicts as JUnit XML (one testcase per rule and endpoint)",
    )
    p.add_argument("--baseline", metavar="OTHER_RUN", help="run directory or prefix to compare with")
    p.add_argument(
        "--tolerance",
        type=_non_negative,
        default=10.0,
        metavar="PCT",
        help="allowed worsening vs baseline, %% (default 10)",
    )
    p.add_argument(
        "--knee-p95-ms",
        type=_positive,
        default=KneeThresholds.p95_ms,
        metavar="N",
        help="knee: p95 threshold in ms (default 500)",
    )
    p.add_argument(
        "--knee-error-rate",
        type=_positive,
        default=KneeThresholds.error_rate,
        metavar="R",
        help="knee: error-rate threshold as a fraction (default 0.01)",
    )
    return p


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def run_report(args: argparse.Namespace) -> Results:
    """Load, analyse and write; raises InputError for unusable input."""
    run = load_run(args.run)
    thresholds = load_slo_file(args.slo) if args.slo else None
    baseline = load_run(args.baseline) if args.baseline else None
    knee = KneeThresholds(p95_ms=args.knee_p95_ms, error_rate=args.knee_error_rate)
    results = analyse(run, thresholds, baseline, args.tolerance, knee)
    out = args.out or run.files.prefix.parent
    try:
        data = write_report(results, out)
    except OSError as exc:
        raise InputError(out, f"cannot write the report ({exc.strerror}); pass a writable --out") from None
    if args.junit is not None:
        try:
            write_junit(args.junit, data, results.verdicts)
        except OSError as exc:
            raise InputError(
                args.junit, f"cannot write JUnit XML ({exc.strerror}); pass a writable path"
            ) from None
    _print_outcome(results, out)
    return results


def _print_outcome(results: Results, out: Path) -> None:
    aborted = results.aborted
    if aborted is not None:
        print(
            f"ABORTED  by rule '{aborted['rule']}' ({aborted['endpoint']}) {aborted['at_s']:.0f} s into the run"
        )
    for verdict in results.verdicts:
        print(verdict.line())
    for row in results.regressions.to_dict("records"):
        print(
            f"REGRESSION  {row['endpoint']}: {row['metric']} {row['baseline']:.4g} -> {row['current']:.4g} ({row['delta_pct']:+.1f}%)"
        )
    print(f"report: {out / 'report.html'} (final figures from {results.final_source})")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        results = run_report(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0 if results.passed else 1


if __name__ == "__main__":
    sys.exit(main())
