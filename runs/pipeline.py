"""``python -m runs pipeline`` and ``python -m runs direct``: the queue architecture as a load test.

``pipeline`` starts, on loopback, the broker (Tansu, or ``--bootstrap-servers``), Redis (or
``--redis-url``), the sandbox at the Customer.io limit (100 req/s, reject mode), the ingest service
and N senders, then drives single identify/track calls at ten times the limit through ingest. After
the load it waits (at most ``--drain-timeout``) until the queue is drained, stops everything and
reconciles what ingest acknowledged with what reached the sandbox. It passes (exit 0) when the
sandbox answered no 429, the lag drained, and ``profiles/pipeline.slo.yaml`` holds (``lost == 0``...).

``direct`` sends the same traffic straight to the sandbox; ``pipeline --compare-direct`` runs both and
writes ``comparison.md``, side by side: why the queue is needed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePath
from typing import Any, Protocol

from cio_contract import parse_track_rate_limit
from plumbing.errors import SuiteError
from plumbing.options import Parser, report
from runs.cluster import start_local_cluster
from runs.cpu import CPU_FILE, CpuSampler, saturation
from runs.options import PIPELINE, new_run_dir
from runs.processes import ManagedProcess, start_service
from runs.services import create_topics, start_redis, start_tansu

__all__ = ["PipelineRun", "RunPlan", "main", "run_direct", "run_pipeline", "system_series"]

REPO = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO / "locustfiles" / "locustfile.py"
TOPIC, DEAD_LETTERS, GROUP = "cio-events", "cio-events-dlq", "cio-senders"
RESULT_FILE = "pipeline_run.json"


def _d(dest: str) -> Any:
    return PIPELINE.default(dest)


@dataclass(frozen=True)
class RunPlan:
    """What to start and how hard to drive it; the defaults are the options' (``runs.options.PIPELINE``)."""

    rate: float = _d("rate")
    """Calls per second Locust sends (default ten times the 100 req/s limit)."""
    duration: float = _d("duration")
    workers: int = _d("workers")
    senders: int = _d("senders")
    partitions: int = _d("partitions")
    rate_limit: str = _d("rate_limit")
    """The sandbox's Track limit (reject mode) and the senders' budget, as ``--rate-limit`` writes it."""
    drain_timeout: float = _d("drain_timeout")
    bootstrap_servers: str | None = None
    redis_url: str | None = None
    sender_args: tuple[str, ...] = ()
    user_rate: float = 10.0
    sandbox_mode: str = _d("rate_mode")
    analysis: bool = True

    @property
    def limit(self) -> float:
        """The Track limit in requests per second."""
        return parse_track_rate_limit(self.rate_limit).per_second


class MetricsSource(Protocol):
    """A sender the run scrapes: a process it started, or a container (runs.compose)."""

    @property
    def url(self) -> str: ...

    @property
    def pid(self) -> int: ...

    def alive(self) -> bool: ...


@dataclass
class PipelineRun:
    """The processes of one run, in start order (stopped in reverse)."""

    run_dir: Path
    plan: RunPlan
    processes: list[ManagedProcess] = field(default_factory=list)
    sandbox: ManagedProcess | None = None
    ingest: ManagedProcess | None = None
    senders: list[MetricsSource] = field(default_factory=list)
    cpu: CpuSampler | None = None

    def add(self, component: str, process: ManagedProcess) -> ManagedProcess:
        self.processes.append(process)
        if self.cpu is not None:
            self.cpu.watch(component, process.pid)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        if self.cpu is not None:
            self.cpu.stop()


def parser(command: str) -> Parser:
    p = Parser(prog=f"python -m runs {command}", description=__doc__.splitlines()[0])
    PIPELINE.only(f"runs {command}").add_to(p, group=False)
    return p


def main(command: str, argv: Sequence[str]) -> int:
    try:
        values = PIPELINE.only(f"runs {command}").values(parser(command).parse_checked(argv))
        return _main(command, values)
    except SuiteError as exc:  # a bad option, or no run directory where --reports-dir says
        return report("runs", exc)


def _main(command: str, values: dict[str, Any]) -> int:
    reports = values["reports_dir"]
    plan = RunPlan(rate=values["rate"], duration=values["duration"], workers=values["workers"],
                   rate_limit=values["rate_limit"], analysis=not values["no_analysis"])  # fmt: skip
    if command == "direct":
        direct = replace(plan, sandbox_mode=values["rate_mode"])
        direct_dir = new_run_dir(reports, "direct")
        return _reported(lambda: run_direct(direct, direct_dir))
    plan = replace(plan, senders=values["senders"], partitions=values["partitions"],
                   drain_timeout=values["drain_timeout"], bootstrap_servers=values["bootstrap_servers"],
                   redis_url=values["redis_url"])  # fmt: skip
    compared = None
    if values["compare_direct"]:
        compared = new_run_dir(reports, "direct")
        _reported(lambda: run_direct(plan, compared))
    pipeline_dir = new_run_dir(reports, "pipeline")
    code = _reported(lambda: run_pipeline(plan, pipeline_dir))
    if compared is not None:
        table = comparison(compared, pipeline_dir)
        (pipeline_dir / "comparison.md").write_text(table + "\n")
        print(table)
    return code


def _reported(run: Callable[[], dict[str, Any]]) -> int:
    from runs.cluster import ClusterError
    from runs.processes import ServiceStartError

    try:
        result = run()
    except (ServiceStartError, ClusterError) as exc:
        print(f"runs: {str(exc).splitlines()[0]}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1))
    except KeyboardInterrupt:
        print("runs: interrupted; everything started was stopped", file=sys.stderr)
        return 130
    return int(result["exit_code"])


# -- the runs -------------------------------------------------------------------------------------------


def traffic_args(plan: RunPlan, run_dir: PurePath) -> list[str]:
    """Locust options: single identify/track calls at ``plan.rate``, delivery acks, run files."""
    from runs.cli import locust_output_args

    return [
        *locust_output_args(run_dir),
        *("--shape", "arrival", "--target-rate", f"{plan.rate:g}", "--user-rate", f"{plan.user_rate:g}"),
        # No ramp: one spawn message (each costs a worker a blocked loop while Locust parses it).
        *("--shape-ramp", "0s", "--shape-duration", f"{plan.duration:g}s"),
        # ingest answers 503 when it cannot keep a call: the client retries, same body, same id.
        *("--retries", "3"),
        "IdentifyUser",
        "TrackUser",
    ]


def start_sandbox(run: PipelineRun, mode: str) -> ManagedProcess:
    from runs.cli import arrivals_args

    argv = ["sandbox", "--port", "0", "--rate-limit", f"track={run.plan.rate_limit}", "--rate-mode", mode,
            "--store", "count", *arrivals_args(run.run_dir)]  # fmt: skip
    run.sandbox = run.add("sandbox", start_service("sandbox", argv, log_dir=run.run_dir))
    return run.sandbox


def start_pipeline(run: PipelineRun, env: dict[str, str] | None = None) -> None:
    """Broker, Redis, topics, sandbox, ingest and the senders, each added to ``run``."""
    plan, run_dir = run.plan, run.run_dir
    bootstrap = plan.bootstrap_servers
    if bootstrap is None:
        bootstrap = run.add("broker", start_tansu(run_dir)).info["url"]
    redis_url = plan.redis_url or run.add("redis", start_redis(run_dir)).info["redis_url"]
    create_topics(bootstrap, [TOPIC, DEAD_LETTERS], plan.partitions)
    sandbox = start_sandbox(run, "reject")
    kafka = ["--bootstrap-servers", bootstrap, "--topic", TOPIC]
    run.ingest = run.add("ingest", start_service("ingest", ["pipeline", "ingest", "--port", "0", *kafka],
                                                 log_dir=run_dir, env=env))  # fmt: skip
    for index in range(plan.senders):
        argv = ["pipeline", "sender", "--metrics-port", "0", *kafka, "--dead-letter-topic", DEAD_LETTERS,
                "--group-id", GROUP, "--target", sandbox.url, "--redis-url", redis_url,
                "--rate-limit", plan.rate_limit, "--session-timeout-ms", "6000", *plan.sender_args]  # fmt: skip
        name = f"sender-{index}"
        run.senders.append(run.add(name, start_service(name, argv, log_dir=run_dir, env=env)))


def run_pipeline(
    plan: RunPlan, run_dir: Path, *, during: Callable[[PipelineRun], None] | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Start everything, drive the load, drain, stop, reconcile; returns (and writes) the result.

    ``during`` runs in a thread while the load runs (a test kills a sender from there).
    """
    run = PipelineRun(run_dir, plan, cpu=CpuSampler(run_dir / CPU_FILE).start())
    try:
        print(f"runs: pipeline: {plan.senders} senders, {plan.partitions} partitions, sandbox at "
              f"{plan.limit:g} req/s (reject); {plan.rate:g} calls/s for {plan.duration:g} s; files in {run_dir}")  # fmt: skip
        start_pipeline(run, env)
        assert run.ingest is not None and run.sandbox is not None
        wait_for_group(run.senders, plan.partitions)
        metrics = [f"{p.url}/metrics" for p in (run.sandbox, *run.senders)]
        load_started = time.time()
        _drive(run, run.ingest.url, metrics, during)
        load_ended = time.time()
        drain_s = wait_drained(run, plan.drain_timeout)
        totals = sandbox_totals(run.sandbox.url)
        per_sender = [delivered_by(sender) for sender in run.senders]
    finally:
        run.stop()  # the sandbox writes its last arrivals as it stops
    return finish(run, "pipeline", totals, load_started, load_ended, drain_s, per_sender)


def run_direct(plan: RunPlan, run_dir: Path) -> dict[str, Any]:
    """The same traffic straight to the sandbox (at ``plan.sandbox_mode``), for comparison."""
    run = PipelineRun(run_dir, plan, cpu=CpuSampler(run_dir / CPU_FILE).start())
    try:
        print(f"runs: direct: sandbox at {plan.limit:g} req/s ({plan.sandbox_mode}); {plan.rate:g} calls/s "
              f"for {plan.duration:g} s; files in {run_dir}")  # fmt: skip
        sandbox = start_sandbox(run, plan.sandbox_mode)
        load_started = time.time()
        _drive(run, sandbox.url, [], None)
        load_ended = time.time()
        totals = sandbox_totals(sandbox.url)
    finally:
        run.stop()
    return finish(run, "direct", totals, load_started, load_ended, 0.0)


def _drive(
    run: PipelineRun, host: str, metrics: list[str], during: Callable[[PipelineRun], None] | None
) -> None:
    import threading

    from runs.progress import status_args

    args = [*traffic_args(run.plan, run.run_dir), *status_args(run.run_dir)]
    for url in metrics:
        args += ["--metrics-url", url]
    cluster = start_local_cluster(locustfile=LOCUSTFILE, host=host, workers=run.plan.workers,
                                  run_dir=run.run_dir, locust_args=args)  # fmt: skip
    run.processes.extend(cluster.processes)
    if run.cpu is not None:
        run.cpu.watch("locust-master", cluster.master.pid)
        for index, worker in enumerate(cluster.workers):
            run.cpu.watch(f"locust-worker-{index}", worker.pid)
    helper = threading.Thread(target=during, args=(run,), daemon=True) if during else None
    if helper is not None:
        helper.start()
    label = "pipeline" if metrics else "direct"
    code = wait_for_master(run, cluster.master.popen, label, run.plan.duration + 90, cluster.stop)
    cluster.wait(timeout=30)  # workers quit with their master; this reaps them
    if helper is not None:
        helper.join(5)
    require_statistics(run.run_dir, code)


def wait_for_master(
    run: PipelineRun, popen: subprocess.Popen[Any], label: str, timeout: float, stop: Callable[[], None]
) -> int:
    """Wait for the headless master to end, showing the live progress line (runs.progress), with queue
    lag and delivered/s when the pipeline is the target; ``stop()`` it after ``timeout`` s."""
    from runs.cluster import ClusterError
    from runs.progress import STATUS_FILE, RunProgress

    try:
        with RunProgress(run.run_dir / STATUS_FILE, planned_s=run.plan.duration, label=label) as progress:
            return progress.wait(popen, timeout)
    except subprocess.TimeoutExpired:
        stop()
        raise ClusterError(f"Locust master still running after {timeout:.0f} s; stopped it") from None


def require_statistics(run_dir: Path, code: int) -> None:
    if not (run_dir / "locust_stats.csv").exists():
        from runs.cluster import ClusterError

        raise ClusterError(f"Locust master exited with {code} and wrote no statistics; see {run_dir}")


# -- waiting ---------------------------------------------------------------------------------------------


def scrape(url: str, labels: bool = False) -> dict[str, float]:
    """``/metrics`` of a pipeline process: summed by metric name, or with ``labels`` one entry per
    series as ``name{k=v,...}`` (label values joined by ',')."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name
            if labels and sample.labels:
                key += "{" + ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items())) + "}"
            out[key] = out.get(key, 0.0) + sample.value
    return out


def _live_metrics(senders: Sequence[MetricsSource]) -> list[dict[str, float]]:
    found = []
    for sender in senders:
        if not sender.alive():
            continue
        try:
            found.append(scrape(sender.url))
        except OSError:
            continue
    return found


def wait_for_group(senders: Sequence[MetricsSource], partitions: int, timeout: float = 30.0,
                   settle: float = 1.0) -> bool:  # fmt: skip
    """True once every sender answers and owns some partitions and together they own all of them,
    unchanged for ``settle`` seconds (a rebalance has ended); False when ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    stable_since = None
    while time.monotonic() < deadline:
        owned = [m.get("pipeline_sender_assigned_partitions", 0) for m in _live_metrics(senders)]
        if sum(owned) == partitions and len(owned) == len(senders) and all(owned):
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= settle:
                return True
        else:
            stable_since = None
        time.sleep(0.2)
    return False


def wait_drained(run: PipelineRun, timeout: float) -> float | None:
    """Seconds until every partition is owned, nothing lags and nothing is in flight (None: not in time)."""
    start = time.monotonic()
    calm_since = None
    while time.monotonic() - start < timeout:
        metrics = _live_metrics(run.senders)
        owned = sum(m.get("pipeline_sender_assigned_partitions", 0) for m in metrics)
        busy = sum(
            m.get("pipeline_consumer_lag", 0) + m.get("pipeline_sender_inflight_events", 0) for m in metrics
        )
        if metrics and owned >= run.plan.partitions and busy == 0:
            # Lag is re-measured every 2 s: quiet for longer than that means really drained.
            calm_since = calm_since or time.monotonic()
            if time.monotonic() - calm_since >= 2.5:
                return calm_since - start
        else:
            calm_since = None
        time.sleep(0.5)
    return None


def delivered_by(sender: MetricsSource) -> float | None:
    """Events this sender delivered (None when it is gone, e.g. killed on purpose)."""
    if not sender.alive():
        return None
    try:
        return scrape(sender.url).get("pipeline_sender_events_delivered_total", 0.0)
    except OSError:
        return None


def sandbox_totals(url: str, token: str | None = None) -> dict[str, Any]:
    """The sandbox's totals (``token``: its admin token, which clients beyond its loopback send)."""
    request = urllib.request.Request(f"{url}/__sandbox/stats")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return dict(json.loads(response.read())["totals"])


# -- the verdict -----------------------------------------------------------------------------------------


def finish(run: PipelineRun, kind: str, sandbox: dict[str, Any], started: float, ended: float,
           drain_s: float | None, per_sender: list[float | None] | None = None,
           target: str = "local") -> dict[str, Any]:  # fmt: skip
    run_dir, plan = run.run_dir, run.plan
    analysis_code = _analyse(run_dir, kind) if plan.analysis else 0
    summary = _read_json(run_dir / "summary.json") or {}
    delivery = summary.get("delivery")
    lag_max, lag_end = _lag(run_dir)
    checks = {
        "no 429 at the sandbox": sandbox.get("rate_limited", 0) == 0,
        "lost == 0": delivery is not None and delivery["lost"] == 0,
    }
    if kind == "pipeline":
        checks["queue drained"] = drain_s is not None
        checks["SLO file holds"] = analysis_code == 0
    acknowledged = delivery["acknowledged"] if delivery else 0
    busy_until = ended + (plan.drain_timeout if drain_s is None else drain_s) + 1.0
    # Locust's own start (imports, workers joining) is no load: the load window is the traffic's.
    started, ended = _traffic_window(run_dir) or (started, ended)
    result = {
        "kind": kind,
        "target": target,
        "plan": {k: v for k, v in asdict(plan).items() if k not in ("sender_args",)},
        "load_s": round(ended - started, 1),
        "drain_s": None if drain_s is None else round(drain_s, 1),
        "sandbox": {
            k: sandbox.get(k, 0)
            for k in ("requests", "accepted", "rate_limited", "dropped", "operations_accepted", "duplicates")
        },  # fmt: skip
        "delivery": delivery,
        "delivered_share": (delivery["delivered"] / acknowledged) if delivery and acknowledged else None,
        "client": summary.get("totals"),
        "lag_max": lag_max,
        "lag_at_end": lag_end,
        "senders_delivered": per_sender or [],
        "load_window": [round(started, 3), round(ended, 3)],
        "busy_window": [round(started, 3), round(busy_until, 3)],
        # Start-up (imports, a broker electing itself) is not the load: only the load and the drain count.
        "cpu": saturation(run_dir / CPU_FILE, window=(started, busy_until))
        if (run_dir / CPU_FILE).exists()
        else None,
        "checks": checks,
        "passed": all(checks.values()),
    }
    result["exit_code"] = 0 if result["passed"] else 1
    if kind == "direct":
        # The direct run is the comparison, expected to fail the limit; only unusable input is an error.
        result["exit_code"] = 2 if analysis_code == 2 else 0
    (run_dir / RESULT_FILE).write_text(json.dumps(result, indent=2) + "\n")
    for line in _lines(result):
        print(f"runs: {line}")
    return result


def _analyse(run_dir: Path, kind: str) -> int:
    slo = REPO / "profiles" / f"{kind}.slo.yaml"
    command = [sys.executable, "-m", "analysis.report", str(run_dir), "--slo", str(slo)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    for line in (done.stdout + done.stderr).strip().splitlines()[-12:]:
        print(f"  {line}")
    return done.returncode


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def _lag(run_dir: Path) -> tuple[float | None, float | None]:
    lags = system_series(run_dir / "system_history.csv", "pipeline_consumer_lag")
    return (max(lags), lags[-1]) if lags else (None, None)


def system_series(path: Path, column: str) -> list[float]:
    """The values of one series of a ``system_history.csv`` (read by ``analysis``), in time order."""
    if not path.exists():
        return []
    from analysis.system import read_system_history

    frame = read_system_history(path)
    return [float(v) for v in frame[column].dropna()] if column in frame else []


def _traffic_window(run_dir: Path) -> tuple[float, float] | None:
    """First and last second Locust's history counted new requests in (None without any)."""
    path = run_dir / "locust_stats_history.csv"
    if not path.exists():
        return None
    from analysis.locust_csv import AGGREGATED, read_history

    history, _ = read_history(path, columns=["total_requests"])
    totals = history[history["endpoint"] == AGGREGATED]
    grew = totals[totals["total_requests"].diff().fillna(totals["total_requests"]) > 0]
    return (float(grew["timestamp"].iloc[0]) - 1.0, float(grew["timestamp"].iloc[-1])) if len(grew) else None


def _lines(result: dict[str, Any]) -> list[str]:
    d, s = result["delivery"], result["sandbox"]
    lines = [f"{result['kind']}: sandbox accepted {s['accepted']:,} requests ({s['operations_accepted']:,} "
             f"operations), 429 x{s['rate_limited']:,}, dropped x{s['dropped']:,}"]  # fmt: skip
    if d:
        e2e = d["e2e_ms"]
        lines.append(
            f"delivery: acknowledged {d['acknowledged']:,}, delivered {d['delivered']:,}, lost {d['lost']:,}, "
            f"duplicates {d['duplicates']:,}, delivered unacknowledged {d['unacknowledged_delivered']:,}; "
            f"e2e p50 {_ms(e2e['p50'])}, p95 {_ms(e2e['p95'])}, p99 {_ms(e2e['p99'])}, max {_ms(e2e['max'])}"
        )
    if result["kind"] == "pipeline":
        drained = (
            "not drained" if result["drain_s"] is None else f"drained {result['drain_s']:g} s after the load"
        )
        lines.append(f"queue: lag max {result['lag_max']}, {drained}")
    cpu = result.get("cpu") or {}
    if cpu.get("components"):
        busiest = sorted(cpu["components"].items(), key=lambda kv: -kv[1]["mean"])[:4]
        lines.append("cpu (mean % of a core): " + ", ".join(f"{c} {v['mean']:g}" for c, v in busiest)
                     + (f"; saturated first: {cpu['saturated_first']}" if cpu.get("saturated_first") else ""))  # fmt: skip
    failed = [name for name, ok in result["checks"].items() if not ok]
    lines.append("PASS" if not failed else "FAIL: " + ", ".join(failed))
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.0f} ms"


def comparison(direct_dir: Path, pipeline_dir: Path) -> str:
    """A Markdown table: the same traffic straight to the sandbox vs through the pipeline."""
    direct, pipeline = (_read_json(d / RESULT_FILE) or {} for d in (direct_dir, pipeline_dir))

    def row(label: str, get: Callable[[dict[str, Any]], Any]) -> str:
        cells = []
        for result in (direct, pipeline):
            try:
                value = get(result)
            except (KeyError, TypeError):
                value = None
            cells.append(
                "-" if value is None else f"{value:,.0f}" if isinstance(value, int | float) else str(value)
            )
        return f"| {label} | {cells[0]} | {cells[1]} |"

    rows = [
        ("calls acknowledged to the client", lambda r: r["delivery"]["acknowledged"]),
        ("client failures (429/503 after retries)", lambda r: r["client"]["failures"]),
        ("429 answered by Customer.io (sandbox)", lambda r: r["sandbox"]["rate_limited"]),
        ("events that reached Customer.io", lambda r: r["sandbox"]["operations_accepted"]),
        ("lost (acknowledged, never arrived)", lambda r: r["delivery"]["lost"]),
        ("e2e delay p99 (ms)", lambda r: r["delivery"]["e2e_ms"]["p99"]),
        ("queue lag max (messages)", lambda r: r["lag_max"]),
    ]
    head = ["| same traffic | direct to the API | through the pipeline |", "|---|---:|---:|"]
    return "\n".join([*head, *(row(label, get) for label, get in rows)])


if __name__ == "__main__":  # pragma: no cover - python -m runs pipeline is the entry point
    sys.exit(main(sys.argv[1], sys.argv[2:]))
