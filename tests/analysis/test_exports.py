"""The package's public surface."""

from __future__ import annotations

import subprocess
import sys

import analysis


def test_public_names() -> None:
    """Exactly the documented names are exported, and each exists."""
    assert analysis.__all__ == sorted(analysis.__all__)
    assert {"load_run", "analyse", "InputError", "Run", "Results", "find_knee", "load_slo_file"} <= set(
        analysis.__all__
    )
    for name in analysis.__all__:
        assert hasattr(analysis, name)


def test_importing_the_package_imports_no_pandas() -> None:
    """``python -m analysis.report`` imports the package and the report's CLI before anything else;
    neither may import pandas, so the report can start its chart workers first (analysis.drawing)."""
    code = "import sys, analysis, analysis.report; print('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
    assert set(analysis._HOME) == set(analysis.__all__)
