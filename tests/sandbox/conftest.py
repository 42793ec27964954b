"""Sandbox fixtures: real sandbox processes on port 0, stopped after the module or session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from runs.processes import ManagedProcess
from tests.support.sandbox import DEMO, running_sandbox

# Limits high enough that functional tests never meet the rate limiter.
UNLIMITED = ("--rate-limit", "track=1000000", "--rate-limit", "app=1000000", "--rate-limit", "cdp=1000000")


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """One shared sandbox without effective rate limits (tests must not rely on its counters)."""
    with running_sandbox(*UNLIMITED, log_dir=tmp_path_factory.mktemp("sandbox")) as process:
        yield process


@pytest.fixture
def fresh_sandbox(tmp_path: Path) -> Iterator[ManagedProcess]:
    """A sandbox of this test's own, for counter assertions."""
    with running_sandbox(*UNLIMITED, log_dir=tmp_path) as process:
        yield process


@pytest.fixture
def track(sandbox: ManagedProcess) -> Iterator[requests.Session]:
    """A session with the demo workspace's Track credentials."""
    with requests.Session() as session:
        session.auth = (DEMO["site_id"], DEMO["track_api_key"])
        yield session


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate made by ``python -m sandbox gen-cert``."""
    from sandbox.tls import generate_self_signed

    return generate_self_signed(tmp_path_factory.mktemp("tls"))
