"""Every Deployment and Job ``kubectl kustomize`` renders, started in the local engine as the kubelet
would start it, and its declared probes answering.

No cluster runs here, but a pod spec can still be proven: same image, command, args (``$(VAR)``
expanded) and env (envFrom, ConfigMap keys), ConfigMap and Secret volumes as read-only mounted files,
emptyDir as tmpfs, a PVC as a writable directory, the pod's user, read-only root and dropped
capabilities; one network per overlay on which every Service name resolves to the pod it selects.
A container spec already proven in an earlier overlay is not started again. What cannot be pulled
here gets a stand-in: ``redis:*`` is Debian's redis-server (with the official image's
``--protected-mode no``), ``prom/prometheus:*`` Debian's prometheus, and the external Kafka the
pipeline ConfigMap names is Tansu. Then: Prometheus (components/monitoring) reads a sandbox series
with the token from the mounted Secret, and no Secret value is in any container's ``docker inspect``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.containers import (
    MANIFEST_IMAGE,
    ROOT,
    SUITE_IMAGE,
    TOOLS_IMAGE,
    docker,
    http_json,
    wait_until,
)
from tests.support.k8s import container_args, container_env, render, secret_values, volume_files

OVERLAYS = ["small", "large", "ci"]
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


@dataclass
class Started:
    """One container started from a pod spec, and what its probes need."""

    where: str
    name: str
    spec: dict[str, Any]

    def probe_ok(self, env: dict[str, str], probe: dict[str, Any]) -> bool:
        ports = {p["name"]: p["containerPort"] for p in self.spec.get("ports", [])}
        if "exec" in probe:
            return docker(env, "exec", self.name, *probe["exec"]["command"], timeout=30).returncode == 0
        address = _address(env, self.name)
        if "httpGet" in probe:
            port = ports.get(probe["httpGet"]["port"], probe["httpGet"]["port"])
            try:
                url = f"http://{address}:{port}{probe['httpGet']['path']}"
                with urllib.request.urlopen(url, timeout=3) as answer:  # noqa: S310 - our container
                    return 200 <= answer.status < 400
            except OSError:
                return False
        port = ports.get(probe["tcpSocket"]["port"], probe["tcpSocket"]["port"])
        try:
            with socket.create_connection((address, int(port)), timeout=3):
                return True
        except OSError:
            return False


def _address(env: dict[str, str], container: str) -> str:
    listed = docker(
        env, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container
    )
    return listed.stdout.split()[0]


def _selected_by(pod: dict[str, Any], resources: list[dict[str, Any]]) -> list[str]:
    labels = pod["metadata"].get("labels", {})
    return [
        r["metadata"]["name"]
        for r in resources
        if r["kind"] == "Service" and r["spec"]["selector"].items() <= labels.items()
    ]


def _stand_in(image: str, args: list[str]) -> tuple[str, list[str]]:
    if image.startswith("redis:"):
        return TOOLS_IMAGE, [*args, "--protected-mode", "no"]
    if image.startswith("prom/prometheus:"):  # its entrypoint is the binary; the args are the same
        return TOOLS_IMAGE, ["prometheus", *args]
    assert image == MANIFEST_IMAGE, f"no local image for {image}: add a stand-in"
    return SUITE_IMAGE, args


def _run_args(
    pod: dict[str, Any], container: dict[str, Any], resources: list[dict[str, Any]], files: Path
) -> list[str]:
    """``docker run`` options for ``container`` of ``pod`` (volumes, user, hardening, env)."""
    spec = pod["spec"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    options: list[str] = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "configMap" in volume or "secret" in volume:
            folder = files / mount["name"]
            folder.mkdir(mode=0o755, parents=True, exist_ok=True)
            # The kubelet's default mode for both (defaultMode 0644): the pod's user reads them.
            mode = (volume.get("secret") or volume["configMap"]).get("defaultMode", 0o644)
            for file_name, content in volume_files(volume, resources).items():
                (folder / file_name).write_text(content)
                (folder / file_name).chmod(mode)
            options += ["-v", f"{folder}:{mount['mountPath']}:ro"]
        elif "emptyDir" in volume:
            options += ["--tmpfs", mount["mountPath"]]
        elif "persistentVolumeClaim" in volume:
            folder = files / mount["name"]
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o777)
            options += ["-v", f"{folder}:{mount['mountPath']}"]
        else:
            raise AssertionError(f"volume kind of {volume} has no local equivalent here")
    pod_context = spec.get("securityContext", {})
    context = {**pod_context, **container.get("securityContext", {})}
    if "runAsUser" in context:
        options += ["--user", f"{context['runAsUser']}:{context.get('runAsGroup', context['runAsUser'])}"]
    if context.get("readOnlyRootFilesystem"):
        options.append("--read-only")
    options += [f"--cap-drop={cap}" for cap in context.get("capabilities", {}).get("drop", [])]
    if context.get("allowPrivilegeEscalation") is False:
        options += ["--security-opt", "no-new-privileges"]
    if container.get("command"):
        options += ["--entrypoint", container["command"][0]]
    return options


@pytest.fixture
def cleanup(images: dict[str, str]) -> Iterator[list[str]]:
    """Names of containers and networks to remove at the end, logs printed first."""
    names: list[str] = []
    yield names
    for name in reversed(names):
        if docker(images, "network", "inspect", name).returncode == 0:
            docker(images, "network", "rm", name)
        else:
            print(
                f"----- {name}\n{(logs := docker(images, 'logs', '--tail', '20', name)).stdout}{logs.stderr}"
            )
            docker(images, "rm", "-f", name)


def test_every_rendered_pod_starts_and_its_probes_answer(images: dict[str, str], cleanup: list[str]) -> None:
    env = images
    files = Path(tempfile.mkdtemp(prefix="k8s-pods-"))
    files.chmod(0o755)
    suffix = f"{os.getpid()}-{int(time.time()) % 100000}"
    proven: set[str] = set()
    started: list[Started] = []
    secrets: set[str] = set()
    try:
        for overlay in OVERLAYS:
            resources = render(ROOT / "deploy" / "k8s" / "overlays" / overlay)
            secrets |= secret_values(resources)
            network = f"k8s-{overlay}-{suffix}"
            assert docker(env, "network", "create", network).returncode == 0
            cleanup.append(network)
            config = {r["metadata"]["name"]: r.get("data", {}) for r in resources if r["kind"] == "ConfigMap"}
            bootstrap = config.get("pipeline-config", {}).get("KAFKA_BOOTSTRAP_SERVERS")
            if bootstrap:  # Kafka is external to the manifests: a Tansu broker under that name
                host, port = bootstrap.split(":")
                name = f"k8s-{overlay}-kafka-{suffix}"
                cleanup.append(name)
                url = f"tcp://{host}:{port}"
                done = docker(env, "run", "-d", "--name", name, "--network", network, "--network-alias", host,
                              TOOLS_IMAGE, "tansu", "broker", "--listener-url", f"tcp://0.0.0.0:{port}",
                              "--advertised-listener-url", url, "--storage-engine", "memory://tansu/")  # fmt: skip
                assert done.returncode == 0, done.stderr
            for workload in (r for r in resources if r["kind"] in {"Deployment", "Job"}):
                pod = workload["spec"]["template"]
                aliases = [a for s in _selected_by(pod, resources) for a in ("--network-alias", s)]
                for container in pod["spec"]["containers"]:
                    container_environment = container_env(container, resources)
                    args = [
                        *container.get("command", [])[1:],
                        *container_args(container, container_environment),
                    ]
                    key = json.dumps([container["image"], container.get("command"), args,
                                      container_environment, container.get("volumeMounts")], sort_keys=True)  # fmt: skip
                    if key in proven:
                        continue
                    proven.add(key)
                    image, args = _stand_in(container["image"], args)
                    name = f"k8s-{overlay}-{workload['metadata']['name']}-{container['name']}-{suffix}"
                    cleanup.append(name)
                    options = _run_args(
                        pod, container, resources, files / overlay / workload["metadata"]["name"]
                    )
                    environment = [
                        arg for k, v in container_environment.items() for arg in ("-e", f"{k}={v}")
                    ]
                    done = docker(env, "run", "-d", "--name", name, "--network", network, *aliases, *options,
                                  *environment, image, *args)  # fmt: skip
                    assert done.returncode == 0, f"{name}: {done.stderr}"
                    started.append(
                        Started(
                            f"{overlay}/{workload['kind']}/{workload['metadata']['name']}", name, container
                        )
                    )
        assert len(started) >= 7, [s.where for s in started]
        pending = {(s.where, kind): (s, s.spec[kind]) for s in started for kind in PROBES if kind in s.spec}
        assert pending, "no probes declared"
        deadline = time.monotonic() + 240
        while pending and time.monotonic() < deadline:
            for key, (container, probe) in list(pending.items()):
                if container.probe_ok(env, probe):
                    del pending[key]
            time.sleep(2)
        assert not pending, f"probes that never answered: {sorted(pending)}"

        # components/monitoring's Prometheus scrapes the sandbox beyond loopback: only with the
        # token it read from the mounted Secret does a sandbox series come back through its API.
        prometheus = next(s for s in started if s.where.endswith("/Deployment/prometheus"))
        api = f"http://{_address(env, prometheus.name)}:9090/api/v1/query?query="
        query = urllib.parse.quote('sandbox_rate_limit_per_second{job="sandbox",api="track"}')

        def sandbox_series() -> Any:
            answer = http_json(api + query)
            return answer["status"] == "success" and answer["data"]["result"]

        series = wait_until("a sandbox series read back through Prometheus", sandbox_series, 90, interval=2)
        assert float(series[0]["value"][1]) > 0, series

        def jobs_up() -> Any:
            answer = http_json(api + urllib.parse.quote("up == 1"))
            jobs = {r["metric"]["job"] for r in answer["data"]["result"]}
            return {"sandbox", "ingest", "sender"} <= jobs and jobs

        wait_until("Prometheus scraping sandbox, ingest and sender", jobs_up, 60, interval=2)

        # Secrets are files in the pods: no value in any container's docker inspect output.
        assert len(secrets) >= 5
        inspected = docker(env, "inspect", *(s.name for s in started)).stdout
        assert len(json.loads(inspected)) == len(started)
        leaked = sorted(value for value in secrets if value in inspected)
        assert not leaked, f"Secret values in docker inspect output: {leaked}"
    finally:
        shutil.rmtree(files, ignore_errors=True)
