"""Fixtures for the deployment tests: one real sandbox shared by the distributed-run tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runs.processes import ManagedProcess
from tests.support.sandbox import admin_call, running_sandbox

CLUSTER_LOCUSTFILE = Path(__file__).with_name("cluster_locustfile.py")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """A sandbox on a free port (default limits: Track 100 req/s, far above what the tests send)."""
    with running_sandbox(log_dir=tmp_path_factory.mktemp("sandbox")) as process:
        yield process


@pytest.fixture
def fresh_sandbox(sandbox: ManagedProcess) -> ManagedProcess:
    """The shared sandbox with its counters and stored people reset."""
    admin_call(sandbox.url, "reset", method="POST", body={})
    return sandbox
