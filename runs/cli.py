"""``python -m runs PROFILE``: sandbox + Locust master and workers + report, in one command.

Starts every process itself (sandbox on a free port, ``runs.cluster`` for Locust), writes all run
files to ``reports/<timestamp>-<profile>/``, runs ``python -m analysis.report`` with the profile's
SLO file, prints a short summary, and stops everything it started, also on Ctrl-C, SIGTERM or error.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path, PurePath
from types import FrameType
from typing import Any

from plumbing.errors import RunsError, SuiteError
from plumbing.options import Parser, report
from runs.cluster import ClusterError, LocalCluster, start_local_cluster
from runs.options import OPTIONS, new_run_dir
from runs.outcome import open_report, verdict_line
from runs.processes import ManagedProcess, ServiceStartError, start_service
from runs.profiles import PROFILES, Profile, profile, slo_path
from runs.progress import STATUS_FILE, RunProgress, status_args

__all__ = ["arrivals_args", "breach_reason", "locust_output_args", "main", "summarise"]

REPO = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO / "locustfiles" / "locustfile.py"
_MARGIN_SECONDS = 90.0


class UsageError(RunsError, ValueError):
    """A bad argument; the message is the one line printed before exiting with code 2."""


def _parser() -> Parser:
    p = Parser(
        prog="python -m runs",
        description="Run a standard load profile against a fresh sandbox with a local Locust cluster. "
        "Options after -- go to Locust, e.g. `python -m runs baseline -- --seed 7 --target-rate 40`.",
        epilog="profiles: "
        + "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values())
        + ". Also: `python -m runs pipeline` (the queue architecture, proven end to end), "
        "`python -m runs direct` (the same traffic straight to the sandbox), `python -m runs scale "
        "--events-per-day 50M` (plan, run, compare); see their --help.",
    )
    p.add_argument("profile", choices=list(PROFILES), help="which run")
    OPTIONS.add_to(p, group=False)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in ("pipeline", "direct"):
        from runs.pipeline import main as pipeline_main

        return pipeline_main(argv[0], argv[1:])
    if argv[:1] == ["scale"]:
        from runs.scale import main as scale_main

        return scale_main(argv[1:])
    # Everything after "--" is Locust's (argparse would try to read those options itself).
    split = argv.index("--") if "--" in argv else len(argv)
    args, locust_extra = _parser().parse_checked(argv[:split]), argv[split + 1 :]
    try:
        vars(args).update(OPTIONS.values(args))
        chosen = profile(args.profile)
        extra, duration = _duration_args(chosen, args.duration)
        args.slo = _checked_slo(args.slo or slo_path(chosen.name))
        run_dir = new_run_dir(args.reports_dir, chosen.name)
    except KeyError as exc:
        print(f"runs: {str(exc).strip(chr(39))}", file=sys.stderr)
        return 2
    except SuiteError as exc:
        return report("runs", exc)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return _run(chosen, args, run_dir, [*extra, *locust_extra], duration)
    except KeyboardInterrupt:
        print(
            f"runs: interrupted; everything started was stopped; partial files in {run_dir}", file=sys.stderr
        )
        return 130
    except UsageError as exc:
        print(f"runs: {exc}", file=sys.stderr)
        return 2
    except (ServiceStartError, ClusterError) as exc:
        print(f"runs: {str(exc).splitlines()[0]} (logs in {run_dir})", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def _checked_slo(path: Path) -> Path:
    """The SLO file, read once here so a bad rule is one line before anything starts."""
    from analysis.errors import InputError
    from analysis.slo import load_slo_file

    try:
        load_slo_file(path)
    except InputError as exc:
        raise UsageError(f"--slo: {exc}") from None
    return path.resolve()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _duration_args(chosen: Profile, duration: str | None) -> tuple[list[str], float]:
    if duration is None:
        return [], chosen.duration
    if "--stages" in chosen.locust_args:
        raise UsageError(f"--duration does not apply to {chosen.name} (stages); pass -- --stages ... instead")
    match = _TIMESPAN.fullmatch(duration.strip())
    if not duration.strip() or match is None:
        raise UsageError(f"--duration {duration!r} is not a duration; write e.g. 90, 30s, 5m or 1h")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ["--shape-duration", duration], float(hours * 3600 + minutes * 60 + seconds)


# Locust's timespan syntax (90, 30s, 5m, 1h30m); parsed here so `python -m runs` does not import
# Locust (and gevent's monkey-patching) just to read its arguments.
_TIMESPAN = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?")


def arrivals_args(run_dir: PurePath) -> list[str]:
    """Sandbox options for delivery accounting: arrivals into ``RUN_DIR/arrivals`` (read by analysis)."""
    return ["--arrivals-dir", str(run_dir / "arrivals")]


def locust_output_args(run_dir: PurePath) -> list[str]:
    """The shared run-directory layout: CSV with full history, HTML report, JSON totals."""
    prefix = str(run_dir / "locust")
    return [
        *("--csv", prefix, "--csv-full-history"),
        *("--html", str(run_dir / "locust_report.html"), "--json-file", prefix),
        # Let users finish the request in flight, so Locust and the target count the same requests.
        *("--stop-timeout", "5"),
    ]


def _run(chosen: Profile, args: argparse.Namespace, run_dir: Path, extra: list[str], duration: float) -> int:
    started: list[ManagedProcess | LocalCluster] = []
    try:
        host = args.host
        sandbox = None
        if host is None:
            sandbox = start_service(
                "sandbox",
                ["sandbox", "--port", "0", *arrivals_args(run_dir), *chosen.sandbox_args],
                log_dir=run_dir,
            )
            started.append(sandbox)
            host = sandbox.url
        print(f"runs: {chosen.name}: {chosen.description}", flush=True)
        print(f"runs: target {host}; Locust master + {args.workers} workers; files in {run_dir}", flush=True)
        locust_args = [
            *locust_output_args(run_dir), *status_args(run_dir), "--slo", str(args.slo), *chosen.locust_args,
            *extra,
        ]  # fmt: skip
        cluster = start_local_cluster(
            locustfile=LOCUSTFILE,
            host=host,
            workers=args.workers,
            run_dir=run_dir,
            locust_args=locust_args,
            web_ui=args.web,
        )
        started.append(cluster)
        if cluster.web_url is not None:
            _wait_for_web_ui(cluster, cluster.web_url)
            print(f"runs: web UI: {cluster.web_url} (press Start; the report is written when the run stops)")
        progress = RunProgress(run_dir / STATUS_FILE, planned_s=duration, label=chosen.name, quiet=args.quiet)
        with progress:
            code = _wait_for_master(cluster, progress, duration + _MARGIN_SECONDS, web=args.web)
        _check_master(cluster, code)
        cluster.wait(timeout=30)  # workers quit with their master; this reaps them
        sandbox_totals = _sandbox_totals(sandbox)
        if sandbox is not None:
            sandbox.stop()  # it writes its last arrivals as it stops: the reconciliation needs them
        if sandbox_totals is not None:
            (run_dir / "sandbox_stats.json").write_text(json.dumps(sandbox_totals, indent=2))
        _check_counted(run_dir, sandbox_totals, code)
        return _finish(chosen, run_dir, summarise(run_dir, sandbox_totals), args)
    finally:
        for process in reversed(started):
            process.stop()


def _wait_for_master(cluster: LocalCluster, progress: RunProgress, timeout: float, *, web: bool) -> int:
    # Not cluster.wait(): after a master that refused its options, workers would get a 10 s grace.
    popen = cluster.master.popen
    try:
        if not web:
            return progress.wait(popen, timeout)
        # The web UI keeps the master up after a run; the run is over when the master says it stopped.
        # Its SIGTERM handler is Locust's normal shutdown: it writes the JSON and HTML files, then exits.
        if progress.wait_for_run_end(popen, timeout_after_start=timeout):
            cluster.master.stop(timeout=30)
        return popen.wait(30)
    except subprocess.TimeoutExpired:
        raise ClusterError(f"Locust master still running after {timeout:.0f} s; stopped it") from None


def _wait_for_web_ui(cluster: LocalCluster, url: str, timeout: float = 60.0) -> None:
    # Print the URL only once it answers, so the first click on it works.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and cluster.master.alive():
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.2)
    if cluster.master.alive():
        raise ClusterError(f"Locust's web UI did not answer at {url} within {timeout:.0f} s")


def _check_master(cluster: LocalCluster, code: int) -> None:
    if code == 2:
        # Locust refused its options (ours print one "locust: ..." line); that is a usage error.
        lines = [line for line in cluster.master_log().splitlines() if line.strip()]
        raise UsageError(
            next((ln for ln in reversed(lines) if "error" in ln or ln.startswith("locust:")), lines[-1])
        )
    if not (cluster.run_dir / "locust_stats.csv").exists():
        tail = [line for line in cluster.master_log().splitlines() if line.strip()][-1:] or ["no output"]
        raise ClusterError(f"Locust master wrote no statistics: {tail[0]}")


def _check_counted(run_dir: Path, sandbox_totals: dict[str, Any] | None, master_code: int) -> None:
    """A run whose master counted no request fails, whatever its SLO rules say about 0 of 0.

    The master then exits 1 itself (``locustfiles.empty_run``); the sandbox's count says how much
    traffic went unmeasured.
    """
    from analysis import locust_csv

    stats = locust_csv.read_stats(run_dir / "locust_stats.csv")
    aggregated = stats[stats["endpoint"] == locust_csv.AGGREGATED]
    counted = int(aggregated["requests"].iloc[-1]) if len(aggregated) else 0
    received = int((sandbox_totals or {}).get("requests") or 0)
    if counted == 0 and (received or master_code != 0):
        raise ClusterError(
            f"Locust counted no requests, though the sandbox received {received}: the workers' reports "
            f"never reached the master (master exit code {master_code}); see the worker logs in {run_dir}"
        )


def _sandbox_totals(sandbox: ManagedProcess | None) -> dict[str, Any] | None:
    if sandbox is None:
        return None
    admin = sandbox.info.get("admin") or f"{sandbox.url}/__sandbox"
    with urllib.request.urlopen(f"{admin}/stats", timeout=10) as response:  # noqa: S310 - loopback
        return dict(json.loads(response.read())["totals"])


def summarise(run_dir: Path, sandbox_totals: dict[str, Any] | None = None) -> str:
    """A few lines: requests, failures by kind, rate, p95, and what the sandbox counted.

    The run's files are read by ``analysis`` and failures sorted by its one classifier.
    """
    from analysis import locust_csv
    from analysis.transforms import ERROR_KINDS, error_kinds

    stats = locust_csv.read_stats(run_dir / "locust_stats.csv")
    row = stats[stats["endpoint"] == locust_csv.AGGREGATED].iloc[-1]
    lines = [
        f"requests {row['requests']}, failures {row['failures']}, {row['rps']:.1f} req/s, "
        f"median {row['p50']:.0f} ms, p95 {row['p95']:.0f} ms, max {row['max_ms']:.0f} ms"
    ]
    failures_csv = run_dir / "locust_failures.csv"
    if failures_csv.exists():
        kinds = error_kinds(locust_csv.read_failures(failures_csv))
        counts = kinds.groupby("kind", observed=True)["occurrences"].sum()
        found = [f"{kind} x{counts[kind]}" for kind in ERROR_KINDS if counts.get(kind, 0)]
        if found:
            lines.append("failures: " + ", ".join(found))
    if sandbox_totals:
        lines.append(
            f"sandbox: accepted {sandbox_totals.get('accepted')}, rate limited "
            f"{sandbox_totals.get('rate_limited')}, operations accepted {sandbox_totals.get('operations_accepted')}"
        )
    probe = run_dir / "locust_probe.json"
    if probe.exists():
        report = json.loads(probe.read_text())
        lines.append(
            f"probe: highest rate that held {report['highest_rate_held']} req/s ({report['stopped']})"
        )
    return "\n".join(f"runs: {line}" for line in lines)


def _finish(chosen: Profile, run_dir: Path, summary: str, args: argparse.Namespace) -> int:
    """The end of a run: the verdict first, in one line; then the figures; then the report's link."""
    report, code, details = run_dir / "locust_report.html", None, []
    junit: Path = args.junit or run_dir / "junit.xml"
    if not args.no_analysis and importlib.util.find_spec("analysis.report") is not None:
        command = [
            *(sys.executable, "-m", "analysis.report", str(run_dir)),
            *("--slo", str(args.slo), "--junit", str(junit), *chosen.report_args),
        ]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
        details = (result.stdout + result.stderr).strip().splitlines()
        code = result.returncode
        if (run_dir / "report.html").exists():
            report = run_dir / "report.html"
    print(verdict_line(chosen.name, code, run_dir / "summary.json", args.slo, breach_reason(details)))
    print(summary)
    # The abort line comes first; keep it whatever the number of verdicts after it.
    shown = [line for line in details[:-12] if line.startswith("ABORTED")] + details[-12:]
    for line in shown:
        print(f"  {line}")
    print(f"runs: report: {report.resolve().as_uri()}")
    if junit.exists():
        print(f"runs: JUnit: {junit}")
    if args.open:
        print(f"runs: {open_report(report)}")
    return 0 if code is None else code


def breach_reason(report_lines: Sequence[str]) -> str:
    """The failed rules of ``python -m analysis.report``'s output, as one line (its ``FAIL`` lines)."""
    failed = [line.strip()[4:].strip() for line in report_lines if line.strip().startswith("FAIL")]
    if not failed:
        return "the report's verdict was fail"
    shown = "; ".join(failed[:4])
    return shown + (f"; and {len(failed) - 4} more" if len(failed) > 4 else "")
