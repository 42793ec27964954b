"""One machine-readable record per benchmark run, and ``make bench``'s collection of them.

Every ``bench_*.py`` builds a :class:`Record`, adds each figure it prints (and every ratio with its
goal), and writes it with ``--json FILE`` besides its Markdown. The record carries the machine and the
load average at start and end: on a shared machine a figure means little without them.

    python benchmarks/record.py collect DIR    # DIR/*.json -> DIR/results.json; exit 1 if a goal failed
"""

from __future__ import annotations

import argparse
import datetime
import json
import operator
import os
import platform
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["Record", "add_json_option", "collect", "missing_tool"]

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
    }


class Record:
    """Figures of one benchmark run; ``goal`` is ``(">=", 0.8)`` style and decides ``pass``."""

    def __init__(self, benchmark: str, *, quick: bool, settings: dict[str, Any] | None = None):
        self.data: dict[str, Any] = {
            "benchmark": benchmark,
            "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "quick": quick,
            "settings": settings or {},
            "machine": machine(),
            "load_average_start": _load(),
            "figures": [],
        }

    @property
    def figures(self) -> list[dict[str, Any]]:
        return self.data["figures"]  # type: ignore[no-any-return]

    def add(
        self,
        name: str,
        value: float | None,
        unit: str = "",
        goal: tuple[str, float] | None = None,
        note: str = "",
    ) -> bool | None:
        """Record one figure; returns whether it met its goal (None without a goal or a value)."""
        entry: dict[str, Any] = {"name": name, "value": value, "unit": unit}
        passed = None
        if goal is not None:
            op, threshold = goal
            passed = value is not None and _COMPARE[op](value, threshold)
            entry["goal"] = f"{op} {threshold:g}"
            entry["pass"] = passed
        if note:
            entry["note"] = note
        entry["load_average"] = _load()
        self.figures.append(entry)
        return passed

    @property
    def passed(self) -> bool:
        return all(f.get("pass", True) for f in self.figures)

    def write(self, path: Path | None) -> None:
        if path is None:
            return
        self.data["load_average_end"] = _load()
        self.data["passed"] = self.passed
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.data, indent=2) + "\n")

    def finish(self, path: Path | None) -> int:
        """Write the record (``--json``), print its goals; the exit code: 0 when every goal held."""
        self.write(path)
        print()
        print(self.goals_markdown())
        print(f"\nload average at the end {_load()}")
        return 0 if self.passed else 1

    def figures_markdown(self) -> str:
        """Every figure as a Markdown table (what a script prints before its goals)."""
        lines = ["| figure | value |", "|---|---:|"]
        lines += [f"| {f['name']} | {f['value']:,.3g} {f['unit']} |" for f in self.figures]
        return "\n".join(lines)

    def goals_markdown(self) -> str:
        """The figures that have goals, as a Markdown table (what the scripts print last)."""
        lines = ["| figure | value | goal | pass |", "|---|---:|---|---|"]
        for f in self.figures:
            if "goal" in f:
                value = "n/a" if f["value"] is None else f"{f['value']:,.3g}"
                lines.append(
                    f"| {f['name']} | {value} {f['unit']} | {f['goal']} | {'✔' if f['pass'] else '✘'} |"
                )
        return "\n".join(lines)


def missing_tool(benchmark: str, tool: str = "wrk") -> bool:
    """True (after one line on stderr naming the fix) when ``tool`` is not installed."""
    import shutil

    if shutil.which(tool):
        return False
    print(f"{benchmark}: {tool} is not installed; run `make system-deps` (Debian: apt-get install {tool})",
          file=sys.stderr)  # fmt: skip
    return True


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="also write every figure, goal and the load average here"
    )


def collect(directory: Path, expected: Sequence[str] = ()) -> dict[str, Any]:
    """Merge ``directory``'s per-benchmark records into one ``results.json``.

    A benchmark in ``expected`` without a record (it crashed before writing) counts as failed.
    """
    records = []
    for path in sorted(directory.glob("*.json")):
        if path.name == "results.json":
            continue
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            records.append({"benchmark": path.stem, "passed": False, "error": f"unreadable record: {exc}"})
    seen = {r.get("benchmark") for r in records}
    records += [
        {"benchmark": name, "passed": False, "error": "no record: the benchmark failed before writing one"}
        for name in expected
        if name not in seen
    ]
    result = {
        "collected": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "passed": bool(records) and all(r.get("passed", False) for r in records),
        "benchmarks": records,
    }
    (directory / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="collect benchmark records into DIR/results.json")
    parser.add_argument("command", choices=["collect"])
    parser.add_argument("directory", type=Path)
    parser.add_argument("expected", nargs="*", help="benchmark scripts that must have left a record")
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        print(f"record: {args.directory} is not a directory; give the bench run's directory", file=sys.stderr)
        return 2
    result = collect(args.directory, [Path(e).stem for e in args.expected])
    for r in result["benchmarks"]:
        failed = [f["name"] for f in r.get("figures", []) if f.get("pass") is False]
        status = (
            "ok" if r.get("passed") else "FAILED " + (r.get("error") or "; ".join(failed) or "(no record)")
        )
        print(f"{r['benchmark']}: {status}")
    print(f"wrote {args.directory / 'results.json'}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
