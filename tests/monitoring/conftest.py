"""Fixtures for the monitoring tests: a misbehaving metrics server and free addresses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from plumbing.ports import free_port
from runs.processes import start_service


@pytest.fixture(scope="session")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of tests.monitoring.endpoints (growing /metrics, /slow, /garbage, 404 elsewhere)."""
    log_dir = tmp_path_factory.mktemp("endpoints")
    with start_service("endpoints", ["tests.monitoring.endpoints"], log_dir=log_dir) as process:
        yield process.url


@pytest.fixture
def refused_url() -> str:
    """A loopback URL where nothing listens (the port was just free)."""
    return f"http://127.0.0.1:{free_port()}/metrics"


@pytest.fixture
def artifacts() -> Path:
    """test-artifacts/monitoring/ in the repository (gitignored), for screenshots."""
    path = Path(__file__).resolve().parents[2] / "test-artifacts" / "monitoring"
    path.mkdir(parents=True, exist_ok=True)
    return path
