"""The package's public surface."""

from __future__ import annotations

import analysis


def test_public_names() -> None:
    """Exactly the documented names are exported, and each exists."""
    assert analysis.__all__ == sorted(analysis.__all__)
    assert {"load_run", "analyse", "InputError", "Run", "Results", "find_knee", "load_slo_file"} <= set(
        analysis.__all__
    )
    for name in analysis.__all__:
        assert hasattr(analysis, name)
