"""Every option and environment variable that compose and the manifests hand to a role is real.

The services' own parsers are the judges: the sandbox's and the pipeline's ``--help``, and Locust
itself loading the suite's locustfile with the exact arguments (``--list`` exits before any network).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import yaml

from tests.support.k8s import render

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ["small", "large", "ci"]
CREDENTIALS = {"CIO_SITE_ID": "site-for-test", "CIO_API_KEY": "key-for-test"}
LOCUSTFILES = str(ROOT / "locustfiles" / "locustfile.py")
# What deploy/docker/entrypoint.sh adds in front of the arguments, per role.
ROLE_PREFIX = {
    "master": ["--master", "--master-bind-port", "5557", "--web-host", "0.0.0.0"],
    "worker": ["--worker", "--master-host", "master", "--master-port", "5557"],
}
HELP = {
    "sandbox": [sys.executable, "-m", "sandbox", "--help"],
    "ingest": [sys.executable, "-m", "pipeline", "ingest", "--help"],
    "sender": [sys.executable, "-m", "pipeline", "sender", "--help"],
}


@cache
def _invocations() -> list[tuple[str, str, list[str], dict[str, str]]]:
    """(where, role, args, env) for each suite container in compose and in every overlay."""
    found = []
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is missing: apt-get install --no-install-recommends docker-compose"
    resolved = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "--project-directory", str(ROOT),
         "--profile", "pipeline", "config"],
        env={**os.environ, **CREDENTIALS}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    for name, service in yaml.safe_load(resolved.stdout)["services"].items():
        if "build" in service:
            role, *args = service["command"]
            found.append(
                (f"compose {name}", role, args, {k: str(v) for k, v in service["environment"].items()})
            )
    for overlay in OVERLAYS:
        resources = render(ROOT / "deploy" / "k8s" / "overlays" / overlay)
        config = {
            k: v for r in resources if r["kind"] == "ConfigMap" for k, v in (r.get("data") or {}).items()
        }
        for resource in resources:
            for container in (
                resource.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
            ):
                if container["image"].startswith("customerio-load-scale"):
                    env = {e["name"]: e.get("value", "x") for e in container.get("env", [])}
                    role, *args = [
                        _expand(arg, {**config, **CREDENTIALS, **env}) for arg in container["args"]
                    ]
                    found.append((f"k8s {overlay} {resource['metadata']['name']}", role, args, env))
    return found


def _expand(arg: str, env: dict[str, str]) -> str:
    # Kubernetes' $(VAR) substitution from the container's environment.
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg)


@cache
def _help(role: str) -> str:
    return subprocess.run(HELP[role], capture_output=True, text=True, check=True, timeout=60).stdout


@cache
def _locust_env_vars() -> frozenset[str]:
    from locust import argument_parser

    parser = argument_parser.get_parser()
    names = {a.env_var for a in parser._actions if getattr(a, "env_var", None)}
    from locustfiles import master_watch, options
    from locustfiles.monitoring import options as monitoring

    tables = (options, master_watch, monitoring)
    declared = {name for table in tables for o in table.OPTIONS for name in (o.env, o.file_env) if name}
    return frozenset(names | declared)


def test_service_options_exist() -> None:
    """Each --option given to the sandbox, ingest or sender is one its --help lists."""
    checked = 0
    for where, role, args, _env in _invocations():
        if role in HELP:
            for flag in (arg for arg in args if arg.startswith("--")):
                assert re.search(rf"{re.escape(flag)}\b", _help(role)), f"{where}: {role} has no {flag}"
                checked += 1
    assert checked >= 20


def test_environment_variables_are_read_by_someone() -> None:
    """Every environment variable set for a suite container is read by the program in it."""
    entrypoint = (ROOT / "deploy" / "docker" / "entrypoint.sh").read_text()
    for where, role, _args, env in _invocations():
        for name in env:
            if name.startswith(("LOCUST_", "CIO_")):
                assert name in _locust_env_vars() or name in entrypoint, f"{where}: nothing reads {name}"
            elif name.startswith("SANDBOX_"):
                assert name in _help("sandbox") or name in entrypoint, f"{where}: nothing reads {name}"
            elif name.startswith("PIPELINE_") and role in ("ingest", "sender"):
                option = "--" + name.removeprefix("PIPELINE_").lower().replace("_", "-")
                assert name in _help(role) or option in _help(role), f"{where}: {role} reads no {name}"


def test_locust_accepts_every_master_and_worker_command_line() -> None:
    """Locust, loading the suite's locustfile and the worker plugin, accepts each role's exact arguments."""
    seen: set[tuple[str, ...]] = set()
    for where, role, args, _env in _invocations():
        if role not in ROLE_PREFIX:
            continue
        argv = (*ROLE_PREFIX[role], *args)
        if argv in seen:
            continue
        seen.add(argv)
        result = subprocess.run(
            [sys.executable, "-m", "locust", "-f", LOCUSTFILES, *argv, "--list"],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip
        assert result.returncode == 0, f"{where}: locust {' '.join(argv)}\n{result.stderr[-800:]}"
        assert "IdentifyUser" in result.stdout


def test_pipeline_config_keys_are_used() -> None:
    """Each key of the pipeline-config ConfigMap feeds a $(VAR) in the args or a sender/ingest option."""
    resources = render(ROOT / "deploy" / "k8s" / "overlays" / "small")
    config = next(r for r in resources if r["metadata"]["name"] == "pipeline-config")["data"]
    pods = [r["spec"]["template"]["spec"] for r in resources if "template" in r.get("spec", {})]
    all_args = " ".join(arg for pod in pods for c in pod["containers"] for arg in c.get("args", []))
    for key in config:
        option = "--" + key.removeprefix("PIPELINE_").lower().replace("_", "-")
        used = f"$({key})" in all_args or (key.startswith("PIPELINE_") and option in _help("sender"))
        assert used, f"pipeline-config key {key} is read by nothing"
