"""Suite-wide fixtures. Area fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

# gevent (imported with Locust) must patch ssl before any test module imports urllib3 (requests):
# urllib3 imported first keeps the unpatched SSLContext, and Locust's own import then recurses in
# SSLContext.minimum_version (a RecursionError while collecting, depending on which module came
# first). This conftest is loaded before every test module, whatever the selection or order.
import locust  # noqa: F401

import os

import pytest

from tests.support.terminal import TerminalRun, run_demo_in_a_terminal


@pytest.fixture(autouse=True)
def _headless_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """Charts never need a display."""
    monkeypatch.setenv("MPLBACKEND", "Agg")


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def demo_in_a_terminal(tmp_path_factory: pytest.TempPathFactory) -> TerminalRun:
    """One real ``python -m runs demo`` under a pseudo-terminal (a worker killed half-way), shared by
    the progress test and the notebook test."""
    return run_demo_in_a_terminal(tmp_path_factory.mktemp("demo-in-a-terminal"))
