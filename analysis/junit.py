"""JUnit XML of a run's SLO verdicts, for CI systems that show test results natively.

One ``testcase`` per rule, or per endpoint where a rule covers several (a bare name, ``*``), with
the measured value in the failure message; a baseline comparison adds one testcase per compared
figure. The counts (tests, failures, errors, skipped, time) are on both ``testsuites`` and
``testsuite``, where Jenkins, GitLab and GitHub reporters read them. ``schemas/junit.xsd`` is the
schema it is checked against.
"""

from __future__ import annotations

import math
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis.slo import Verdict, format_value

__all__ = ["SCHEMA", "Case", "cases", "junit_xml", "write_junit"]

SCHEMA = Path(__file__).resolve().parent / "schemas" / "junit.xsd"


@dataclass(frozen=True)
class Case:
    classname: str
    name: str
    failure: str | None
    """The failure message, None when the case passed."""
    output: str = ""


def cases(verdicts: list[Verdict]) -> list[Case]:
    out = []
    for verdict in verdicts:
        for part in verdict.parts or (verdict,):
            endpoint = part.endpoint or verdict.threshold.endpoint
            out.append(_case(verdict, part, endpoint))
    return out


def _case(verdict: Verdict, part: Verdict, endpoint: str) -> Case:
    rule = verdict.threshold
    actual = "no data" if math.isnan(part.actual) else format_value(rule.metric, part.actual)
    detail = f"; {part.detail}" if part.detail else ""
    message = f"{endpoint}: {rule.text}: measured {actual}{detail}"
    kind = "live" if rule.live else "end-of-run"
    return Case(f"slo.{kind}", f"{endpoint}: {rule.text}", None if part.passed else message, message)


def _comparison_cases(comparison: list[dict[str, Any]]) -> list[Case]:
    out = []
    for row in comparison:
        if row.get("current") is None and row.get("baseline") is None:
            continue
        change = "n/a" if row.get("delta_pct") is None else f"{row['delta_pct']:+.1f}%"
        message = f"{row['endpoint']} {row['metric']}: {row['baseline']} -> {row['current']} ({change})"
        name = f"{row['endpoint']}: {row['metric']}"
        out.append(Case("baseline", name, message if row.get("regression") else None, message))
    return out


def junit_xml(
    verdicts: list[Verdict],
    *,
    suite: str,
    duration_s: float | None = None,
    started: float | None = None,
    comparison: list[dict[str, Any]] | None = None,
    properties: dict[str, str] | None = None,
) -> bytes:
    """The JUnit document (UTF-8 bytes with an XML declaration)."""
    slo_cases = cases(verdicts)
    suites = [("slo", slo_cases)]
    if comparison:
        suites.append(("baseline", _comparison_cases(comparison)))
    seconds = f"{max(duration_s or 0.0, 0.0):.3f}"
    total = sum(len(c) for _, c in suites)
    failed = sum(1 for _, c in suites for case in c if case.failure is not None)
    root = ET.Element(
        "testsuites",
        name=suite,
        tests=str(total),
        failures=str(failed),
        errors="0",
        skipped="0",
        time=seconds,
    )
    stamp = datetime.fromtimestamp(started or 0.0, UTC).strftime("%Y-%m-%dT%H:%M:%S") if started else None
    for name, items in suites:
        attrs = {
            "name": f"{suite}.{name}",
            "tests": str(len(items)),
            "failures": str(sum(1 for c in items if c.failure is not None)),
            "errors": "0",
            "skipped": "0",
            "time": seconds,
            "hostname": socket.gethostname(),
        }
        if stamp:
            attrs["timestamp"] = stamp
        element = ET.SubElement(root, "testsuite", attrs)
        if properties:
            props = ET.SubElement(element, "properties")
            for key, value in properties.items():
                ET.SubElement(props, "property", name=key, value=value)
        for case in items:
            testcase = ET.SubElement(element, "testcase", classname=case.classname, name=case.name, time="0")
            if case.failure is not None:
                failure = ET.SubElement(testcase, "failure", message=case.failure, type="SLOBreach")
                failure.text = case.failure
            elif case.output:
                ET.SubElement(testcase, "system-out").text = case.output
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(path: Path, data: dict[str, Any], verdicts: list[Verdict]) -> None:
    """Write the JUnit file for a report's ``summary()`` dict and its verdicts."""
    run = data.get("run") or {}
    aborted = data.get("aborted")
    properties = {"verdict": str(data.get("verdict"))}
    if aborted:
        properties["aborted"] = f"by rule '{aborted['rule']}' ({aborted['endpoint']}) at {aborted['at']}"
    started = run.get("start")
    comparison = data.get("comparison") or {}
    document = junit_xml(
        verdicts,
        suite=Path(str(run.get("prefix") or "run")).parent.name or "run",
        duration_s=run.get("duration_s"),
        started=datetime.fromisoformat(started).timestamp() if isinstance(started, str) else None,
        comparison=comparison.get("rows"),
        properties=properties,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(document)
