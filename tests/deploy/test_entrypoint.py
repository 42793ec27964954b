"""The image's entry point and health probe, run for real on this machine (no container engine)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plumbing.ports import free_port
from runs.processes import ManagedProcess, start_service
from tests.deploy.conftest import CLUSTER_LOCUSTFILE
from tests.support.kafka import running_broker
from tests.support.redis import running_redis

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"


def _env(**extra: str) -> dict[str, str]:
    # The image has the venv's bin on PATH and /app on PYTHONPATH; mirror that here.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, "PATH": path, "PYTHONPATH": str(ROOT), **extra}


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), "healthcheck", *args], env=_env(), capture_output=True, text=True, timeout=30
    )


def test_healthcheck_url_against_the_real_sandbox(sandbox: ManagedProcess) -> None:
    """The sandbox health endpoint the probes use answers; a wrong path or closed port does not."""
    healthy = _probe(f"{sandbox.url}/__sandbox/health")
    assert (healthy.returncode, healthy.stdout.strip()) == (0, "healthy")
    wrong = _probe(f"{sandbox.url}/__sandbox/no-such-thing")
    assert wrong.returncode == 1 and "answered 404" in wrong.stdout
    closed = _probe("--tcp", f"127.0.0.1:{free_port()}")
    assert closed.returncode == 1 and "refused" in closed.stdout


def test_healthcheck_file_age_and_usage(tmp_path: Path) -> None:
    """A fresh file is healthy, an old or missing one is not; no target at all is a usage error."""
    beat = tmp_path / "beat"
    assert _probe("--file", str(beat)).returncode == 1
    beat.touch()
    assert _probe("--file", str(beat), "--max-age", "30").returncode == 0
    os.utime(beat, (time.time() - 60, time.time() - 60))
    stale = _probe("--file", str(beat), "--max-age", "30")
    assert stale.returncode == 1 and "master silent" in stale.stdout
    usage = _probe()
    assert usage.returncode == 2 and "exactly one of" in usage.stderr


def test_sandbox_role_starts_the_sandbox(tmp_path: Path) -> None:
    """`entrypoint.sh sandbox` runs the real sandbox (bound to loopback here, 0.0.0.0 in a container)."""
    argv = ["sh", str(ENTRYPOINT), "sandbox", "--bind", "127.0.0.1", "--port", "0"]
    with start_service("sandbox-role", argv, log_dir=tmp_path, env=_env(), python_module=False) as process:
        assert _probe(f"{process.url}/__sandbox/health").returncode == 0
        assert _probe(f"{process.url}/metrics").returncode == 0


@pytest.mark.slow
def test_master_and_worker_roles_run_a_distributed_test(sandbox: ManagedProcess, tmp_path: Path) -> None:
    """`entrypoint.sh --headless ...` (the master) and `entrypoint.sh worker` connect and finish a run."""
    port = free_port()
    env = _env(
        LOCUSTFILE=str(CLUSTER_LOCUSTFILE),
        LOCUST_HOST=sandbox.url,
        LOCUST_MASTER_NODE_HOST="127.0.0.1",
        LOCUST_MASTER_NODE_PORT=str(port),
        LOCUST_HEARTBEAT_FILE=str(tmp_path / "heartbeat"),
    )
    master_args = ["--headless", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
    master_args += ["--expect-workers", "1", "-u", "2", "-r", "2", "-t", "2s", "--only-summary"]
    with open(tmp_path / "master.log", "wb") as master_log, open(tmp_path / "worker.log", "wb") as worker_log:
        # Options without a role start the master (the `docker compose run master --headless` form).
        master = subprocess.Popen(
            ["sh", str(ENTRYPOINT), *master_args],
            env=env,
            stdout=master_log,
            stderr=subprocess.STDOUT,
        )
        worker = subprocess.Popen(
            ["sh", str(ENTRYPOINT), "worker"], env=env, stdout=worker_log, stderr=subprocess.STDOUT
        )
        try:
            assert master.wait(60) == 0
            assert worker.wait(30) == 0
        finally:
            for process in (master, worker):
                if process.poll() is None:
                    process.kill()
    assert "1 workers connected" in (tmp_path / "master.log").read_text()
    # The worker plugin touched the heartbeat file the container probe watches.
    assert _probe("--file", str(tmp_path / "heartbeat"), "--max-age", "60").returncode == 0


def test_pipeline_roles_serve_the_probed_endpoints(sandbox: ManagedProcess, tmp_path: Path) -> None:
    """`entrypoint.sh ingest|sender` start the real services; /health and /metrics answer as probed."""
    with running_broker(log_dir=tmp_path) as broker, running_redis() as redis_url:
        ingest_argv = ["sh", str(ENTRYPOINT), "ingest", "--bind", "127.0.0.1", "--port", "0"]
        ingest_argv += ["--bootstrap-servers", broker.bootstrap]
        sender_argv = ["sh", str(ENTRYPOINT), "sender", "--bootstrap-servers", broker.bootstrap]
        sender_argv += ["--target", sandbox.url, "--redis-url", redis_url, "--session-timeout-ms", "6000"]
        sender_argv += ["--metrics-bind", "127.0.0.1", "--metrics-port", "0"]
        start = {"log_dir": tmp_path, "env": _env(), "python_module": False, "ready_timeout": 60.0}
        with start_service("ingest-role", ingest_argv, **start) as ingest:
            with start_service("sender-role", sender_argv, **start) as sender:
                for service in (ingest, sender):
                    for path in ("/health", "/metrics"):
                        result = _probe(f"{service.url}{path}")
                        assert result.returncode == 0, f"{service.name} {path}: {result.stdout}"
