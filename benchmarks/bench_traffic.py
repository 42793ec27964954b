"""Traffic-model overhead: requests/s of the suite's identify/track users vs a bare FastHttpUser.

Both run as one headless Locust process, unpaced, against the same sandbox (rate limits off, count-only
store) in one invocation, alternating so drift on the machine hits both alike. The bare user sends
fixed bodies to the same two endpoints in the same 3:6 proportion; ours build a Faker-pool payload
with a ULID, orjson and response classification per request. Goal: ours >= 80% of bare. Besides wall-clock requests/s (sensitive to whatever else runs on
the machine), it reports requests per CPU-second of the Locust process, the cost per request itself.

    .venv/bin/python benchmarks/bench_traffic.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent

from record import Record, add_json_option  # noqa: E402 - a sibling script

from runs.processes import start_service  # noqa: E402

BARE = '''
from locust import FastHttpUser, constant, task

_HEADERS = {"Content-Type": "application/json", "Authorization": "Basic ZGVtby1zaXRlOmRlbW8tdHJhY2sta2V5"}


class BareUser(FastHttpUser):
    """Fixed bodies to a fixed person, identify 3 : track 6 like IdentifyUser + TrackUser's weights."""

    wait_time = constant(0)

    @task(3)
    def identify(self):
        self.client.put("/api/v1/customers/bench-1", data=b'{"email":"bench@example.com","plan":"pro"}',
                        headers=_HEADERS, name="/api/v1/customers/[id]")

    @task(6)
    def track(self):
        self.client.post("/api/v1/customers/bench-1/events",
                         data=b'{"name":"Product Viewed","data":{"sku":"SKU-00001","price":9.5}}',
                         headers=_HEADERS, name="/api/v1/customers/[id]/events")
'''


def run_locust(
    locustfile: Path, host: str, work: Path, tag: str, seconds: int, users: int, extra: list[str]
) -> tuple[float, float]:
    """Run one headless Locust; return (requests/s, requests per CPU-second of the Locust process).

    Both are measured over the steady middle of the run (from 2 s after the first request to 1 s
    before the end), so start-up imports and pool building are left out for both users alike.
    """
    prefix = work / tag
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--host", host, "--headless",
        "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--csv", str(prefix), "--csv-full-history",
        "--only-summary", *extra,
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched = psutil.Process(proc.pid)
    samples: list[tuple[float, float]] = []  # (unix time, CPU seconds so far)
    while proc.poll() is None:
        try:
            times = watched.cpu_times()
        except psutil.NoSuchProcess:
            break
        samples.append((time.time(), times.user + times.system))
        time.sleep(0.1)
    with open(f"{prefix}_stats_history.csv", newline="") as f:
        history = [
            (int(r["Timestamp"]), int(r["Total Request Count"]))
            for r in csv.DictReader(f)
            if r["Name"] == "Aggregated" and int(r["Total Request Count"])
        ]
    (t0, n0), (t1, n1) = _window(history)
    cpu = _cpu_at(samples, t1) - _cpu_at(samples, t0)
    return (n1 - n0) / (t1 - t0), (n1 - n0) / cpu


def _window(history: list[tuple[int, int]]) -> tuple[tuple[int, int], tuple[int, int]]:
    start, end = history[0][0] + 2, history[-1][0] - 1
    inside = [h for h in history if start <= h[0] <= end]
    return inside[0], inside[-1]


def _cpu_at(samples: list[tuple[float, float]], when: float) -> float:
    return min(samples, key=lambda s: abs(s[0] - when))[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one short round (CI smoke)")
    add_json_option(p)
    args = p.parse_args()
    seconds, rounds, users = (6, 1, 20) if args.quick else (15, 3, 20)
    record = Record(
        "bench_traffic", quick=args.quick, settings={"seconds": seconds, "rounds": rounds, "users": users}
    )
    ours_args = ["--user-rate", "1000000", "--shape", "none", "IdentifyUser", "TrackUser"]
    with tempfile.TemporaryDirectory(prefix="bench-traffic-") as tmp:
        work = Path(tmp)
        bare_file = work / "bare_locustfile.py"
        bare_file.write_text(BARE)
        sandbox_args = ["sandbox", "--port", "0", "--rate-mode", "off", "--store", "count"]
        with start_service("sandbox", sandbox_args, log_dir=work) as sandbox:
            bare, ours = [], []
            for i in range(rounds):
                bare.append(run_locust(bare_file, sandbox.url, work, f"bare{i}", seconds, users, []))
                ours.append(run_locust(REPO / "locustfiles" / "locustfile.py", sandbox.url, work, f"ours{i}",
                                       seconds, users, ours_args))  # fmt: skip
    (b_rate, b_eff), (o_rate, o_eff) = max(bare), max(ours)
    b_eff, o_eff = max(e for _, e in bare), max(e for _, e in ours)
    print("| measure | bare FastHttpUser | IdentifyUser+TrackUser | ratio |")
    print("|---|---|---|---|")
    print(
        f"| requests/s (wall clock, best of {rounds} x {seconds} s, {users} users) | {b_rate:.0f} | {o_rate:.0f} "
        f"| {o_rate / b_rate:.0%} |"
    )
    print(
        f"| requests per CPU-second of the Locust process | {b_eff:.0f} | {o_eff:.0f} | {o_eff / b_eff:.0%} |"
    )
    print(
        f"\nall rounds (req/s, req/CPU-s): bare {[(round(r), round(e)) for r, e in bare]}, "
        f"ours {[(round(r), round(e)) for r, e in ours]}"
    )
    record.add("bare FastHttpUser requests/s", b_rate, "req/s", note=f"best of {rounds} x {seconds} s")
    record.add("IdentifyUser+TrackUser requests/s", o_rate, "req/s")
    record.add("traffic model / bare, requests/s", o_rate / b_rate, "x")
    record.add("bare FastHttpUser requests per Locust CPU-second", b_eff, "req/CPU-s")
    record.add("IdentifyUser+TrackUser requests per Locust CPU-second", o_eff, "req/CPU-s")
    record.add("traffic model / bare, requests per CPU-second", o_eff / b_eff, "x", goal=(">=", 0.9))
    return record.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
