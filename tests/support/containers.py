"""Docker engine, images and compose projects for the container tests.

``engine(holder_pid)`` gets an engine from ``scripts/docker-engine.sh`` (the one that answers, else a
private dockerd it starts and stops); ``build_images(env)`` runs ``scripts/build-images.sh --tools``
(base image from Debian's packages, the suite image from this checkout, the offline stand-ins);
``ComposeProject`` runs Debian's ``docker-compose`` (v1) in a directory of its own with a unique
project name and always ends with ``down -v``, printing every container's log tail on the way. While
it lives it records ``docker inspect`` of every container of the project (one-off ``run`` containers
included, which are gone by the end), so a test can grep all of it for credentials (:meth:`leaks`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "IMAGES",
    "MANIFEST_IMAGE",
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
# Tagged per checkout: several checkouts sharing one engine (worktrees on one machine) must not test
# each other's code under `:latest`. Identical builds share every layer, so a second tag costs seconds.
_TAG = "checkout-" + hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]
SUITE_IMAGE = os.environ.get("SUITE_IMAGE") or f"customerio-load-scale:{_TAG}"
TOOLS_IMAGE = os.environ.get("TOOLS_IMAGE") or f"customerio-load-scale-tools:{_TAG}"
MANIFEST_IMAGE = "customerio-load-scale:latest"
"""The image the Kubernetes manifests name; the pod-spec tests run SUITE_IMAGE in its place."""
IMAGES = {"SUITE_IMAGE": SUITE_IMAGE, "TOOLS_IMAGE": TOOLS_IMAGE}
"""For scripts/build-images.sh and docker-compose (both read these variables)."""
SECRETS_SCRIPT = "deploy/docker/write-secrets.sh"


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
        env={**env, **IMAGES}, cwd=ROOT, capture_output=True, text=True, timeout=1500,
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

    def __init__(
        self,
        directory: Path,
        name: str,
        env: dict[str, str],
        files: Sequence[str] = (),
        say: Callable[[str], None] = print,
    ):
        self.directory = directory
        self.say = say
        """Where its output goes (a scenario running in a thread collects its own)."""
        self.name = name
        self.files = list(files)
        binary = shutil.which("docker-compose")
        assert binary, "docker-compose is missing: apt-get install --no-install-recommends docker-compose"
        self.binary = binary
        self.env = {**env, **IMAGES, "COMPOSE_PROJECT_NAME": name}
        self.inspections = directory / ".inspect"
        """One file per container of the project: its latest ``docker inspect`` output."""
        self._recorder: subprocess.Popen[bytes] | None = None

    @classmethod
    def copy_of_repo(
        cls,
        directory: Path,
        name: str,
        env: dict[str, str],
        say: Callable[[str], None] = print,
        overrides: Sequence[str] = (),
    ) -> ComposeProject:
        """The compose file, what it mounts (Prometheus config) and the script writing its secret
        files, copied into ``directory``."""
        shutil.copy(ROOT / "docker-compose.yml", directory / "docker-compose.yml")
        shutil.copytree(ROOT / "deploy" / "prometheus", directory / "deploy" / "prometheus")
        (directory / "deploy" / "docker").mkdir(parents=True)
        shutil.copy2(ROOT / SECRETS_SCRIPT, directory / SECRETS_SCRIPT)
        (directory / "reports").mkdir()
        files = []
        for override in overrides:
            target = directory / Path(override).name
            shutil.copy(ROOT / override, target)
            files = files or ["docker-compose.yml"]
            files.append(target.name)
        return cls(directory, name, env, files, say)

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

    def write_secrets(self) -> None:
        """``deploy/docker/write-secrets.sh``: ./secrets from the CIO_* variables of the environment."""
        done = self.shell(SECRETS_SCRIPT, timeout=30)
        assert done.returncode == 0, done.stderr

    def secret(self, name: str) -> str:
        """The value of a compose secret, as the script wrote it (e.g. ``sandbox_admin_token``)."""
        return (self.directory / "secrets" / name).read_text().strip()

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

    def _record(self, once: bool = False) -> subprocess.Popen[bytes]:
        """A shell loop (a process, not a thread: gevent may patch this session's threads) writing
        ``docker inspect`` of each container of the project every 2 s."""
        self.inspections.mkdir(exist_ok=True)
        loop = (
            'while :; do for c in $(docker ps -aq --filter "label=com.docker.compose.project=$1"); do '
            'docker inspect "$c" >"$2/$c.new" 2>/dev/null && mv "$2/$c.new" "$2/$c.json"; done; '
            '[ "$3" = once ] && exit 0; sleep 2; done'
        )
        args = [self.name, str(self.inspections), "once" if once else "loop"]
        return subprocess.Popen(["bash", "-c", loop, "record", *args], env=self.env, start_new_session=True)

    def leaks(self, values: Sequence[str]) -> dict[str, list[str]]:
        """Container -> the ``values`` its recorded ``docker inspect`` output contains (none may)."""
        recorded = {path: path.read_text() for path in self.inspections.glob("*.json")}
        assert recorded, "no docker inspect output was recorded"
        found = {json.loads(text)[0]["Name"]: [v for v in values if v in text] for text in recorded.values()}
        return {name: hits for name, hits in found.items() if hits}

    def down(self) -> None:
        if self._recorder is not None:
            os.killpg(self._recorder.pid, signal.SIGTERM)
            self._recorder.wait(timeout=30)
            self._record(once=True).wait(timeout=120)
        for container in self.containers():
            self.say(f"----- {container}\n{self.logs(container, 25)}")
        self.compose("down", "-v", "--remove-orphans", "--timeout", "5", check=False, timeout=180)

    def __enter__(self) -> ComposeProject:
        self._recorder = self._record()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.down()
