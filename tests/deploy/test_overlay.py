"""``python -m deploy.capacity --kustomize DIR``: the plan as an overlay over deploy/k8s, rendered by
``kubectl kustomize`` and validated strictly, at the planned size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deploy import capacity
from tests.support.k8s import container_env, render

KUBERNETES_VERSION = "1.32.0"


def _named(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def _container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return found


def test_the_overlay_runs_the_planned_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """50M/day: 3 workers exactly, 2 senders scaling up to the 6 partitions, batches of 40, 2,083 calls/s."""
    overlay = tmp_path / "plan"
    assert capacity.main(["--events-per-day", "50M", "--kustomize", str(overlay), "--run-minutes", "15"]) == 0
    assert f"kubectl apply -k {overlay}" in capsys.readouterr().out
    plan = capacity.plan(50e6, peak_factor=3)
    resources = render(overlay)
    for resource in resources:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    assert {r["metadata"].get("namespace") for r in resources if r["kind"] != "Namespace"} == {
        "loadtest-plan"
    }

    assert _named(resources, "Deployment", "locust-worker")["spec"]["replicas"] == plan.locust_workers == 3
    worker_hpa = _named(resources, "HorizontalPodAutoscaler", "locust-worker")["spec"]
    assert (worker_hpa["minReplicas"], worker_hpa["maxReplicas"]) == (3, 3)
    assert _named(resources, "Deployment", "pipeline-sender")["spec"]["replicas"] == plan.sender_workers == 2
    sender_hpa = _named(resources, "HorizontalPodAutoscaler", "pipeline-sender")["spec"]
    assert (sender_hpa["minReplicas"], sender_hpa["maxReplicas"]) == (2, plan.partitions)
    sender = _container(_named(resources, "Deployment", "pipeline-sender"), "sender")
    assert container_env(sender, resources)["PIPELINE_MAX_BATCH_OPERATIONS"] == str(plan.batch_size) == "40"

    job = _named(resources, "Job", "locust-master")
    master = _container(job, "master")
    env = container_env(master, resources)
    assert env["EXPECT_WORKERS"] == "3" and env["LOCUST_HOST"] == "http://pipeline-ingest:8000"
    assert (env["LOCUST_SHAPE"], env["LOCUST_TARGET_RATE"], env["LOCUST_SHAPE_DURATION"]) == (
        "arrival", f"{plan.test_rps:.1f}", "15m")  # fmt: skip
    assert master["args"][-2:] == ["IdentifyUser", "TrackUser"] and master["args"][0] == "master"
    # Accounting: the sandbox appends arrivals to the master's report claim, on the same node.
    sandbox = _named(resources, "Deployment", "sandbox")
    sandbox_env = container_env(_container(sandbox, "sandbox"), resources)
    assert sandbox_env["SANDBOX_ARRIVALS_DIR"] == "/app/reports/arrivals"
    claims = {v["persistentVolumeClaim"]["claimName"] for w in (job, sandbox)
              for v in w["spec"]["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v}  # fmt: skip
    assert claims == {"locust-reports"}
    affinity = job["spec"]["template"]["spec"]["affinity"]["podAffinity"]
    assert (
        affinity["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"]
        == "kubernetes.io/hostname"
    )

    topic = yaml.safe_load((overlay / "kafka-topic.yaml").read_text())
    assert (topic["kind"], topic["spec"]["partitions"]) == ("KafkaTopic", plan.partitions)
    assert "kubectl -n loadtest-plan wait" in (overlay / "kustomization.yaml").read_text()


def test_the_direct_tier_overlay_has_no_pipeline(tmp_path: Path) -> None:
    """500K/day is the direct tier: the workers hit the sandbox, no ingest, senders or topic."""
    assert capacity.main(["--events-per-day", "500K", "--kustomize", str(tmp_path / "d")]) == 0
    resources = render(tmp_path / "d")
    for resource in resources:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    names = {r["metadata"]["name"] for r in resources}
    assert not names & {"pipeline-ingest", "pipeline-sender", "redis"}
    master = _container(_named(resources, "Job", "locust-master"), "master")
    assert container_env(master, resources)["LOCUST_HOST"] == "http://sandbox:8080"
    assert not (tmp_path / "d" / "kafka-topic.yaml").exists()


def test_a_file_in_the_way_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").write_text("")
    assert capacity.main(["--events-per-day", "50M", "--kustomize", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is a file" in err
