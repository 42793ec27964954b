"""Pipeline fixtures: one real Tansu broker and one redis-server for the session, topics per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.kafka import Broker, running_broker
from tests.support.redis import running_redis


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with running_broker(tmp_path_factory.mktemp("tansu")) as b:
        yield b


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with running_redis() as url:
        yield url


@dataclass(frozen=True)
class Topics:
    events: str
    dead_letters: str
    group: str


@pytest.fixture
def topics(broker: Broker) -> Topics:
    """Fresh topics and consumer group per test, so tests sharing the broker never see each other."""
    tag = uuid.uuid4().hex[:8]
    names = Topics(f"ev-{tag}", f"dlq-{tag}", f"senders-{tag}")
    broker.create_topics(names.events, partitions=6)
    broker.create_topics(names.dead_letters, partitions=1)
    return names


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path
