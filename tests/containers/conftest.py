"""One Docker engine and one set of images for every container test of the session, and the compose
scenarios running side by side.

The engine comes from ``scripts/docker-engine.sh`` (the one that answers, else a private dockerd
started here and stopped at the end); the images from ``scripts/build-images.sh --tools``, built
once (``.ci/run`` starts that build in the background before lint, so here it is usually cached).
Every test in this package starts containers, so all of them are ``slow``.

A module with a ``scenario(images, directory, say)`` function is a compose scenario: minutes spent
mostly waiting (health checks, run times, heartbeat timeouts), each in its own compose project. Once
the images exist they run in a background thread, one after the other, the longest
(``SCENARIO_SECONDS``) first, while the other container tests (image checks, pod specs) run in the
foreground; each scenario's test waits for its own result (its assertion errors are raised there,
its output printed there). One at a time: on 2 cores, two compose projects side by side starved the
Locust and sandbox containers of both (health checks timed out, workers missed heartbeats).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest

from tests.containers import credentials
from tests.support.containers import IMAGES, build_images, engine


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Container tests are slow and run last: the images build meanwhile (see .ci/run)."""
    here = Path(__file__).parent
    ours = [item for item in items if here in Path(item.fspath).parents]
    for item in ours:
        item.add_marker(pytest.mark.slow)
        # The first one also waits for the images (minutes on a machine that has none yet).
        item.add_marker(pytest.mark.timeout(1200))
    # The scenarios' tests last: they only wait for what ran in the background meanwhile.
    ours.sort(key=lambda item: hasattr(item.module, "scenario"))
    items[:] = [item for item in items if item not in ours] + ours


@pytest.fixture(scope="session")
def docker_env() -> Iterator[dict[str, str]]:
    """Environment with ``DOCKER_HOST`` of an engine held for this session."""
    with engine(os.getpid()) as env:
        yield env


@pytest.fixture(scope="session")
def images(docker_env: dict[str, str]) -> dict[str, str]:
    """The engine's environment, once the suite image and the offline stand-ins exist in it, with
    SUITE_IMAGE/TOOLS_IMAGE naming them (this checkout's tags; docker-compose.yml reads both)."""
    seconds = build_images({**docker_env, **credentials.BUILD})
    print(f"images ready in {seconds:.0f} s")
    return {**docker_env, **IMAGES}


class Scenarios:
    """The selected compose scenarios, started in the background; ``result(module)`` waits for one.

    ``CIO_CONTAINER_SCENARIOS=foreground`` runs each in its own test instead (to compare the two).
    """

    def __init__(self, images: dict[str, str], modules: list[ModuleType], tmp: pytest.TempPathFactory):
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scenario")
        self.output: dict[str, list[str]] = {}
        self.futures: dict[str, Future[None]] = {}
        self.pending: dict[str, tuple[ModuleType, Path]] = {}
        inline = os.environ.get("CIO_CONTAINER_SCENARIOS") == "foreground"
        for module in sorted(modules, key=lambda m: -getattr(m, "SCENARIO_SECONDS", 0)):
            lines = self.output.setdefault(module.__name__, [])
            directory = tmp.mktemp(module.__name__.rsplit(".", 1)[-1].removeprefix("test_"))
            if inline:
                self.pending[module.__name__] = (module, directory)
            else:
                self.futures[module.__name__] = self.pool.submit(
                    module.scenario, images, directory, lines.append
                )
        self.images = images

    def result(self, module: str) -> None:
        try:
            if module in self.pending:
                scenario, directory = self.pending.pop(module)
                scenario.scenario(self.images, directory, self.output[module].append)
            else:
                self.futures[module].result(timeout=1150)
        finally:
            print("\n".join(self.output[module]))


@pytest.fixture(scope="session", autouse=True)
def scenarios(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scenarios]:
    """Every selected scenario, running from the first container test on."""
    modules = list(
        {id(i.module): i.module for i in request.session.items if hasattr(i.module, "scenario")}.values()
    )
    images = request.getfixturevalue("images") if modules else {}
    running = Scenarios(images, modules, tmp_path_factory)
    yield running
    running.pool.shutdown(wait=True)
