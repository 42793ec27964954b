"""``python -m runs scale --run-on compose``: the planned run as the compose pipeline profile.

The same run as on loopback (``runs.pipeline``), with every process in a container of its own compose
project: ``docker-compose.yml``'s pipeline profile (plus any ``--compose-file``, e.g.
``deploy/docker/compose.offline.yml`` where Apache Kafka cannot be pulled) brought up at the planned
size (``--scale sender=N --scale worker=W``, ``KAFKA_PARTITIONS``, the senders' batch size), the
sandbox at the limit in reject mode. An override written into the run directory
(``compose.run.yml``) mounts the run directory into the sandbox (``SANDBOX_ARRIVALS_DIR``) and the
master (Locust CSVs, acks, status file, system history), runs both as the invoking user so the files
are theirs, publishes each sender's ``/metrics`` on a free loopback port (to wait for the consumer
group and the drain), and points the compose file's secrets at files ``deploy/docker/write-secrets.sh``
writes for this run into a private temporary folder (the caller's CIO_* credentials, else a random
sandbox workspace; removed after the run), so no credential is in any container's environment or in
the run directory. A headless master is then ``docker-compose run`` with the loopback
run's traffic; after the drain the project's logs go to ``compose.log`` and the project is taken
down (``down -v``), always. The run directory is reconciled and reported as a loopback run's.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from plumbing.ports import free_port
from runs.cpu import CPU_FILE, CpuSampler
from runs.pipeline import (
    REPO,
    PipelineRun,
    RunPlan,
    delivered_by,
    finish,
    require_statistics,
    sandbox_totals,
    traffic_args,
    wait_drained,
    wait_for_group,
    wait_for_master,
)
from runs.processes import ServiceStartError
from runs.services import MissingTool

__all__ = ["COMPOSE_FILE", "OVERRIDE_FILE", "ComposeProject", "run_compose"]

COMPOSE_FILE = REPO / "docker-compose.yml"
SECRETS_SCRIPT = REPO / "deploy" / "docker" / "write-secrets.sh"
OVERRIDE_FILE = "compose.run.yml"
# Where the run directory appears inside the sandbox and master containers (on their reports volume).
_REPORTS = PurePosixPath("/app/reports")
_SENDER_METRICS_PORT = 9100


@dataclass(frozen=True)
class Container:
    """A sender's container, scraped through its published ``/metrics`` port."""

    name: str
    url: str
    pid: int

    def alive(self) -> bool:
        return True  # a container that is gone fails its scrape, which the callers expect


class ComposeProject:
    """One compose project, driven through ``docker-compose`` (v1) or ``docker compose`` (v2)."""

    def __init__(self, name: str, files: Sequence[Path], env: dict[str, str]):
        self.name = name
        self.files = list(files)
        self.env = {**os.environ, **env, "COMPOSE_PROJECT_NAME": name}
        self.binary = _compose_binary()

    def command(self, *args: str) -> list[str]:
        return [*self.binary, *(a for f in self.files for a in ("-f", str(f))), *args]

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a compose command; ServiceStartError with compose's last line when it fails."""
        done = subprocess.run(self.command(*args), env=self.env, cwd=self.files[0].parent,
                              capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
        if done.returncode != 0:
            raise ServiceStartError(f"docker compose {args[0]} failed: {_cause(done.stderr or done.stdout)}")
        return done

    def containers(self, service: str) -> list[str]:
        """The running containers of ``service``, by name, in compose's numbering order."""
        done = _docker(self.env, "ps", "--filter", f"label=com.docker.compose.project={self.name}",
                       "--filter", f"label=com.docker.compose.service={service}", "--format", "{{.Names}}")  # fmt: skip
        return sorted(done.stdout.split(), key=lambda n: (len(n), n))

    def pid(self, container: str) -> int | None:
        """The container's main process as the host sees it (what the CPU sampler watches)."""
        done = _docker(self.env, "inspect", "--format", "{{.State.Pid}}", container)
        return int(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip().isdigit() else None

    def published(self, container: str, port: int) -> str:
        """``http://127.0.0.1:PORT`` where the engine publishes ``container``'s ``port``."""
        done = _docker(self.env, "port", container, str(port))
        lines = [line for line in done.stdout.split() if line.startswith("127.0.0.1:")]
        if not lines:
            raise ServiceStartError(
                f"{container} does not publish port {port} on 127.0.0.1: {done.stderr.strip()}"
            )
        return f"http://{lines[0]}"

    def down(self, log_path: Path) -> None:
        """Keep every container's log in ``log_path``, then remove the project and its volumes."""
        try:
            logs = subprocess.run(self.command("logs", "--no-color", "--timestamps"), env=self.env,
                                  capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
            log_path.write_text(logs.stdout + logs.stderr)
        except (OSError, subprocess.TimeoutExpired):
            pass
        subprocess.run(self.command("down", "-v", "--remove-orphans", "--timeout", "5"), env=self.env,
                       capture_output=True, timeout=300, check=False)  # fmt: skip


def _cause(output: str) -> str:
    """The line of compose's output that names what went wrong (it ends with a generic one)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    generic = ("Encountered errors while bringing up the project", "Creating ", "Starting ", "Recreating ")
    telling = [line for line in lines if not line.startswith(generic) and "error" in line.lower()]
    return (telling or lines or ["no output"])[0 if telling else -1]


def _write_secrets(directory: Path) -> dict[str, Path]:
    """The credentials the compose file hands its containers as secret files, written into
    ``directory`` by ``deploy/docker/write-secrets.sh``: the caller's CIO_* credentials, else one
    random sandbox workspace for this run (any values do for the sandbox)."""
    env = {
        **os.environ,
        "CIO_SECRETS_DIR": str(directory),
        "CIO_SITE_ID": os.environ.get("CIO_SITE_ID") or f"scale-{secrets.token_hex(6)}",
        "CIO_API_KEY": os.environ.get("CIO_API_KEY") or secrets.token_hex(16),
    }
    done = subprocess.run(
        [str(SECRETS_SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        problem = (done.stderr.strip() or "no output").splitlines()[-1]
        raise ServiceStartError(f"{SECRETS_SCRIPT.relative_to(REPO)} failed: {problem}")
    return {path.name: path for path in sorted(directory.iterdir()) if not path.name.startswith(".")}


def _compose_binary() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    raise MissingTool(
        "docker compose is not installed; install docker-compose (Debian: apt-get install docker-compose) "
        "or the Docker compose plugin"
    )


def _docker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def _check_engine(env: dict[str, str]) -> None:
    try:
        done = _docker(env, "version", "--format", "{{.Server.Version}}")
    except FileNotFoundError:
        done = None
    if done is None or done.returncode != 0:
        where = env.get("DOCKER_HOST") or "the default socket"
        raise MissingTool(
            f'no Docker engine answers at {where}; start one with `eval "$(scripts/docker-engine.sh env)"`'
        )


def _sender_environment(sender_args: Sequence[str]) -> dict[str, str]:
    """The planned sender options (``--max-batch-operations 139``) as the sender's variables."""
    pairs = zip(sender_args[::2], sender_args[1::2], strict=True)
    return {"PIPELINE_" + flag.lstrip("-").upper().replace("-", "_"): value for flag, value in pairs}


def override(plan: RunPlan, run_dir: Path, pipeline: bool, secret_files: dict[str, Path]) -> dict[str, Any]:
    """The per-run compose override: run directory mounts, accounting, published sender metrics,
    and the compose file's secrets taken from this run's files."""
    inside = str(_REPORTS / run_dir.name)
    user = f"{os.getuid()}:{os.getgid()}"
    mount = [f"{run_dir.resolve()}:{inside}"]
    services: dict[str, Any] = {
        "sandbox": {
            "user": user,
            "volumes": mount,
            "environment": {
                "SANDBOX_ARRIVALS_DIR": f"{inside}/arrivals",
                "SANDBOX_STORE": "count",
                "SANDBOX_RATE_MODE": plan.sandbox_mode,
            },  # fmt: skip
        },
        "master": {"user": user, "volumes": mount},
    }
    if pipeline:
        services["sender"] = {
            # No host port: each replica gets a free one on loopback (`docker port` reads it back).
            "ports": [f"127.0.0.1::{_SENDER_METRICS_PORT}"],
            "environment": {"PIPELINE_SESSION_TIMEOUT_MS": "6000", **_sender_environment(plan.sender_args)},
        }
    return {
        "services": services,
        "secrets": {name: {"file": str(path)} for name, path in secret_files.items()},
    }


def run_compose(
    plan: RunPlan, run_dir: Path, files: Sequence[Path] = (COMPOSE_FILE,), *, pipeline: bool = True
) -> dict[str, Any]:
    """The planned run in a compose project of its own; returns (and writes) the loopback run's result.

    ``pipeline=False`` is the direct tier: the sandbox and the Locust workers only.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    ports = {
        f"{name}_PUBLISHED_PORT": str(free_port()) for name in ("SANDBOX", "INGEST", "MASTER", "PROMETHEUS")
    }
    env = {**ports, "CIO_RATE_LIMIT": f"{plan.limit:g}", "KAFKA_PARTITIONS": str(plan.partitions)}
    name = (
        os.environ.get("COMPOSE_PROJECT_NAME") or f"cioscale{time.strftime('%H%M%S')}{secrets.token_hex(2)}"
    )
    project = ComposeProject(name, [*files, run_dir / OVERRIDE_FILE], env)
    _check_engine(project.env)
    # Outside the run directory (which is mounted into containers and kept): gone after the run.
    secret_dir = Path(tempfile.mkdtemp(prefix="cio-scale-secrets-"))
    try:
        secret_files = _write_secrets(secret_dir)
        token = secret_files["sandbox_admin_token"].read_text().strip()
        (run_dir / OVERRIDE_FILE).write_text(
            yaml.safe_dump(override(plan, run_dir, pipeline, secret_files), sort_keys=False)
        )
        return _run(project, plan, run_dir, pipeline, token)
    finally:
        shutil.rmtree(secret_dir, ignore_errors=True)


def _run(project: ComposeProject, plan: RunPlan, run_dir: Path, pipeline: bool, token: str) -> dict[str, Any]:
    ports = project.env
    run = PipelineRun(run_dir, plan, cpu=CpuSampler(run_dir / CPU_FILE).start())
    profile = ["--profile", "pipeline"] if pipeline else []
    sandbox_url = f"http://127.0.0.1:{ports['SANDBOX_PUBLISHED_PORT']}"
    kind = "pipeline" if pipeline else "direct"
    senders: list[Container] = []
    try:
        print(f"runs: compose {kind}: project {project.name}, {plan.senders} senders, {plan.partitions} partitions, "
              f"{plan.workers} Locust workers; {plan.rate:g} calls/s for {plan.duration:g} s; files in {run_dir}")  # fmt: skip
        services = ["sandbox", "worker", *(["ingest", "sender"] if pipeline else [])]
        scale = [
            "--scale",
            f"worker={plan.workers}",
            *(["--scale", f"sender={plan.senders}"] if pipeline else []),
        ]
        project.compose(*profile, "up", "-d", *scale, *services, timeout=900)
        _watch(project, run.cpu, pipeline)
        if pipeline:
            senders = [
                Container(name, project.published(name, _SENDER_METRICS_PORT), project.pid(name) or 0)
                for name in project.containers("sender")
            ]
            run.senders = list(senders)
            wait_for_group(run.senders, plan.partitions, timeout=90)
        load_started = time.time()
        _drive(project, run, [sender.name for sender in senders], pipeline)
        load_ended = time.time()
        drain_s = wait_drained(run, plan.drain_timeout) if pipeline else 0.0
        totals = sandbox_totals(sandbox_url, token)
        per_sender = [delivered_by(sender) for sender in run.senders]
        # The sandbox writes its last arrivals as it stops; the rest goes down while the report is made.
        project.compose("stop", "--timeout", "10", "sandbox", timeout=120)
        teardown = threading.Thread(target=project.down, args=(run_dir / "compose.log",), daemon=True)
        teardown.start()
    except BaseException:
        project.down(run_dir / "compose.log")
        raise
    finally:
        if run.cpu is not None:
            run.cpu.stop()
    try:
        return finish(run, kind, totals, load_started, load_ended, drain_s, per_sender, target="compose")
    finally:
        teardown.join(330)


def _watch(project: ComposeProject, cpu: CpuSampler | None, pipeline: bool) -> None:
    """Give the CPU sampler every container's main process, named as the loopback run names them."""
    if cpu is None:
        return
    names = {"sandbox": "sandbox", "worker": "locust-worker", **({"kafka": "broker", "redis": "redis",
             "ingest": "ingest", "sender": "sender"} if pipeline else {})}  # fmt: skip
    for service, component in names.items():
        found = project.containers(service)
        for index, container in enumerate(found):
            pid = project.pid(container)
            if pid:
                numbered = component in ("locust-worker", "sender")
                cpu.watch(f"{component}-{index}" if numbered else component, pid)


def _drive(project: ComposeProject, run: PipelineRun, senders: list[str], pipeline: bool) -> None:
    """A headless master in a one-off container: the loopback run's traffic, files in the run directory."""
    from runs.progress import status_args

    plan, inside = run.plan, PurePosixPath(_REPORTS / run.run_dir.name)
    host = "http://ingest:8000" if pipeline else "http://sandbox:8080"
    args = [*traffic_args(plan, inside), *status_args(inside), "--metrics-url", "http://sandbox:8080/metrics"]
    for name in senders:  # container names resolve on the project's network
        args += ["--metrics-url", f"http://{name}:{_SENDER_METRICS_PORT}/metrics"]
    waited = 120
    command = project.command(*(["--profile", "pipeline"] if pipeline else []), "run", "--rm", "--use-aliases",
                              "-e", f"LOCUST_HOST={host}", "master", "--headless", "--expect-workers",
                              str(plan.workers), "--expect-workers-max-wait", str(waited), *args)  # fmt: skip
    with open(run.run_dir / "locust-master.log", "wb") as log:
        popen = subprocess.Popen(command, env=project.env, cwd=project.files[0].parent, stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    watcher = threading.Thread(target=_watch_master, args=(project, run.cpu, popen), daemon=True)
    watcher.start()

    def stop() -> None:
        popen.terminate()
        popen.wait(30)

    code = wait_for_master(
        run, popen, "pipeline" if pipeline else "direct", plan.duration + waited + 90, stop
    )
    require_statistics(run.run_dir, code)


def _watch_master(project: ComposeProject, cpu: CpuSampler | None, popen: subprocess.Popen[bytes]) -> None:
    """The one-off master container appears once compose has created it: watch its CPU from then on."""
    deadline = time.monotonic() + 60
    while cpu is not None and popen.poll() is None and time.monotonic() < deadline:
        found = project.containers("master")
        pid = project.pid(found[0]) if found else None
        if pid:
            cpu.watch("locust-master", pid)
            return
        time.sleep(0.5)
