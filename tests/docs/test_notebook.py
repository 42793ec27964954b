"""docs/notebooks/explore-a-run.ipynb: stored without outputs, executed against real runs, and able to fail."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from tests.support.terminal import TerminalRun

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "docs" / "notebooks" / "explore-a-run.ipynb"
PUBLIC = ("analyse", "charts", "history", "load_run", "run_delivery")


def test_notebook_is_stored_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    dirty = [i for i, cell in enumerate(code) if cell.outputs or cell.execution_count is not None]
    assert not dirty, f"code cells {dirty} carry outputs; clear them (jupyter nbconvert --clear-output)"


def test_notebook_uses_the_public_api_only() -> None:
    source = "\n".join(c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code")
    imports = re.findall(r"^\s*(?:from|import) (analysis\S*)", source, flags=re.M)
    assert imports == ["analysis"], f"import only the package's public names, not {imports}"
    assert re.search(r"from analysis import (.+)", source).group(1).split(", ") == sorted(PUBLIC)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def two_runs(demo_in_a_terminal: TerminalRun) -> tuple[Path, Path]:
    """The shared demo run, compared with itself (a second real run would double the CI minute).

    ``python -m runs`` starts the sandbox with --arrivals-dir and the master writes the acks, so the
    run carries the delivery accounting the notebook reconciles."""
    run_dir = demo_in_a_terminal.run_dir
    assert (run_dir / "locust_acks.txt").stat().st_size and any((run_dir / "arrivals").iterdir())
    return run_dir, run_dir


def _execute(cwd: Path, runs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("RUN_DIR", str(runs[0]))
    monkeypatch.setenv("BASELINE_RUN_DIR", str(runs[1]))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # Imported here, not at collection: jupyter's stack imports ssl, and gevent (Locust) must patch ssl
    # before anything imports it, which other test directories' conftests do after this one is collected.
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return notebook


@pytest.mark.slow
def test_notebook_runs_against_real_runs_and_draws_its_charts(
    two_runs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    executed = _execute(NOTEBOOK.parent, two_runs, monkeypatch)
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # throughput, latency, errors, summary, delivery, system, history
    assert len(images) >= 7, f"{len(images)} charts drawn"
    text = "".join(o.get("text", "") for o in outputs)
    assert f"run: {two_runs[0]}" in text and f"baseline: {two_runs[1]}" in text
    assert "regressions against" in text and "endpoints; the busiest is" in text
    delivered = re.search(r"delivery: ([\d,]+) acknowledged, ([\d,]+) delivered, ([\d,]+) lost", text)
    assert delivered and int(delivered[2].replace(",", "")) > 0, text[-2000:]
    assert "history: 1 runs ->" in text and "newest run: no regression" in text


@pytest.mark.slow
def test_a_renamed_public_function_breaks_the_notebook(
    two_runs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The kernel imports a copy of analysis/ in which one chart function has another name: the
    notebook must fail on it (so CI turns red when the public API changes under it)."""
    shutil.copytree(ROOT / "analysis", tmp_path / "analysis", ignore=shutil.ignore_patterns("__pycache__"))
    charts = tmp_path / "analysis" / "charts.py"
    charts.write_text(charts.read_text().replace("endpoint_latency_chart", "latency_per_endpoint_chart"))
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError, match="endpoint_latency_chart"):
        _execute(tmp_path, two_runs, monkeypatch)  # the kernel's cwd comes first on its sys.path
