"""``python -m analysis.report``: charts, an SLO verdict and a baseline comparison for one run.

Exit codes: 0 all good, 1 an SLO breach or a regression, 2 unusable input (one line on stderr).
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from analysis.drawing import Charts, chart_workers, worth_workers
from analysis.errors import InputError
from analysis.files import resolve_run
from analysis.junit import write_junit
from analysis.options import OPTIONS
from analysis.slo import load_slo_file
from plumbing.errors import SuiteError
from plumbing.options import Parser

if TYPE_CHECKING:
    from analysis.results import Results

__all__ = ["main"]


def _parser() -> Parser:
    p = Parser(prog="python -m analysis.report", description=__doc__.splitlines()[0])
    p.add_argument(
        "run", metavar="RUN_DIR_OR_CSV_PREFIX", help="run directory or the prefix given to locust --csv"
    )
    OPTIONS.add_to(p, group=False)
    return p


def run_report(args: argparse.Namespace) -> Results:
    """Load, analyse and write; raises InputError for unusable input."""
    thresholds = load_slo_file(args.slo) if args.slo else None
    # Chart workers start first, before this process imports pandas: the fork server's imports
    # (pandas, matplotlib) then run beside this one's instead of beside the reading (long runs only).
    history = resolve_run(args.run).history
    with chart_workers(worth_workers(history.stat().st_size if history else 0)) as pool:
        # The modules that import pandas, only now.
        from analysis.knee import KneeThresholds
        from analysis.render import final_chart_jobs, write_report
        from analysis.results import analyse, final_table, run_delivery
        from analysis.run import load_run
        from analysis.transforms import PER_SECOND_INPUTS

        # Only the history columns the report uses are parsed, and none of a baseline's (it is
        # compared on its final figures).
        run = load_run(args.run, history_columns=PER_SECOND_INPUTS)
        charts = Charts(pool)
        for name, job in final_chart_jobs(final_table(run)).items():
            charts.add(name, job)  # needs no history: the workers draw it while the history is analysed
        baseline = load_run(args.baseline, history_columns=()) if args.baseline else None
        knee = KneeThresholds(p95_ms=args.knee_p95_ms, error_rate=args.knee_error_rate)
        results = analyse(run, thresholds, baseline, args.tolerance, knee, run_delivery(run))
        out = args.out or run.files.prefix.parent
        try:
            data = write_report(results, out, charts=charts)
        except OSError as exc:
            raise InputError(
                out, f"cannot write the report ({exc.strerror}); pass a writable --out"
            ) from None
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
    parser = _parser()
    args = parser.parse_checked(argv)
    try:
        vars(args).update(OPTIONS.values(args))
        results = run_report(args)
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0 if results.passed else 1


def _exit_now(code: int) -> NoReturn:
    """Exit without the interpreter's teardown, which frees every module and frame object by
    object (about 0.5 s of CPU after a long run's report, more than some of its steps). Exit
    handlers still run (multiprocessing's cleanup among them) and output is flushed first."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
