"""Every option of ``python -m runs``, declared once (see ``plumbing.options``)."""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import replace
from pathlib import Path

from cio_contract import DEFAULT_RATE_LIMITS, parse_track_rate_limit
from plumbing.budget import rate_limit_option
from plumbing.errors import OptionError
from plumbing.options import Option, Options, check_host_ports, declarer

__all__ = ["OPTIONS", "PIPELINE", "new_run_dir", "seconds"]

_o = declarer("RUNS_", ("runs",))

OPTIONS = Options(
    "runs",
    (
        _o("--workers", 2, "Locust worker processes", type=int, low=1),
        _o("--duration", None, "override the shape's length, e.g. 2m (not for demo's stages)"),
        _o(
            "--reports-dir",
            None,
            "parent of the run directories: each run makes TIMESTAMP-NAME/ in it (default: reports/ "
            "in the repository)",
            type=Path,
            metavar="DIR",
            # --out is the analysis CLIs' "write the outputs into DIR": here it meant the parent.
            was="--out",
            was_env="RUNS_OUT",
        ),  # fmt: skip
        _o(
            "--host",
            None,
            "load this target instead of starting a sandbox (e.g. the pipeline ingest)",
            schemes=("http", "https"),
            metavar="URL",
        ),  # fmt: skip
        _o("--no-analysis", False, "skip python -m analysis.report", kind="flag"),
        # Passed on to python -m analysis.report (declared here too: runs does not import the analysis).
        _o(
            "--slo",
            None,
            "SLO rules (live and end-of-run) instead of the profile's profiles/<name>.slo.yaml",
            type=Path,
            metavar="FILE",
        ),  # fmt: skip
        _o(
            "--junit",
            None,
            "JUnit XML of the SLO verdicts (default: junit.xml in the run directory)",
            type=Path,
            metavar="FILE",
        ),  # fmt: skip
        _o(
            "--web",
            False,
            "the same run with Locust's web UI on 127.0.0.1 (URL printed): it starts when you press Start, "
            "and the report is written when it stops",
            kind="flag",
        ),  # fmt: skip
        _o("--quiet", False, "no live progress line", kind="flag"),
        _o(
            "--open",
            False,
            "open the report in the desktop browser at the end, where there is one",
            kind="flag",
        ),
    ),
)


def new_run_dir(reports_dir: Path | None, name: str) -> Path:
    """Make ``TIMESTAMP-NAME/`` in ``--reports-dir`` (reports/ in the repository when not given).

    Raises OptionError (one line, exit 2) when it cannot be made there, e.g. the path is a file.
    """
    reports = Path(__file__).resolve().parent.parent / "reports" if reports_dir is None else reports_dir
    run_dir = reports / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = (
            "is a file; give a directory (run directories are made inside it)"
            if reports.is_file()
            else f"cannot make {run_dir.name} there ({exc.strerror}); give a writable directory"
        )
        raise OptionError(f"--reports-dir {reports}: {problem}") from None
    return run_dir


def seconds(text: str) -> float:
    """``60``, ``60s``, ``2m``, ``1h30m`` -> seconds."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?", text.strip())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; write e.g. 60s, 2m or 90")
    hours, minutes, secs = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0)


_QUEUE_RUNS = ("runs pipeline", "runs direct")
_p = declarer("RUNS_", _QUEUE_RUNS)
_q = declarer("RUNS_", ("runs pipeline",))
_s = declarer("RUNS_", ("runs scale",))


def _shared(dest: str, *others: str) -> Option:
    """An option ``python -m runs PROFILE`` declares, with the same meaning for the queue runs (and
    ``others``)."""
    return replace(OPTIONS[dest], processes=(*OPTIONS[dest].processes, *_QUEUE_RUNS, *others))


PIPELINE = Options(
    "runs pipeline / direct / scale",
    (
        _p(
            "--duration",
            60.0,
            "how long the load runs, e.g. 60s or 2m",
            type=seconds,
            low=0,
            low_open=True,
            processes=(*_QUEUE_RUNS, "runs scale"),
        ),  # fmt: skip
        _p("--rate", 1000.0, "identify/track calls per second (ten times the limit)", type=float, low=1),
        _shared("workers"),
        replace(
            rate_limit_option(
                parse_track_rate_limit,
                DEFAULT_RATE_LIMITS["track"],
                "RUNS_RATE_LIMIT",
                _QUEUE_RUNS,
            ),
            help="the sandbox's Track limit (reject mode), which the senders budget for too: REQUESTS per "
            "second, or REQUESTS/SECONDS, as the sandbox's --rate-limit track=...",
            was="--limit",
        ),  # fmt: skip
        _shared("reports_dir", "runs scale"),
        _shared("no_analysis"),
        replace(
            _p(
                "--rate-mode",
                "reject",
                "direct: what the sandbox does past the limit (drop answers 200 and keeps nothing: the "
                "silent loss delivery accounting exposes)",
                choices=("reject", "drop", "throttle"),
            ),
            processes=("runs direct",),
        ),
        _q("--senders", 2, "sender processes", type=int, low=1),
        _q("--partitions", 6, "topic partitions", type=int, low=1),
        _q(
            "--drain-timeout",
            60.0,
            "longest wait for the queue to drain after the load, e.g. 60s",
            type=seconds,
            low=0,
            processes=("runs pipeline", "runs scale"),
        ),  # fmt: skip
        _q(
            "--bootstrap-servers",
            None,
            "use this Kafka instead of starting Tansu",
            check=check_host_ports,
            metavar="HOST:PORT[,...]",
        ),  # fmt: skip
        _q(
            "--redis-url",
            None,
            "use this Redis instead of starting redis-server, redis://HOST:PORT/0",
            schemes=("redis", "rediss", "unix"),
            metavar="URL",
        ),  # fmt: skip
        _q(
            "--compare-direct",
            False,
            "first send the same traffic straight to the sandbox, then write comparison.md",
            kind="flag",
        ),  # fmt: skip
        _s(
            "--machine-rate",
            300.0,
            "most calls/s this machine drives through the whole stack: the planned rate is scaled down to it "
            "and the report says by how much",
            type=float,
            low=0,
            low_open=True,
        ),  # fmt: skip
        _s(
            "--run-on",
            "local",
            "where the planned stack runs: local, every process on loopback; compose, docker-compose.yml's "
            "pipeline profile as a compose project of its own, taken down after the run",
            choices=("local", "compose"),
            # --target is the sender's Track API URL (pipeline sender); here it meant where to run.
            was="--target",
        ),  # fmt: skip
        _s(
            "--compose-file",
            [],
            "--run-on compose: a compose file over docker-compose.yml, e.g. deploy/docker/compose.offline.yml "
            "where Apache Kafka cannot be pulled; repeatable",
            type=Path,
            kind="list",
            metavar="FILE",
        ),  # fmt: skip
    ),
)
"""``python -m runs pipeline|direct|scale`` (each takes the options marked for it)."""
