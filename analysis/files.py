"""Find a run's files from a directory, a ``--csv`` prefix or a ``*_stats.csv`` file.

Kept apart from :mod:`analysis.run` (which loads them with pandas) so that finding them imports
nothing heavy: the report decides how to draw its charts from the history's size before pandas
is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis.errors import InputError

__all__ = ["LIVE_RECORD", "RunFiles", "resolve_run"]

LIVE_RECORD = "slo_live.json"
"""Where the live SLO gate writes its record, beside the run's CSVs."""


@dataclass(frozen=True)
class RunFiles:
    """Where each of a run's files is; optional ones are None when absent."""

    prefix: Path
    stats: Path
    history: Path | None
    failures: Path | None
    exceptions: Path | None
    json: Path | None
    system: Path | None
    live: Path | None = None
    """``slo_live.json``: the live SLO gate's record (``locustfiles.gate``)."""
    acks: Path | None = None
    """Delivery accounting: the ids the target acknowledged (``PREFIX_acks.txt``)."""
    arrivals: Path | None = None
    """Delivery accounting: the sandbox's arrivals directory (``arrivals/`` beside the CSVs)."""


def resolve_run(path: str | Path) -> RunFiles:
    """Accept a run directory, a ``--csv`` prefix, or a ``*_stats.csv`` file."""
    path = Path(path)
    if path.is_dir():
        prefix = _prefix_in_dir(path)
    elif path.name.endswith("_stats.csv"):
        prefix = path.with_name(path.name.removesuffix("_stats.csv"))
    else:
        prefix = path
    stats = prefix.with_name(prefix.name + "_stats.csv")
    if not stats.is_file():
        raise InputError(
            path,
            "no Locust CSVs here (expected PREFIX_stats.csv); pass a run directory or the --csv prefix",
        )

    def optional(suffix: str) -> Path | None:
        candidate = prefix.with_name(prefix.name + suffix)
        return candidate if candidate.is_file() else None

    system = prefix.parent / "system_history.csv"
    live = prefix.parent / LIVE_RECORD
    arrivals = prefix.parent / "arrivals"
    return RunFiles(
        prefix=prefix,
        stats=stats,
        history=optional("_stats_history.csv"),
        failures=optional("_failures.csv"),
        exceptions=optional("_exceptions.csv"),
        json=optional(".json"),
        system=system if system.is_file() else None,
        live=live if live.is_file() else None,
        acks=optional("_acks.txt"),
        arrivals=arrivals if arrivals.is_dir() else None,
    )


def _prefix_in_dir(directory: Path) -> Path:
    if (directory / "locust_stats.csv").is_file():
        return directory / "locust"
    found = sorted(directory.glob("*_stats.csv"))
    if len(found) == 1:
        return found[0].with_name(found[0].name.removesuffix("_stats.csv"))
    if not found:
        raise InputError(directory, "no *_stats.csv in this directory; run Locust with --csv PREFIX first")
    names = ", ".join(p.name for p in found)
    raise InputError(directory, f"several *_stats.csv files ({names}); pass the prefix of the one you want")
