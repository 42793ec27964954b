"""``python -m runs scale``'s report and ``deploy.capacity --from-run``: plan against measurement."""

from __future__ import annotations

import json
from pathlib import Path

from deploy import capacity
from runs.scale import measure, render, sized


def fake_result(run_dir: Path) -> dict[str, object]:
    """What run_pipeline returns for a short scaled run (figures of the shape a real run writes)."""
    (run_dir / "system_history.csv").write_text("timestamp,pipeline_delivered_per_s\n1,250\n2,410\n3,\n")
    return {
        "plan": {"rate": 250.0, "senders": 2, "partitions": 6, "workers": 3, "duration": 60.0},
        "load_s": 60.0, "drain_s": 2.0, "client": {"rps": 240.0},
        "senders_delivered": [7440.0, 7440.0, None],
        "cpu": {"components": {"sender-0": {"mean": 20.0, "max": 40.0}, "sender-1": {"mean": 20.0, "max": 35.0},
                               "locust-worker-0": {"mean": 10.0, "max": 20.0}},
                "saturated_first": None, "busiest": "sender-0"},
        "delivery": {"lost": 0, "e2e_ms": {"p50": 300.0, "p99": 900.0}},
        "sandbox": {"rate_limited": 0}, "lag_max": 120.0, "passed": True, "checks": {},
    }  # fmt: skip


def test_scale_report_sets_plan_against_measurement(tmp_path: Path) -> None:
    """50M/day plans the queue tier; the report carries both columns and per-core rates."""
    plan = capacity.plan(50e6, peak_factor=3)
    run_plan = sized(plan, 300 / plan.test_rps, 60, 60)
    assert (run_plan.senders, run_plan.partitions) == (plan.sender_workers, plan.partitions)
    assert run_plan.rate == 300.0 and "--max-batch-operations" in run_plan.sender_args
    report = measure(plan, 300 / plan.test_rps, fake_result(tmp_path), tmp_path)
    m = report["measured"]
    assert m["events_per_sender"] == 120.0  # 7,440 events over 62 s
    assert m["events_per_sender_per_core"] == 600.0  # at 20% of a core
    assert m["worker_rps"] == 80.0 and m["worker_rps_per_core"] == 800.0
    assert m["delivered_per_s_max"] == 410.0
    assert report["holds"] is False and "under the 2,000 assumed" in report["reasons"][0]
    text = render(report)
    assert "| delivery ceiling (events/s) |" in text and "| plan | measured here |" in text
    assert "does not hold" in text


def test_capacity_from_run_uses_the_measured_rates(tmp_path: Path, capsys) -> None:
    """--from-run reads scale.json: more senders and workers when each does less than assumed."""
    plan = capacity.plan(50e6, peak_factor=3)
    report = measure(plan, 300 / plan.test_rps, fake_result(tmp_path), tmp_path)
    (tmp_path / "scale.json").write_text(json.dumps(report))
    assert capacity.main(["--from-run", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "600 events/s per sender, 800 req/s per Locust worker" in out
    replanned = capacity.plan(50e6, peak_factor=3, events_per_sender=600, worker_rps=800)
    assert replanned.sender_workers > plan.sender_workers
    assert "sender workers" in out and f"= {replanned.sender_workers}\n" in out
    assert capacity.main(["--from-run", str(tmp_path / "nowhere")]) == 2
    assert "run `python -m runs scale` first" in capsys.readouterr().err
