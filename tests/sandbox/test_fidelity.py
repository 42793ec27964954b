"""Documented Customer.io facts, probed against a real sandbox (see ``tests/support/fidelity.py``)."""

from __future__ import annotations

import pytest

from runs.processes import ManagedProcess
from tests.support.fidelity import APP_PROBES, TRACK_PROBES, Probe, check


@pytest.mark.parametrize("probe", TRACK_PROBES + APP_PROBES, ids=lambda p: p.name)
def test_sandbox_matches_the_reference(sandbox: ManagedProcess, probe: Probe) -> None:
    check(sandbox.url, probe)
