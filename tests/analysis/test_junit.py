"""JUnit XML: strict parse (xml.etree plus the shipped XSD), one testcase per rule and endpoint, counts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import xmlschema

from analysis.junit import SCHEMA, junit_xml
from analysis.report import main
from analysis.slo import evaluate, parse_threshold

FINAL = pd.DataFrame(
    {
        "endpoint": ["GET /a", "POST /a", "Aggregated"],
        "p95": [90.0, 300.0, 250.0],
        "error_rate": [0.0, 0.04, 0.02],
        "rps": [10.0, 10.0, 20.0],
    }
)


def _checked(document: bytes) -> ET.Element:
    root = ET.fromstring(document)  # well-formed
    xmlschema.XMLSchema(SCHEMA).validate(document.decode())  # and valid: raises on any deviation
    return root


def test_one_testcase_per_rule_with_the_measured_value_and_counts() -> None:
    rules = [
        parse_threshold("p95 < 500ms"),
        parse_threshold("error_rate < 1%"),
        parse_threshold("rps > 5"),
        parse_threshold("p95 < 200ms", "/a"),  # covers two endpoints: two testcases
    ]
    root = _checked(junit_xml(evaluate(FINAL, rules), suite="run-1", duration_s=12.5, started=1_796_000_000))
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [
        "Aggregated: p95 < 500ms",
        "Aggregated: error_rate < 1%",
        "Aggregated: rps > 5",
        "GET /a: p95 < 200ms",
        "POST /a: p95 < 200ms",
    ]
    failures = {c.get("name"): c.find("failure") for c in cases}
    assert failures["Aggregated: error_rate < 1%"].get("message").endswith("measured 2.00%")  # type: ignore[union-attr]
    assert "measured 300ms" in failures["POST /a: p95 < 200ms"].get("message")  # type: ignore[union-attr]
    assert failures["GET /a: p95 < 200ms"] is None
    for element in (root, root.find("testsuite")):
        assert element is not None
        assert (element.get("tests"), element.get("failures"), element.get("errors")) == ("5", "2", "0")
        assert element.get("time") == "12.500"


def test_report_cli_writes_junit(real_run: Path, tmp_path: Path) -> None:
    slo = tmp_path / "slo.yaml"
    slo.write_text("global: [p95 < 5s, error_rate < 1%]\nendpoints:\n  '*': [p50 < 1ms]\n")
    junit = tmp_path / "ci" / "junit.xml"
    assert (
        main([str(real_run), "--out", str(tmp_path / "out"), "--slo", str(slo), "--junit", str(junit)]) == 1
    )
    root = _checked(junit.read_bytes())
    endpoints = pd.read_csv(next(real_run.glob("*_stats.csv")))["Name"].nunique() - 1  # minus Aggregated
    assert int(root.get("tests", "0")) == 2 + endpoints
    assert int(root.get("failures", "0")) >= 1
