"""One Docker engine and one set of images for every container test of the session.

The engine comes from ``scripts/docker-engine.sh`` (the one that answers, else a private dockerd
started here and stopped at the end); the images from ``scripts/build-images.sh --tools``, built
once (``.ci/run`` starts that build in the background before lint, so here it is usually cached).
Every test in this package starts containers, so all of them are ``slow``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers import credentials
from tests.support.containers import build_images, engine


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Container tests are slow and run last: the images build meanwhile (see .ci/run)."""
    here = Path(__file__).parent
    ours = [item for item in items if here in Path(item.fspath).parents]
    for item in ours:
        item.add_marker(pytest.mark.slow)
        # The first one also waits for the images (minutes on a machine that has none yet).
        item.add_marker(pytest.mark.timeout(1200))
    items[:] = [item for item in items if item not in ours] + ours


@pytest.fixture(scope="session")
def docker_env() -> Iterator[dict[str, str]]:
    """Environment with ``DOCKER_HOST`` of an engine held for this session."""
    with engine(os.getpid()) as env:
        yield env


@pytest.fixture(scope="session")
def images(docker_env: dict[str, str]) -> dict[str, str]:
    """The engine's environment, once the suite image and the offline stand-ins exist in it."""
    seconds = build_images({**docker_env, **credentials.BUILD})
    print(f"images ready in {seconds:.0f} s")
    return docker_env
