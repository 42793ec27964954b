"""The capacity plan as a Kustomize overlay over ``deploy/k8s``: ``python -m deploy.capacity ... --kustomize DIR``.

The overlay is the scale run on a cluster: the base (sandbox, Locust workers) with the headless
master Job and, for the queue tiers, the pipeline component, at the planned size: Locust workers fixed
at the plan's count (the Job waits for exactly that many), senders at the plan's count with an HPA
from there up to the partition count (more would sit idle), the senders' batch size, and the master
driving the planned test rate with the same traffic as ``python -m runs scale`` (single identify and
track calls, an arrival-rate shape). Delivery accounting is on: the sandbox appends arrivals to the
master's report volume (the master Job runs on the sandbox's node, so one ReadWriteOnce claim serves
both), and a ``tar`` of the sandbox's ``/app/reports`` gives a run directory that
``python -m analysis.report`` reconciles. Kafka is the cluster's (Strimzi or managed): the topic's
partition count is in ``kafka-topic.yaml`` (a Strimzi KafkaTopic, applied only where Strimzi runs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from deploy.capacity import CapacityPlan

__all__ = ["K8S", "NAMESPACE", "write_overlay"]

K8S = Path(__file__).resolve().parent / "k8s"
NAMESPACE = "loadtest-plan"
_REPORTS = "/app/reports"
_TOPIC = "cio-events"


def write_overlay(plan: CapacityPlan, directory: Path, *, duration_s: float = 600.0) -> list[Path]:
    """Write the overlay's files into ``directory`` (made if missing); returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    pipeline = plan.tier != "direct"
    base = Path(os.path.relpath(K8S, directory.resolve()))
    files: dict[str, Any] = {
        "namespace.yaml": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        "planned-size.yaml": _sizes(plan, pipeline),
        "planned-run.yaml": _run(plan, pipeline, duration_s),
        "kustomization.yaml": _kustomization(plan, pipeline, base),
    }
    if pipeline:
        files["kafka-topic.yaml"] = _topic(plan)
    written = []
    for name, content in files.items():
        path = directory / name
        documents = content if isinstance(content, list) else [content]
        header = _HEADERS.get(name, "").format(**_figures(plan, duration_s))
        path.write_text(header + yaml.safe_dump_all(documents, sort_keys=False))
        written.append(path)
    return written


_HEADERS = {
    "kustomization.yaml": (
        "# The capacity plan for {events} events/day ({tier}) as a scale run on Kubernetes, written by\n"
        "# `python -m deploy.capacity --kustomize`: {workers} Locust workers drive {rate} calls/s for\n"
        "# {duration}{pipeline}.\n"
        "#   kubectl apply -k THIS_DIRECTORY\n"
        "#   kubectl -n {namespace} wait --for=condition=complete job/locust-master --timeout={wait}\n"
        "#   kubectl -n {namespace} exec deploy/sandbox -- tar cf - -C {reports} . | tar xf - -C RUN_DIR\n"
        "#   python -m analysis.report RUN_DIR --slo profiles/pipeline.slo.yaml\n"
    ),
    "kafka-topic.yaml": (
        '# The events topic at the planned {partitions} partitions, for a Strimzi cluster named "kafka"\n'
        "# (kubectl apply -n KAFKA_NAMESPACE -f kafka-topic.yaml). Not part of the overlay: without Strimzi,\n"
        "# create {topic} with {partitions} partitions in your Kafka before the run.\n"
    ),
}


def _figures(plan: CapacityPlan, duration_s: float) -> dict[str, Any]:
    pipeline = plan.tier != "direct"
    senders = (
        f" through ingest, Kafka ({plan.partitions} partitions) and {plan.sender_workers}-{plan.partitions} "
        f"senders (batches of {plan.batch_size})"
        if pipeline
        else " straight to the sandbox (the direct tier)"
    )
    return {
        "events": f"{plan.events_per_day:,.0f}", "tier": plan.tier, "workers": plan.locust_workers,
        "rate": f"{plan.test_rps:,.0f}", "duration": _span(duration_s), "pipeline": senders,
        "namespace": NAMESPACE, "wait": _span(duration_s + 900), "reports": _REPORTS,
        "partitions": plan.partitions, "topic": _TOPIC,
    }  # fmt: skip


def _span(seconds: float) -> str:
    return f"{seconds / 60:g}m" if seconds % 60 == 0 else f"{seconds:g}s"


def _kustomization(plan: CapacityPlan, pipeline: bool, base: Path) -> dict[str, Any]:
    replicas = [{"name": "locust-worker", "count": plan.locust_workers}]
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "resources": ["namespace.yaml", str(base / "base")],
        "components": [str(base / "components" / "master-job")],
        "replicas": replicas,
        "patches": [
            {"path": "planned-size.yaml"},
            {"path": "planned-run.yaml"},
            # The traffic of the scale run: single identify and track calls (ingest speaks Track only).
            {"target": {"kind": "Job", "name": "locust-master"},
             "patch": yaml.safe_dump([{"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": user}
                                      for user in ("IdentifyUser", "TrackUser")])},
        ],
    }  # fmt: skip
    if pipeline:
        kustomization["components"].append(str(base / "components" / "pipeline"))
        replicas.append({"name": "pipeline-sender", "count": plan.sender_workers})
    return kustomization


def _hpa(name: str, low: int, high: int) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name},
            "spec": {"minReplicas": low, "maxReplicas": high}}  # fmt: skip


def _sizes(plan: CapacityPlan, pipeline: bool) -> list[dict[str, Any]]:
    # Exactly the planned workers: the master Job waits for that many (an HPA adding more mid-run
    # would change the rate per worker the run measures).
    sizes = [_hpa("locust-worker", plan.locust_workers, plan.locust_workers)]
    if pipeline:
        sizes.append(_hpa("pipeline-sender", plan.sender_workers, max(plan.sender_workers, plan.partitions)))
        # The senders read their options from this ConfigMap (envFrom): the planned batch size.
        sizes.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pipeline-config"},
                      "data": {"PIPELINE_MAX_BATCH_OPERATIONS": str(plan.batch_size)}})  # fmt: skip
    return sizes


def _run(plan: CapacityPlan, pipeline: bool, duration_s: float) -> list[dict[str, Any]]:
    """The master Job at the planned rate on the sandbox's node, and the sandbox's arrivals beside it."""
    env = {
        "EXPECT_WORKERS": str(plan.locust_workers),
        "LOCUST_HOST": "http://pipeline-ingest:8000" if pipeline else "http://sandbox:8080",
        "LOCUST_SHAPE": "arrival",
        "LOCUST_TARGET_RATE": f"{plan.test_rps:.1f}",
        "LOCUST_USER_RATE": "10",
        "LOCUST_SHAPE_RAMP": "0s",
        "LOCUST_SHAPE_DURATION": _span(duration_s),
        "LOCUST_RUN_TIME": _span(duration_s + 60),  # the shape ends the run; this only bounds it
        "LOCUST_RETRIES": "3",
    }
    sandbox_node = {"labelSelector": {"matchLabels": {"app.kubernetes.io/name": "sandbox"}},
                    "topologyKey": "kubernetes.io/hostname"}  # fmt: skip
    master = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "locust-master"},
        "spec": {"activeDeadlineSeconds": int(duration_s) + 1800, "template": {"spec": {
            "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [sandbox_node]}},
            "containers": [{"name": "master", "env": [{"name": k, "value": v} for k, v in env.items()]}],
        }}},
    }  # fmt: skip
    sandbox = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sandbox"},
        "spec": {"template": {"spec": {
            "securityContext": {"fsGroup": 10001},
            "containers": [{
                "name": "sandbox",
                "env": [{"name": "SANDBOX_ARRIVALS_DIR", "value": f"{_REPORTS}/arrivals"},
                        {"name": "SANDBOX_STORE", "value": "count"}],
                "volumeMounts": [{"name": "reports", "mountPath": _REPORTS}],
            }],
            "volumes": [{"name": "reports", "persistentVolumeClaim": {"claimName": "locust-reports"}}],
        }}},
    }  # fmt: skip
    return [master, sandbox]


def _topic(plan: CapacityPlan) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
        "metadata": {"name": _TOPIC, "labels": {"strimzi.io/cluster": "kafka"}},
        "spec": {"partitions": plan.partitions, "replicas": 3},
    }  # fmt: skip
