"""``python -m runs scale``'s report and ``deploy.capacity --from-run``: plan against measurement."""

from __future__ import annotations

import json
from pathlib import Path

from deploy import capacity
from runs.cpu import CPU_FILE
from runs.scale import measure, render, sized


def _cpu_file(run_dir: Path, shares: dict[str, float], seconds: int = 63) -> None:
    """process_cpu.csv as the sampler writes it: each component busy at ``share`` of a core from t=0."""
    rows = ["timestamp,component,pid,cpu_percent,cpu_seconds"]
    for t in range(seconds):
        rows += [
            f"{1000 + t},{c},{i + 1},{share * 100:g},{share * t:g}"
            for i, (c, share) in enumerate(shares.items())
        ]
        rows.append(f"{1000 + t},host,0,50,{0.5 * t:g}")
    (run_dir / CPU_FILE).write_text("\n".join(rows) + "\n")


def fake_result(run_dir: Path) -> dict[str, object]:
    """What run_pipeline returns for a short scaled run (figures of the shape a real run writes)."""
    (run_dir / "system_history.csv").write_text("timestamp,pipeline_delivered_per_s\n1,250\n2,410\n3,\n")
    workers = {f"locust-worker-{i}": 0.1 for i in range(3)}
    _cpu_file(run_dir, {"sender-0": 0.2, "sender-1": 0.2, "sender-2": 0.9, **workers})
    return {
        "plan": {"rate": 250.0, "senders": 3, "partitions": 6, "workers": 3, "duration": 60.0},
        "load_s": 60.0, "drain_s": 2.0, "client": {"rps": 240.0, "requests": 14_400},
        "load_window": [1000.0, 1060.0], "busy_window": [1000.0, 1062.0],
        # sender-2 was killed: no count, so neither its events nor its CPU are in the per-sender rate.
        "senders_delivered": [7440.0, 7440.0, None],
        "cpu": {"components": {"sender-0": {"mean": 20.0, "max": 40.0}, "sender-1": {"mean": 20.0, "max": 35.0},
                               "locust-worker-0": {"mean": 10.0, "max": 20.0}},
                "saturated_first": None, "busiest": "sender-0", "host_mean": 50.0},
        "delivery": {"lost": 0, "e2e_ms": {"p50": 300.0, "p99": 900.0}},
        "sandbox": {"rate_limited": 0}, "lag_max": 120.0, "passed": True, "checks": {},
    }  # fmt: skip


def test_scale_report_sets_plan_against_measurement(tmp_path: Path) -> None:
    """50M/day plans the queue tier; the report carries both columns, CPU shares, rates per CPU-second."""
    plan = capacity.plan(50e6, peak_factor=3)
    run_plan = sized(plan, 300 / plan.test_rps, 60, 60)
    assert (run_plan.senders, run_plan.partitions) == (plan.sender_workers, plan.partitions)
    assert run_plan.rate == 300.0 and "--max-batch-operations" in run_plan.sender_args
    report = measure(plan, 300 / plan.test_rps, fake_result(tmp_path), tmp_path)
    m = report["measured"]
    assert m["events_per_sender"] == 120.0  # 7,440 events over 62 s
    assert m["sender_cpu_share"] == 0.2
    assert m["events_per_sender_cpu_second"] == 600.0  # 14,880 events / (2 x 62 s x 0.2) CPU-seconds
    assert m["worker_rps"] == 80.0 and m["worker_cpu_share"] == 0.1
    assert m["worker_requests_per_cpu_second"] == 800.0  # 14,400 requests / (3 x 60 s x 0.1)
    assert m["delivered_per_s_max"] == 410.0 and m["host_cpu_percent"] == 50.0
    assert report["holds"] is False and "600 events per CPU-second" in report["reasons"][0]
    assert "under the 2,000/s the plan assumes of one core" in report["reasons"][0]
    assert any("used 20% of a core" in note and "extrapolate" in note for note in report["notes"])
    text = render(report)
    assert "| delivery ceiling (events/s) |" in text and "| plan | measured here |" in text
    assert "120 at 20% of a core = 600 per CPU-second" in text
    assert "does not hold" in text and "Note: a sender used 20% of a core" in text


def test_capacity_from_run_uses_the_measured_rates(tmp_path: Path, capsys) -> None:
    """--from-run reads scale.json: more senders and workers when each does less than assumed."""
    plan = capacity.plan(50e6, peak_factor=3)
    report = measure(plan, 300 / plan.test_rps, fake_result(tmp_path), tmp_path)
    (tmp_path / "scale.json").write_text(json.dumps(report))
    assert capacity.main(["--from-run", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "per CPU-second of the process (planned as one core per process)" in out
    assert "600 events per sender CPU-second (it used 20% of a core: a linear extrapolation" in out
    assert "800 requests per Locust worker CPU-second (it used 10% of a core" in out
    replanned = capacity.plan(50e6, peak_factor=3, events_per_sender=600, worker_rps=800)
    assert replanned.sender_workers > plan.sender_workers
    assert "sender workers" in out and f"= {replanned.sender_workers}\n" in out
    assert capacity.main(["--from-run", str(tmp_path / "nowhere")]) == 2
    assert "run `python -m runs scale` first" in capsys.readouterr().err
