"""Run schemathesis against a live server with a generated OpenAPI document, bounded and seeded, and
count what it found per check.

The four counts the issue asks for are the checks ``not_a_server_error`` (server errors),
``positive_data_acceptance`` (schema-valid requests rejected), ``negative_data_rejection``
(schema-violating requests accepted) and ``response_schema_conformance`` (responses off their
schema); status codes and content types are checked against the document too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CHECKS", "Conformance", "run_schemathesis"]

CHECKS = ("not_a_server_error", "positive_data_acceptance", "negative_data_rejection",
          "response_schema_conformance", "status_code_conformance", "content_type_conformance")  # fmt: skip
_FAILURE = re.compile(r"^\s*❌ (?P<what>[^:\n]+): (?P<count>\d+)\s*$", re.M)
_CASES = re.compile(r"^\s*(?P<count>\d+) generated", re.M)


@dataclass
class Conformance:
    cases: int
    failures: dict[str, int]
    """Failure title (e.g. ``ST201 Schema-violating request accepted``) -> count."""
    output: str

    def summary(self) -> str:
        found = ", ".join(f"{k}: {v}" for k, v in self.failures.items()) or "no failures"
        return f"{self.cases} cases, {found}"


def run_schemathesis(document: dict[str, Any], url: str, work: Path, *, seed: int, max_examples: int,
                     phases: str = "coverage,fuzzing", timeout: float = 240) -> Conformance:  # fmt: skip
    """Every operation of ``document`` against ``url``: ASCII strings (the limits are in bytes), one
    worker, no shrinking (a failure is printed as found), the given seed."""
    path = work / "openapi.json"
    path.write_text(json.dumps(document))
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", str(path), "--url", url, "--checks", ",".join(CHECKS),
        "--mode", "all", "--phases", phases, "--max-examples", str(max_examples), "--seed", str(seed),
        "--generation-codec", "ascii", "--generation-database", "none", "--no-shrink", "--workers", "1",
        "--no-color", "--request-timeout", "20",
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=work)
    output = result.stdout + result.stderr
    summary = output.rsplit("SUMMARY", 1)[-1]
    cases = _CASES.search(summary)
    failures = {m["what"].strip(): int(m["count"]) for m in _FAILURE.finditer(summary)}
    return Conformance(int(cases["count"]) if cases else 0, failures, output)
