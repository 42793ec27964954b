"""Docker engine, images and compose projects for the container tests.

``engine(holder_pid)`` gets an engine from ``scripts/docker-engine.sh`` (the one that answers, else a
private dockerd it starts and stops); ``build_images(env)`` runs ``scripts/build-images.sh --tools``
(base image from Debian's packages, the suite image from this checkout, the offline stand-ins);
``ComposeProject`` runs Debian's ``docker-compose`` (v1) in a directory of its own with a unique
project name and always ends with ``down -v``, printing every container's log tail on the way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "COMPOSE_ADMIN_TOKEN",
    "ROOT",
    "SUITE_IMAGE",
    "TOOLS_IMAGE",
    "ComposeProject",
    "build_images",
    "docker",
    "engine",
    "http_json",
    "wait_until",
    "workspace_label",
]

ROOT = Path(__file__).resolve().parents[2]
SUITE_IMAGE = "customerio-load-scale:latest"
# docker-compose.yml's default SANDBOX_ADMIN_TOKEN: published ports reach the sandbox from the bridge,
# not from its loopback, so the admin API asks for it.
COMPOSE_ADMIN_TOKEN = "compose-sandbox-admin-token"
TOOLS_IMAGE = "customerio-load-scale-tools:latest"


@contextmanager
def engine(holder_pid: int) -> Iterator[dict[str, str]]:
    """The environment (``DOCKER_HOST`` set) of a running engine, held for ``holder_pid``."""
    script = str(ROOT / "scripts" / "docker-engine.sh")
    done = subprocess.run([script, "hold", str(holder_pid)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"no Docker engine: {done.stderr.strip()}"
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("export DOCKER_HOST="), line
    env = {**os.environ, "DOCKER_HOST": line.split("=", 1)[1]}
    try:
        yield env
    finally:
        subprocess.run([script, "release", str(holder_pid)], capture_output=True, timeout=180)


def build_images(env: dict[str, str]) -> float:
    """Build (or find cached) every image the container tests use; returns the seconds it took."""
    started = time.monotonic()
    done = subprocess.run(
        [str(ROOT / "scripts" / "build-images.sh"), "--tools"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert done.returncode == 0, f"image build failed:\n{done.stderr[-3000:]}"
    return time.monotonic() - started


def docker(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=timeout)


def workspace_label(site_id: str) -> str:
    """How the sandbox's stats name a workspace (never by its site id)."""
    from sandbox.config import WorkspaceConfig

    return WorkspaceConfig(site_id, "-", "-", "-").label


def wait_until(what: str, check: Any, timeout: float, interval: float = 0.5) -> Any:
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError as error:  # a service not up yet: keep polling
            last = error
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout:.0f} s (last: {last!r})")


def http_json(url: str, data: bytes | None = None, timeout: float = 10) -> Any:
    request = urllib.request.Request(url, data=data)
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


class ComposeProject:
    """One compose project in ``directory`` (a copy of the repo's compose files), cleaned up on exit."""

    def __init__(self, directory: Path, name: str, env: dict[str, str], files: Sequence[str] = ()):
        self.directory = directory
        self.name = name
        self.files = list(files)
        binary = shutil.which("docker-compose")
        assert binary, "docker-compose is missing: apt-get install --no-install-recommends docker-compose"
        self.binary = binary
        self.env = {**env, "COMPOSE_PROJECT_NAME": name}

    @classmethod
    def copy_of_repo(cls, directory: Path, name: str, env: dict[str, str], overrides: Sequence[str] = ()):
        """The compose file and what it mounts (Prometheus config), copied into ``directory``."""
        shutil.copy(ROOT / "docker-compose.yml", directory / "docker-compose.yml")
        shutil.copytree(ROOT / "deploy" / "prometheus", directory / "deploy" / "prometheus")
        (directory / "reports").mkdir()
        files = []
        for override in overrides:
            target = directory / Path(override).name
            shutil.copy(ROOT / override, target)
            files = files or ["docker-compose.yml"]
            files.append(target.name)
        return cls(directory, name, env, files)

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        chosen = [arg for f in self.files for arg in ("-f", f)]
        done = subprocess.run(
            [self.binary, *chosen, *args], cwd=self.directory, env=self.env,
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check:
            assert done.returncode == 0, f"docker-compose {' '.join(args)}: {done.stderr[-2000:]}"
        return done

    def shell(self, script: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run ``script`` (e.g. a documented flow, verbatim) with bash in the project directory."""
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=self.directory, env=self.env,
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def containers(self, service: str | None = None, *, all_states: bool = True) -> list[str]:
        """Container names of the project (or one service), oldest first."""
        filters = ["--filter", f"label=com.docker.compose.project={self.name}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        listed = docker(self.env, "ps", *(["-a"] if all_states else []), *filters, "--format", "{{.Names}}")
        return sorted(listed.stdout.split())

    def inspect(self, container: str) -> dict[str, Any]:
        done = docker(self.env, "inspect", container)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout)[0])

    def logs(self, container: str, tail: int = 60) -> str:
        done = docker(self.env, "logs", "--tail", str(tail), container)
        return done.stdout + done.stderr

    def down(self) -> None:
        for container in self.containers():
            print(f"----- {container}\n{self.logs(container, 25)}")
        self.compose("down", "-v", "--remove-orphans", "--timeout", "5", check=False, timeout=180)

    def __enter__(self) -> ComposeProject:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.down()
