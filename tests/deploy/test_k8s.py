"""Kubernetes manifests: every overlay rendered by ``kubectl kustomize`` validates strictly offline, and
the wiring holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.k8s import container_env, file_values, render, render_text, secret_values

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAYS = ["small", "large", "ci"]
KUBERNETES_VERSION = "1.32.0"
# Ports each image role listens on, from deploy/docker/entrypoint.sh and the services' CLIs.
ROLE_PORTS = {"sandbox": {8080}, "master": {8089, 5557}, "ingest": {8000}, "sender": {9100}}


def _rendered(overlay: str) -> list[dict[str, Any]]:
    return render(K8S / "overlays" / overlay)


def _by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def _workloads(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] in {"Deployment", "Job"}]


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_strictly(overlay: str) -> None:
    """Every resource of the overlay passes kubernetes-validate --strict for the pinned version."""
    resources = _rendered(overlay)
    assert len(resources) >= 8
    for resource in resources:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_validate_cli_on_rendered_overlay(tmp_path: Path) -> None:
    """The kubernetes-validate command itself accepts the rendered large overlay and rejects a typo."""
    out = tmp_path / "large.yaml"
    out.write_text(render_text(K8S / "overlays" / "large"))
    cli = [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", KUBERNETES_VERSION, "--quiet"]
    assert subprocess.run([*cli, str(out)], capture_output=True).returncode == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text(out.read_text().replace("readOnlyRootFilesystem", "readOnlyRootFileSystem", 1))
    result = subprocess.run([*cli, str(broken)], capture_output=True, text=True)
    assert result.returncode != 0 and "readOnlyRootFileSystem" in result.stdout + result.stderr


def test_extras_validate_and_target_the_sender() -> None:
    """The adapter rules ConfigMap validates; the KEDA ScaledObject (a CRD) scales the sender Deployment."""
    adapter = yaml.safe_load((K8S / "extras" / "prometheus-adapter-rules.yaml").read_text())
    kubernetes_validate.validate(adapter, KUBERNETES_VERSION, strict=True)
    rule = yaml.safe_load(adapter["data"]["config.yaml"])["externalRules"][0]
    assert rule["name"]["as"] == "pipeline_consumer_lag"
    keda = yaml.safe_load((K8S / "extras" / "keda-scaledobject.yaml").read_text())
    assert keda["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "pipeline-sender",
    }
    hpa = _by_kind(_rendered("large"), "HorizontalPodAutoscaler")["pipeline-sender"]
    assert keda["spec"]["maxReplicaCount"] == hpa["spec"]["maxReplicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_hpas_target_existing_deployments(overlay: str) -> None:
    """Each HPA scales a Deployment of the overlay; the worker's on CPU, the sender's on consumer lag."""
    resources = _rendered(overlay)
    deployments = _by_kind(resources, "Deployment")
    hpas = _by_kind(resources, "HorizontalPodAutoscaler")
    for hpa in hpas.values():
        ref = hpa["spec"]["scaleTargetRef"]
        assert ref["kind"] == "Deployment" and ref["name"] in deployments
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert hpas["locust-worker"]["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    if "pipeline-sender" in hpas:
        external = hpas["pipeline-sender"]["spec"]["metrics"][0]
        assert external["type"] == "External"
        assert external["external"]["metric"]["name"] == "pipeline_consumer_lag"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_select_pods_and_ports_match(overlay: str) -> None:
    """Every Service selects a workload's pods and each target port is a port that pod declares."""
    resources = _rendered(overlay)
    workloads = _workloads(resources)
    for service in _by_kind(resources, "Service").values():
        selector = service["spec"]["selector"]
        pods = [_pod(w) for w in workloads if selector.items() <= _pod(w)["metadata"]["labels"].items()]
        assert len(pods) == 1, f"Service {service['metadata']['name']} selects {len(pods)} workloads"
        declared = {
            p["name"]: p["containerPort"] for c in pods[0]["spec"]["containers"] for p in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in declared, f"{service['metadata']['name']}: {port}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_references_resolve(overlay: str) -> None:
    """ConfigMaps, Secrets, PVCs and Service host names that pods use all exist in the overlay."""
    resources = _rendered(overlay)
    names = {
        kind: set(_by_kind(resources, kind))
        for kind in ("ConfigMap", "Secret", "Service", "PersistentVolumeClaim")
    }
    for workload in _workloads(resources):
        spec = _pod(workload)["spec"]
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in names["ConfigMap"]
            if "secret" in volume:
                secret = _by_kind(resources, "Secret").get(volume["secret"]["secretName"])
                assert secret is not None, volume
                keys = set(secret.get("data", {})) | set(secret.get("stringData", {}))
                assert {item["key"] for item in volume["secret"].get("items", [])} <= keys, volume
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in names["PersistentVolumeClaim"]
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                kind, ref = (
                    ("Secret", source["secretRef"])
                    if "secretRef" in source
                    else ("ConfigMap", source["configMapRef"])
                )
                assert ref["name"] in names[kind]
            env = {e["name"]: e for e in container.get("env", [])}
            for entry in env.values():
                if "valueFrom" in entry:
                    assert entry["valueFrom"]["secretKeyRef"]["name"] in names["Secret"]
            if "LOCUST_MASTER_NODE_HOST" in env:
                assert env["LOCUST_MASTER_NODE_HOST"]["value"] in names["Service"]
    config = _by_kind(resources, "ConfigMap")
    if "pipeline-config" in config:
        for key in ("PIPELINE_REDIS_URL", "SENDER_TARGET"):
            host = config["pipeline-config"]["data"][key].split("//")[1].split(":")[0]
            assert host in names["Service"], f"{key} points at {host}, which no Service provides"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_hardened_and_bounded(overlay: str) -> None:
    """Every container runs as non-root, read-only, no capabilities, with requests and limits."""
    for workload in _workloads(_rendered(overlay)):
        spec = _pod(workload)["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] > 0
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
            for section in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][section])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_hit_the_ports_and_paths_the_services_serve(overlay: str) -> None:
    """HTTP probes use declared ports and real endpoints; roles listen where the image says."""
    real_paths = {"sandbox": "/__sandbox/health", "ingest": "/health", "sender": "/health", "master": "/"}
    for workload in _workloads(_rendered(overlay)):
        for container in _pod(workload)["spec"]["containers"]:
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            if not container["image"].startswith("customerio-load-scale"):
                continue
            role = container.get("args", [""])[0]
            if role in ROLE_PORTS:
                assert set(ports.values()) <= ROLE_PORTS[role]
            for probe_name in ("readinessProbe", "livenessProbe"):
                probe = container.get(probe_name)
                if probe and "httpGet" in probe:
                    assert probe["httpGet"]["port"] in ports
                    assert probe["httpGet"]["path"] == real_paths[role]
                if probe and "tcpSocket" in probe:
                    assert probe["tcpSocket"]["port"] in ports


def test_ci_job_is_headless_and_expects_the_worker_count() -> None:
    """The CI overlay runs the master as a Job that expects exactly the fixed worker count."""
    resources = _rendered("ci")
    assert "locust-master" not in _by_kind(resources, "Deployment")
    job = _by_kind(resources, "Job")["locust-master"]
    container = _pod(job)["spec"]["containers"][0]
    assert "--headless" in container["args"] and "--exit-code-on-error" in container["args"]
    env = {e["name"]: e["value"] for e in container["env"]}
    hpa = _by_kind(resources, "HorizontalPodAutoscaler")["locust-worker"]["spec"]
    assert int(env["EXPECT_WORKERS"]) == hpa["minReplicas"] == hpa["maxReplicas"]
    assert [p["port"] for p in _by_kind(resources, "Service")["locust-master"]["spec"]["ports"]] == [5557]


def test_locustfiles_come_from_the_configmap() -> None:
    """Locust pods mount the generated locustfiles ConfigMap where LOCUSTFILE points."""
    resources = _rendered("small")
    config = _by_kind(resources, "ConfigMap")["locustfiles"]
    assert "locustfile.py" in config["data"]
    for name in ("locust-master", "locust-worker"):
        pod = _pod(_by_kind(resources, "Deployment")[name])["spec"]
        container = pod["containers"][0]
        mount = next(m for m in container["volumeMounts"] if m["name"] == "locustfiles")
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["LOCUSTFILE"] == f"{mount['mountPath']}/locustfile.py"


def test_configmap_locustfile_loads_the_suites_users() -> None:
    """The thin locustfile shipped in the ConfigMap imports the image's users (locust --list)."""
    env = {**os.environ, "PYTHONPATH": str(K8S.parents[1])}
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(K8S / "base" / "locustfiles" / "locustfile.py"), "--list"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert {"IdentifyUser", "TrackUser", "BatchUser"} <= set(result.stdout.split())


def _read(workloads: dict[str, dict[str, Any]], name: str, resources: list[dict[str, Any]]) -> dict[str, str]:
    """What the first container of ``name`` reads through NAME_FILE from its mounted Secret."""
    pod = _pod(workloads[name])
    return file_values(pod, pod["spec"]["containers"][0], resources)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sandbox_accepts_every_key_the_locust_pods_send(overlay: str) -> None:
    """The sandbox's workspace is exactly the site id and Track, App and Pipelines keys Locust sends
    (each read from a file of the mounted Secret); ingest and senders take site id and Track key; the
    master's sampler sends the sandbox's admin token."""
    resources = _rendered(overlay)
    workloads = {w["metadata"]["name"]: w for w in _workloads(resources)}
    sandbox = _read(workloads, "sandbox", resources)
    checked = 0
    for name in ("locust-worker", "locust-master"):
        if name not in workloads:
            continue
        env = _read(workloads, name, resources)
        sent = [env[k] for k in ("CIO_SITE_ID", "CIO_API_KEY", "CIO_APP_API_KEY", "CIO_CDP_API_KEY")]
        assert sandbox["SANDBOX_WORKSPACES"] == ":".join(sent), name
        for pipeline in ("pipeline-ingest", "pipeline-sender"):
            if pipeline in workloads:
                assert _read(workloads, pipeline, resources)["PIPELINE_WORKSPACES"] == ":".join(sent[:2])
                checked += 1
        checked += 1
    assert (
        _read(workloads, "locust-master", resources)["SANDBOX_ADMIN_TOKEN"] == sandbox["SANDBOX_ADMIN_TOKEN"]
    )
    assert checked >= 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_credential_in_any_container_environment(overlay: str) -> None:
    """Secrets are mounted files, never environment (``kubectl describe pod`` and the node's runtime
    show a container's environment): no envFrom/valueFrom of a Secret, no Secret value in any env."""
    resources = _rendered(overlay)
    values = secret_values(resources)
    assert len(values) >= 5
    for workload in _workloads(resources):
        for container in _pod(workload)["spec"]["containers"]:
            assert not [s for s in container.get("envFrom", []) if "secretRef" in s], workload["metadata"]
            assert not [e for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})]
            env = container_env(container, resources)
            assert not [k for k, v in env.items() if any(secret in v for secret in values)], env


def test_monitoring_prometheus_scrapes_the_sandbox_with_its_token() -> None:
    """components/monitoring: the sandbox job sends the admin token from the file the Secret mounts in
    the Prometheus pod (the sandbox's own token); every ingest/sender replica through a headless
    Service on its metrics port; the pods keep their annotations for annotation-driven scrapers."""
    for overlay in ("small", "large"):
        resources = _rendered(overlay)
        workloads = {w["metadata"]["name"]: w for w in _workloads(resources)}
        config = yaml.safe_load(
            _by_kind(resources, "ConfigMap")["prometheus-config"]["data"]["prometheus.yml"]
        )
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        token_file = jobs["sandbox"]["authorization"]["credentials_file"]
        pod = _pod(workloads["prometheus"])
        container = pod["spec"]["containers"][0]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mounts[token_file.rsplit("/", 1)[0]])
        key = next(i["key"] for i in volume["secret"]["items"] if i["path"] == token_file.rsplit("/", 1)[1])
        assert key == "SANDBOX_ADMIN_TOKEN"
        assert jobs["sandbox"]["static_configs"][0]["targets"] == ["sandbox:8080"]
        assert "sandbox" in _by_kind(resources, "Service")
        annotated = {
            w["metadata"]["name"]
            for w in _workloads(resources)
            if _pod(w)["metadata"].get("annotations", {}).get("prometheus.io/scrape") == "true"
        }
        assert annotated == {"pipeline-ingest", "pipeline-sender"}, annotated
        services = _by_kind(resources, "Service")
        for job, workload in (("ingest", "pipeline-ingest"), ("sender", "pipeline-sender")):
            (sd,) = jobs[job]["dns_sd_configs"]
            (name,) = sd["names"]
            service = services[name]["spec"]
            assert service["clusterIP"] == "None", name  # headless: one record per replica
            labels = _pod(workloads[workload])["metadata"]["labels"]
            assert service["selector"].items() <= labels.items(), name
            container = _pod(workloads[workload])["spec"]["containers"][0]
            assert sd["port"] in {p["containerPort"] for p in container["ports"]}, job
