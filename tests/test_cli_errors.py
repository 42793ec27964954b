"""Every CLI, fed bad input: exit 2, exactly one line on stderr naming the option or file, no traceback.

The invocations run in-process (each CLI's ``main``), so the table stays cheap; a few run as real
subprocesses too, to show the same line and exit code at the process boundary. Nothing here starts
a server: every case fails before anything listens or connects.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BINARY = b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x00binary"
SENDER = ["--bootstrap-servers", "127.0.0.1:9", "--target", "http://127.0.0.1:9", "--redis-url",
          "redis://127.0.0.1:9"]  # fmt: skip
INGEST = ["--bootstrap-servers", "127.0.0.1:9"]
# Placeholders replaced per test: files of the kinds a careless user passes.
FILES = {
    "@BINARY@": ("binary.dat", BINARY),
    "@EMPTY@": ("empty.yaml", b""),
    "@LIST@": ("list.yaml", b"- a\n- b\n"),
    "@UNKNOWN_KEY@": ("unknown.yaml", b"colour: blue\n"),
    "@BAD_PORT@": ("port.yaml", b"port: abc\n"),
    "@NEG_EVENTS@": ("events.yaml", b"max_events: -1\n"),
    "@AFILE@": ("a-file", b"not a directory\n"),
    "@TEXT_CONF@": ("opts.conf", b"headroom = 2\n"),
    "@HOST_YAML@": ("host.yaml", b"host: 0.0.0.0\n"),
    "@HOST_CONF@": ("host.conf", b"host = 0.0.0.0\n"),
}


def _sandbox(argv: list[str]) -> int:
    from sandbox.cli import main

    return main(argv)


def _pipeline(argv: list[str]) -> int:
    from pipeline.cli import main

    return main(argv)


def _runs(argv: list[str]) -> int:
    from runs.cli import main

    return main(argv)


def _report(argv: list[str]) -> int:
    from analysis.report import main

    return main(argv)


def _capacity(argv: list[str]) -> int:
    from deploy.capacity import main

    return main(argv)


def _history(argv: list[str]) -> int:
    from analysis.history import main

    return main(argv)


def _healthcheck(argv: list[str]) -> int:
    from deploy.healthcheck import main

    return main(argv)


CLIS: dict[str, Callable[[list[str]], int]] = {
    "sandbox": _sandbox,
    "pipeline": _pipeline,
    "runs": _runs,
    "report": _report,
    "capacity": _capacity,
    "history": _history,
    "healthcheck": _healthcheck,
}

# (cli, argv, environment, what the one line must contain)
CASES: list[tuple[str, list[str], dict[str, str], str]] = [
    # -- sandbox ---------------------------------------------------------------------------------
    ("sandbox", ["--port", "-1"], {}, "--port must be between 0 and 65535"),
    ("sandbox", ["--port", "70000"], {}, "--port must be between 0 and 65535"),
    ("sandbox", ["--port", "abc"], {}, "--port"),
    ("sandbox", ["--port"], {}, "--port"),
    ("sandbox", ["--processes", "0"], {}, "--processes must be at least 1"),
    ("sandbox", ["--processes", "-3"], {}, "--processes"),
    ("sandbox", ["--block-seconds", "-1"], {}, "--block-seconds"),
    ("sandbox", ["--block-seconds", "inf"], {}, "--block-seconds"),
    ("sandbox", ["--throttle-max-delay", "-5"], {}, "--throttle-max-delay"),
    ("sandbox", ["--retry-after", "-1"], {}, "--retry-after"),
    ("sandbox", ["--retry-after", "nan"], {}, "--retry-after must be a number"),
    ("sandbox", ["--block-after", "-2"], {}, "--block-after"),
    ("sandbox", ["--max-events", "-1"], {}, "--max-events must not be negative"),
    ("sandbox", ["--max-people", "-1"], {}, "--max-people"),
    ("sandbox", ["--dedup-window", "0"], {}, "--dedup-window"),
    ("sandbox", ["--max-body-bytes", "0"], {}, "--max-body-bytes"),
    ("sandbox", ["--track-v1-body-bytes", "-5"], {}, "--track-v1-body-bytes"),
    ("sandbox", ["--rate-mode", "bogus"], {}, "--rate-mode"),
    ("sandbox", ["--store", "nope"], {}, "--store"),
    ("sandbox", ["--rate-limit", "track=abc"], {}, "--rate-limit"),
    ("sandbox", ["--rate-limit", "email=5"], {}, "--rate-limit"),
    ("sandbox", ["--rate-limit", "track=0"], {}, "--rate-limit"),
    ("sandbox", ["--workspace", "only-site"], {}, "--workspace"),
    ("sandbox", ["--workspace", "a:b", "--workspace", "a:c"], {}, "site ids must be unique"),
    ("sandbox", ["--config", ""], {}, "--config is empty"),
    ("sandbox", ["--config", "@EMPTY@"], {}, "empty.yaml"),
    ("sandbox", ["--config", "@BINARY@"], {}, "binary.dat"),
    ("sandbox", ["--config", "/nonexistent/sandbox.yaml"], {}, "/nonexistent/sandbox.yaml"),
    ("sandbox", ["--config", "@LIST@"], {}, "list.yaml"),
    ("sandbox", ["--config", "@UNKNOWN_KEY@"], {}, "unknown.yaml"),
    ("sandbox", ["--config", "@BAD_PORT@"], {}, "port.yaml"),
    ("sandbox", ["--config", "@NEG_EVENTS@"], {}, "--max-events"),
    ("sandbox", ["--tls-cert", "/tmp/x.pem"], {}, "--tls-cert and --tls-key"),
    ("sandbox", ["--faults", "{bad"], {}, "--faults"),
    ("sandbox", ["--faults", '{"nope": {}}'], {}, "unknown endpoint 'nope'"),
    ("sandbox", ["--faults", "@/nonexistent/faults.json"], {}, "/nonexistent/faults.json"),
    ("sandbox", ["--no-such-option"], {}, "--no-such-option"),
    ("sandbox", [], {"SANDBOX_PORT": "abc"}, "--port"),
    ("sandbox", [], {"SANDBOX_MAX_EVENTS": "-1"}, "--max-events"),
    ("sandbox", [], {"SANDBOX_WORKSPACES": "bad"}, "--workspace"),
    ("sandbox", [], {"SANDBOX_RATE_MODE": "sometimes"}, "--rate-mode"),
    # The listen address was --host, which is the target URL in Locust and runs.
    ("sandbox", ["--host", "0.0.0.0"], {}, "--host was renamed --bind"),
    ("sandbox", ["--host=0.0.0.0"], {}, "--host was renamed --bind"),
    ("sandbox", [], {"SANDBOX_HOST": "0.0.0.0"}, "$SANDBOX_HOST was renamed --bind"),
    ("sandbox", ["--config", "@HOST_YAML@"], {}, "host was renamed --bind"),
    # secrets from files (Docker's NAME_FILE convention): the file is named, never the value
    (
        "sandbox",
        [],
        {"SANDBOX_ADMIN_TOKEN_FILE": "/nonexistent/token"},
        "--admin-token-file /nonexistent/token",
    ),
    (
        "sandbox",
        [],
        {"SANDBOX_WORKSPACES_FILE": "@EMPTY@"},
        "empty.yaml ($SANDBOX_WORKSPACES_FILE): the file is empty",
    ),
    ("sandbox", ["--admin-token-file", "@AFILE@"], {}, "--admin-token must be at least 16 characters"),
    ("sandbox", ["--admin-token", "t" * 20, "--admin-token-file", "@AFILE@"], {}, "both set"),
    # -- pipeline: command, ingest ----------------------------------------------------------------
    ("pipeline", [], {}, "command"),
    ("pipeline", ["bogus"], {}, "invalid choice: 'bogus'"),
    ("pipeline", ["ingest"], {}, "--bootstrap-servers is required"),
    ("pipeline", ["ingest", "--bootstrap-servers", "garbage"], {}, "--bootstrap-servers 'garbage'"),
    ("pipeline", ["ingest", "--bootstrap-servers", "host:0"], {}, "--bootstrap-servers"),
    ("pipeline", ["ingest", "--bootstrap-servers", ":9092"], {}, "--bootstrap-servers"),
    ("pipeline", ["ingest", "--bootstrap-servers", "a:1,b"], {}, "--bootstrap-servers"),
    ("pipeline", ["ingest", *INGEST, "--delivery-timeout", "-1"], {}, "--delivery-timeout"),
    ("pipeline", ["ingest", *INGEST, "--delivery-timeout", "0"], {}, "--delivery-timeout"),
    ("pipeline", ["ingest", *INGEST, "--max-rss-mb", "-5"], {}, "--max-rss-mb"),
    ("pipeline", ["ingest", *INGEST, "--queue-messages", "0"], {}, "--queue-messages"),
    ("pipeline", ["ingest", *INGEST, "--queue-kbytes", "0"], {}, "--queue-kbytes"),
    ("pipeline", ["ingest", *INGEST, "--port", "99999"], {}, "--port"),
    ("pipeline", ["ingest", *INGEST, "--port", "x"], {}, "--port"),
    ("pipeline", ["ingest", *INGEST, "--workspace", "nokey"], {}, "--workspace"),
    ("pipeline", ["ingest", *INGEST, "--tls-cert", "/tmp/x.pem"], {}, "--tls-cert and --tls-key"),
    (
        "pipeline",
        ["ingest", *INGEST, "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"],
        {},
        "--tls-cert",
    ),  # fmt: skip
    ("pipeline", ["ingest", *INGEST, "--startup-timeout", "0"], {}, "--startup-timeout"),
    ("pipeline", ["ingest", *INGEST, "--max-connections", "0"], {}, "--max-connections"),
    ("pipeline", ["ingest", *INGEST, "--header-timeout", "-1"], {}, "--header-timeout"),
    ("pipeline", ["ingest", *INGEST, "--config", "/nonexistent/ingest.conf"], {}, "/nonexistent/ingest.conf"),
    ("pipeline", ["ingest", *INGEST, "--config", "@BINARY@"], {}, "--config"),
    ("pipeline", ["ingest"], {"PIPELINE_BOOTSTRAP_SERVERS": "garbage"}, "--bootstrap-servers"),
    ("pipeline", ["ingest", *INGEST], {"PIPELINE_PORT": "-1"}, "--port"),
    ("pipeline", ["ingest", *INGEST], {"PIPELINE_QUEUE_MESSAGES": "many"}, "--queue-messages"),
    ("pipeline", ["ingest", *INGEST, "--host", "0.0.0.0"], {}, "--host was renamed --bind"),
    ("pipeline", ["ingest", *INGEST], {"PIPELINE_HOST": "0.0.0.0"}, "$PIPELINE_HOST was renamed --bind"),
    ("pipeline", ["ingest", *INGEST, "--config", "@HOST_CONF@"], {}, "--host was renamed --bind"),
    (
        "pipeline",
        ["ingest", *INGEST],
        {"PIPELINE_WORKSPACES_FILE": "/nonexistent/ws"},
        "--workspace-file /nonexistent/ws",
    ),
    ("pipeline", ["sender", *SENDER, "--workspace-file", "@BINARY@"], {}, "binary.dat"),
    # -- pipeline sender ----------------------------------------------------------------------------
    ("pipeline", ["sender", *SENDER, "--redis-url", "notaurl"], {}, "--redis-url 'notaurl'"),
    ("pipeline", ["sender", *SENDER, "--redis-url", "http://127.0.0.1:6379"], {}, "--redis-url"),
    ("pipeline", ["sender", *SENDER, "--redis-url", "redis://"], {}, "--redis-url"),
    ("pipeline", ["sender", *SENDER, "--target", "notaurl"], {}, "--target 'notaurl'"),
    ("pipeline", ["sender", *SENDER, "--target", "ftp://127.0.0.1"], {}, "--target"),
    ("pipeline", ["sender", *SENDER, "--target", "http://"], {}, "--target"),
    ("pipeline", ["sender", *SENDER, "--target", "http://127.0.0.1:99999"], {}, "--target"),
    (
        "pipeline",
        ["sender", "--bootstrap-servers", "127.0.0.1:9", "--redis-url", "redis://127.0.0.1"],
        {},
        "--target is required",
    ),  # fmt: skip
    (
        "pipeline",
        ["sender", "--bootstrap-servers", "127.0.0.1:9", "--target", "http://127.0.0.1"],
        {},
        "--redis-url is required",
    ),  # fmt: skip
    ("pipeline", ["sender", *SENDER, "--max-batch-bytes", "10"], {}, "--max-batch-bytes"),
    ("pipeline", ["sender", *SENDER, "--max-batch-bytes", "600000"], {}, "--max-batch-bytes"),
    ("pipeline", ["sender", *SENDER, "--max-batch-operations", "0"], {}, "--max-batch-operations"),
    ("pipeline", ["sender", *SENDER, "--max-batch-operations", "5000"], {}, "--max-batch-operations"),
    ("pipeline", ["sender", *SENDER, "--headroom", "1"], {}, "--headroom must be below 1"),
    ("pipeline", ["sender", *SENDER, "--headroom", "-0.1"], {}, "--headroom must not be negative"),
    ("pipeline", ["sender", *SENDER, "--rate-limit", "0"], {}, "--rate-limit '0': REQUESTS must be"),
    ("pipeline", ["sender", *SENDER, "--rate-limit", "12.5"], {}, "write e.g. 25/2"),
    ("pipeline", ["sender", *SENDER, "--rate-limit", "app=10"], {}, "the Track API's limit"),
    ("pipeline", ["sender", *SENDER], {"PIPELINE_RATE_LIMIT": "fast"}, "--rate-limit 'fast'"),
    ("pipeline", ["sender", *SENDER, "--rate-limit", "-5"], {}, "--rate-limit"),
    ("pipeline", ["sender", *SENDER, "--concurrency", "0"], {}, "--concurrency"),
    ("pipeline", ["sender", *SENDER, "--linger-ms", "-1"], {}, "--linger-ms"),
    ("pipeline", ["sender", *SENDER, "--request-timeout", "0"], {}, "--request-timeout"),
    ("pipeline", ["sender", *SENDER, "--backoff-max", "-1"], {}, "--backoff-max"),
    ("pipeline", ["sender", *SENDER, "--max-inflight-events", "0"], {}, "--max-inflight-events"),
    ("pipeline", ["sender", *SENDER, "--max-inflight-mb", "0"], {}, "--max-inflight-mb"),
    ("pipeline", ["sender", *SENDER, "--session-timeout-ms", "10"], {}, "--session-timeout-ms"),
    ("pipeline", ["sender", *SENDER, "--shutdown-timeout", "-1"], {}, "--shutdown-timeout"),
    ("pipeline", ["sender", *SENDER, "--metrics-port", "70000"], {}, "--metrics-port"),
    ("pipeline", ["sender", *SENDER, "--burst", "-1"], {}, "--burst"),
    ("pipeline", ["sender", *SENDER, "--metrics-host", "::"], {}, "--metrics-host was renamed"),
    ("pipeline", ["sender", *SENDER, "--config", "@TEXT_CONF@"], {}, "--headroom"),
    ("pipeline", ["sender", *SENDER], {"PIPELINE_HEADROOM": "2"}, "--headroom"),
    (
        "pipeline",
        ["sender", *SENDER[:2]],
        {"PIPELINE_TARGET": "notaurl", "PIPELINE_REDIS_URL": "redis://h"},
        "--target",
    ),  # fmt: skip
    # -- runs -------------------------------------------------------------------------------------------
    ("runs", ["nope"], {}, "invalid choice: 'nope'"),
    ("runs", [], {}, "profile"),
    ("runs", ["demo", "--duration", "2m"], {}, "--duration does not apply to demo"),
    ("runs", ["soak", "--duration", "forever"], {}, "--duration 'forever'"),
    ("runs", ["soak", "--workers", "0"], {}, "--workers must be at least 1"),
    ("runs", ["soak", "--workers", "abc"], {}, "--workers"),
    ("runs", ["stress", "--host", "notaurl"], {}, "--host 'notaurl'"),
    ("runs", ["stress", "--host", "http://"], {}, "--host"),
    ("runs", ["demo", "--reports-dir", "@AFILE@"], {}, "--reports-dir"),
    ("runs", ["demo"], {"RUNS_REPORTS_DIR": "@AFILE@"}, "--reports-dir"),
    ("runs", ["direct", "--reports-dir", "@AFILE@"], {}, "a-file: is a file; give a directory"),
    ("runs", ["pipeline", "--reports-dir", "@AFILE@"], {}, "a-file: is a file; give a directory"),
    ("runs", ["scale", "--events-per-day", "2M", "--reports-dir", "@AFILE@"], {}, "a-file: is a file"),
    (
        "runs",
        ["demo", "--out", "/tmp"],
        {},
        "--out was renamed --reports-dir (parent of the run directories)",
    ),
    ("runs", ["demo"], {"RUNS_OUT": "/tmp"}, "$RUNS_OUT was renamed --reports-dir"),
    ("runs", ["pipeline", "--out", "/tmp"], {}, "--out was renamed --reports-dir"),
    ("runs", ["direct"], {"RUNS_OUT": "/tmp"}, "$RUNS_OUT was renamed --reports-dir"),
    ("runs", ["scale", "--events-per-day", "2M", "--out", "/tmp"], {}, "--out was renamed --reports-dir"),
    ("runs", ["scale", "--events-per-day", "2M"], {"RUNS_OUT": "/tmp"}, "$RUNS_OUT was renamed"),
    (
        "runs",
        ["scale", "--events-per-day", "2M", "--machine-rate", "0"],
        {},
        "--machine-rate must be greater",
    ),
    ("runs", ["scale", "--events-per-day", "2M", "--run-on", "k8s"], {}, "--run-on"),
    ("runs", ["scale", "--events-per-day", "2M", "--target", "compose"], {}, "--target was renamed --run-on"),
    ("runs", ["scale", "--events-per-day", "2M", "--duration", "0"], {}, "--duration must be greater than 0"),
    ("runs", ["scale", "--events-per-day", "2M", "--compose-file", "/nonexistent.yml"], {}, "--compose-file"),
    (
        "runs",
        ["scale", "--events-per-day", "2M", "--peak-factor", "0.5"],
        {},
        "--peak-factor must be at least 1",
    ),
    ("runs", ["scale"], {}, "--events-per-day is required"),
    ("runs", ["demo", "--slo", "/nonexistent/demo.slo.yaml"], {}, "/nonexistent/demo.slo.yaml"),
    ("runs", ["demo", "--slo", "@BINARY@"], {}, "binary.dat"),
    ("runs", ["soak"], {"RUNS_WORKERS": "0"}, "--workers"),
    ("runs", ["soak"], {"RUNS_HOST": "ftp://x"}, "--host"),
    # -- analysis.report ---------------------------------------------------------------------------------
    ("report", ["@RUN@", "--tolerance", "-5"], {}, "--tolerance must not be negative"),
    ("report", ["@RUN@", "--tolerance", "abc"], {}, "--tolerance"),
    ("report", ["@RUN@", "--knee-p95-ms", "0"], {}, "--knee-p95-ms"),
    ("report", ["@RUN@", "--knee-error-rate", "2"], {}, "--knee-error-rate"),
    ("report", ["@RUN@", "--slo", "@BINARY@"], {}, "binary.dat"),
    ("report", ["@RUN@", "--slo", "/nonexistent/x.slo.yaml"], {}, "/nonexistent/x.slo.yaml"),
    ("report", ["/nonexistent/run"], {}, "/nonexistent/run"),
    ("report", ["@RUN@", "--baseline", "/nonexistent/base"], {}, "/nonexistent/base"),
    ("report", [], {}, "RUN_DIR_OR_CSV_PREFIX"),
    ("report", ["@RUN@"], {"ANALYSIS_TOLERANCE": "-1"}, "--tolerance"),
    # -- deploy.capacity ------------------------------------------------------------------------------------
    ("capacity", [], {}, "--events-per-day is required"),
    ("capacity", ["--events-per-day", "lots"], {}, "--events-per-day"),
    ("capacity", ["--events-per-day=-5M"], {}, "--events-per-day"),
    ("capacity", ["--events-per-day", "5M", "--headroom", "1.5"], {}, "--headroom must be below 1"),
    ("capacity", ["--events-per-day", "5M", "--peak-factor", "0.5"], {}, "--peak-factor must be at least 1"),
    ("capacity", ["--events-per-day", "5M", "--batch-size", "5000"], {}, "--batch-size"),
    ("capacity", ["--events-per-day", "5M", "--event-bytes", "0"], {}, "--event-bytes"),
    ("capacity", ["--events-per-day", "5M", "--rate-limit", "0"], {}, "--rate-limit"),
    ("capacity", ["--events-per-day", "5M", "--worker-rps", "-1"], {}, "--worker-rps"),
    ("capacity", ["--events-per-day", "5M"], {"CAPACITY_HEADROOM": "1"}, "--headroom"),
    # -- analysis.history ---------------------------------------------------------------------------------
    ("history", ["@RUN@", "--last", "0"], {}, "--last must be at least 1"),
    ("history", ["@RUN@", "--previous", "x"], {}, "--previous"),
    ("history", ["@RUN@", "--tolerance", "-1"], {}, "--tolerance must not be negative"),
    ("history", ["@RUN@"], {"ANALYSIS_HISTORY_PREVIOUS": "0"}, "--previous must be at least 1"),
    ("history", ["/nonexistent/reports"], {}, "/nonexistent/reports"),
    ("history", [], {}, "REPORTS_DIR"),
    # -- sandbox gen-cert ---------------------------------------------------------------------------------
    ("sandbox", ["gen-cert", "@DIR@", "--days", "0"], {}, "--days must be at least 1"),
    ("sandbox", ["gen-cert", "@DIR@", "--days", "soon"], {}, "--days"),
    ("sandbox", ["gen-cert"], {}, "directory"),
    # -- deploy.healthcheck ---------------------------------------------------------------------------------
    ("healthcheck", [], {}, "give exactly one of URL, --tcp HOST:PORT or --file PATH"),
    ("healthcheck", ["--tcp", "nohost"], {}, "--tcp 'nohost' is not HOST:PORT"),
    ("healthcheck", ["--tcp", "a:1,b:2"], {}, "--tcp 'a:1,b:2': one HOST:PORT"),
    ("healthcheck", ["--file", "/tmp/x", "--max-age", "0"], {}, "--max-age must be greater than 0"),
    ("healthcheck", ["--tcp", "127.0.0.1:9"], {"HEALTHCHECK_TIMEOUT": "-1"}, "--timeout"),
]

STATS = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
    "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
    "99.99%,100%\nGET,/ok,10,0,2,3,1,40,2,9.0,0.0,2,2,2,2,3,9,9,9,40,40,40\n"
    ",Aggregated,10,0,2,3,1,40,2,9.0,0.0,2,2,2,2,3,9,9,9,40,40,40\n"
)


def _materialise(argv: list[str], tmp_path: Path) -> list[str]:
    out = []
    for arg in argv:
        if arg in FILES:
            name, content = FILES[arg]
            path = tmp_path / name
            path.write_bytes(content)
            arg = str(path)
        elif arg == "@DIR@":
            arg = str(tmp_path)
        elif arg == "@RUN@":
            run = tmp_path / "run"
            run.mkdir(exist_ok=True)
            (run / "locust_stats.csv").write_text(STATS)
            arg = str(run)
        out.append(arg)
    return out


def _clean_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.startswith(
            ("SANDBOX_", "PIPELINE_", "RUNS_", "ANALYSIS_", "CAPACITY_", "HEALTHCHECK_", "LOCUST_", "CIO_")
        ):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(("cli", "argv", "env", "fragment"), CASES)
def test_bad_input_is_one_line_exit_2(cli, argv, env, fragment, tmp_path, monkeypatch, capsys):
    _clean_environment(monkeypatch, {name: _materialise([value], tmp_path)[0] for name, value in env.items()})
    monkeypatch.chdir(tmp_path)
    try:
        code = CLIS[cli](_materialise(argv, tmp_path))
    except SystemExit as exc:  # argparse's own errors exit from inside parse_args
        code = exc.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert fragment in lines[0] and "Traceback" not in err, err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("20")], "a run directory was made"


TRAFFIC_CASES = [
    (["--target-rate", "-5"], "--target-rate must be greater than 0 (got -5)"),
    (["--headroom", "1"], "--headroom must be below 1 (got 1)"),
    (["--headroom", "-1"], "--headroom must not be negative"),
    (["--batch-size", "0"], "--batch-size must be between 1 and 1000"),
    (["--app-host", "notaurl"], "--app-host 'notaurl'"),
    (["--cdp-host", "ftp://x"], "--cdp-host"),
    (["--shape-duration", "soon"], "--shape-duration 'soon' is not a duration"),
    (["--shape-duration", "0"], "--shape-duration must be greater than 0"),
    (["--spike-at=-5s"], "--spike-at"),
    (["--probe-max-429-share", "2"], "--probe-max-429-share must be between 0 and 1"),
    (["--user-rate", "0"], "--user-rate must be greater than 0"),
    (["--rate-limit", "0"], "--rate-limit '0': REQUESTS must be"),
    (["--people", "0"], "--people must be at least 1"),
    (["--retries", "-1"], "--retries must not be negative"),
    (["--shape-steps", "0"], "--shape-steps must be at least 1"),
    (
        ["--api-key-file", "/nonexistent/key"],
        "--api-key-file /nonexistent/key ($CIO_API_KEY_FILE): cannot read it",
    ),
    (["--site-id-file", "/nonexistent/site"], "--site-id-file /nonexistent/site"),
]


@pytest.mark.parametrize(("argv", "fragment"), TRAFFIC_CASES)
def test_traffic_model_bad_values_are_one_line(argv, fragment, monkeypatch):
    """The traffic model's check (what Locust's init runs before any user): one line naming the option."""
    from locustfiles.options import OptionError, settings_from
    from tests.locustfiles.conftest import parse_options

    _clean_environment(monkeypatch, {})
    with pytest.raises(OptionError) as caught:
        settings_from(parse_options(*argv), host="http://127.0.0.1:8080")
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_traffic_model_renamed_option_is_one_line(capsys):
    """Locust's parser stops at a replaced flag (before any settings): one line naming the new one."""
    from tests.locustfiles.conftest import parse_options

    with pytest.raises(SystemExit) as stopped:
        parse_options("--workspace-limit", "100")
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "--workspace-limit was renamed --rate-limit" in err and "\n" not in err


SUBPROCESS_CASES = [
    (["-m", "sandbox", "--block-seconds", "-1"], "sandbox: --block-seconds must be between 0 and 86400"),
    (["-m", "pipeline", "sender", *SENDER, "--redis-url", "notaurl"], "--redis-url 'notaurl'"),
    (["-m", "pipeline", "ingest", *INGEST, "--delivery-timeout", "-1"], "--delivery-timeout"),
    (["-m", "deploy.capacity", "--events-per-day", "5M", "--headroom", "1"], "--headroom must be below 1"),
]


@pytest.mark.parametrize(("argv", "fragment"), SUBPROCESS_CASES)
def test_the_same_line_at_the_process_boundary(argv, fragment, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "PIPELINE_", "CAPACITY_"))}
    done = subprocess.run([sys.executable, *argv], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and fragment in lines[0], done.stderr
