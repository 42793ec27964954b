"""The ingest answers the documented Track facts exactly as the sandbox does (same probes), since an
application switches between them by host alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runs.processes import ManagedProcess
from tests.pipeline.conftest import Topics
from tests.pipeline.harness import start_ingest
from tests.support.fidelity import TRACK_PROBES, Probe, check
from tests.support.kafka import Broker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ingest(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    tag = uuid.uuid4().hex[:8]
    topics = Topics(f"fidelity-{tag}", f"fidelity-dlq-{tag}", f"fidelity-{tag}")
    broker.create_topics(topics.events, topics.dead_letters)
    log_dir: Path = tmp_path_factory.mktemp("ingest-fidelity")
    with start_ingest(broker, topics, log_dir) as process:
        yield process


@pytest.mark.parametrize("probe", TRACK_PROBES, ids=lambda p: p.name)
def test_ingest_matches_the_reference(ingest: ManagedProcess, probe: Probe) -> None:
    check(ingest.url, probe)
