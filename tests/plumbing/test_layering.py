"""The layers the tree shows: services never import the orchestrator, plumbing imports nothing of ours."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {
    "plumbing", "cio_contract", "httpserver", "sandbox", "pipeline", "analysis", "locustfiles", "runs", "deploy"
}  # fmt: skip


def _imports(package: str) -> dict[str, set[str]]:
    """Top-level packages each module of ``package`` imports (also inside functions)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package", ["sandbox", "pipeline", "httpserver", "cio_contract", "analysis"])
def test_services_and_analysis_never_import_runs(package):
    offenders = [module for module, names in _imports(package).items() if "runs" in names]
    assert not offenders, f"{offenders} import runs; use plumbing for what they share"


def test_plumbing_and_contract_depend_on_nothing_of_ours():
    for package, allowed in (("plumbing", {"plumbing"}), ("cio_contract", {"cio_contract"})):
        for module, names in _imports(package).items():
            assert not (names & OURS) - allowed, f"{module} imports {sorted((names & OURS) - allowed)}"


def test_analysis_needs_no_locust():
    offenders = [m for m, names in _imports("analysis").items() if names & {"locust", "gevent"}]
    assert not offenders


def test_no_module_is_found_by_path():
    """Plugins are imported by name; no code hands a .py path of ours to a loader or to ``-f``.

    The benchmarks too: they import the installed packages, and their siblings as any script does.
    """
    for package in (*OURS, "benchmarks"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            assert "spec_from_file_location" not in text, path
            assert "sys.path" not in text, f"{path} puts a path on sys.path to find modules"
            assert "master_watch.py" not in text or path.name == "master_watch.py", path
