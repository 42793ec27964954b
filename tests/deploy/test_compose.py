"""docker-compose.yml, checked by a real Compose parser (Debian's docker-compose, offline), and the image."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PROFILES = ["--profile", "pipeline", "--profile", "monitoring"]
CREDENTIALS = {"CIO_SITE_ID": "site-for-test", "CIO_API_KEY": "key-for-test"}
ROLES = {"master", "worker", "sandbox", "ingest", "sender", "report", "capacity", "healthcheck"}


def _compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is missing: apt-get install --no-install-recommends docker-compose"
    clean = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    return subprocess.run(
        [binary, "-f", str(COMPOSE), "--project-directory", str(ROOT), *args],
        env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """The file as docker-compose resolves it (interpolated, anchors merged), all profiles on."""
    result = _compose(*PROFILES, "config", env=CREDENTIALS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_is_valid_for_every_profile() -> None:
    """docker-compose config -q accepts the file with each profile combination."""
    for profiles in ([], ["--profile", "pipeline"], PROFILES):
        result = _compose(*profiles, "config", "-q", env=CREDENTIALS)
        assert result.returncode == 0, result.stderr


def _secret_variables() -> set[str]:
    """Every variable a secret option of the suite is read from (``plumbing.options``: secret=True)."""
    from plumbing.config_table import SUITE

    names = set()
    for _, reference in SUITE:
        module, _, attribute = reference.partition(":")
        names |= {o.env for o in getattr(importlib.import_module(module), attribute) if o.secret and o.env}
    return names


def test_credentials_reach_containers_as_secret_files_only(resolved: dict[str, Any]) -> None:
    """No service gets a credential as an environment value (docker inspect would show it): only
    NAME_FILE=/run/secrets/SECRET for a secret the service mounts, each a file under ./secrets."""
    secret_names = _secret_variables()
    assert {"CIO_API_KEY", "SANDBOX_WORKSPACES", "PIPELINE_WORKSPACES", "SANDBOX_ADMIN_TOKEN"} <= secret_names
    declared = resolved["secrets"]
    for name, service in resolved["services"].items():
        env = service.get("environment", {})
        assert not secret_names & set(env), f"{name} has a credential in its environment"
        mounted = {entry["source"] for entry in service.get("secrets", [])}
        for variable in (v for v in env if v.endswith("_FILE") and v[: -len("_FILE")] in secret_names):
            secret = env[variable].removeprefix("/run/secrets/")
            assert env[variable] == f"/run/secrets/{secret}" and secret in mounted, (name, variable)
    for secret in declared.values():
        assert Path(secret["file"]).parent == ROOT / "secrets"
    uses = {e["source"] for s in resolved["services"].values() for e in s.get("secrets", [])}
    assert uses == set(declared)


def test_compose_secrets_are_what_write_secrets_writes(tmp_path: Path) -> None:
    """deploy/docker/write-secrets.sh writes every file docker-compose.yml mounts: a folder only its
    owner enters, files the containers' uid 10001 can read (compose without swarm ignores `mode`)."""
    folder = tmp_path / "secrets"
    done = _write_secrets({**CREDENTIALS, "CIO_SECRETS_DIR": str(folder)})
    assert done.returncode == 0, done.stderr
    declared = yaml.safe_load(COMPOSE.read_text())["secrets"]
    assert {Path(s["file"]).name for s in declared.values()} == {p.name for p in folder.iterdir()}
    assert folder.stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in folder.iterdir()} == {0o644}
    token = (folder / "sandbox_admin_token").read_text().strip()
    assert len(token) >= 16
    again = _write_secrets({**CREDENTIALS, "CIO_SECRETS_DIR": str(folder)})
    assert again.returncode == 0 and (folder / "sandbox_admin_token").read_text().strip() == token


def test_write_secrets_needs_both_credentials(tmp_path: Path) -> None:
    done = _write_secrets({"CIO_SITE_ID": "x", "CIO_SECRETS_DIR": str(tmp_path / "s")})
    assert done.returncode != 0 and "CIO_API_KEY" in done.stderr and not (tmp_path / "s").exists()
    bad = _write_secrets({"CIO_SITE_ID": "a:b", "CIO_API_KEY": "k", "CIO_SECRETS_DIR": str(tmp_path / "s")})
    assert bad.returncode == 2 and "must not contain ':'" in bad.stderr


def _write_secrets(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CIO_", "SANDBOX_"))}
    return subprocess.run(
        [str(ROOT / "deploy" / "docker" / "write-secrets.sh")], env={**clean, **env},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_parser_really_rejects_mistakes(tmp_path: Path) -> None:
    """The parser used here is strict: an unknown key or a dangling depends_on fails."""
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(COMPOSE.read_text().replace("    healthcheck:", "    healthchek:", 1))
    result = subprocess.run(
        ["docker-compose", "-f", str(bad), "--project-directory", str(ROOT), "config", "-q"],
        env={**os.environ, **CREDENTIALS}, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0 and "healthchek" in result.stderr


def test_services_and_profiles(resolved: dict[str, Any]) -> None:
    """Core services always; Kafka, Redis, ingest, sender under pipeline; Prometheus under monitoring."""
    services = resolved["services"]
    core = {"sandbox", "master", "worker"}
    assert {name for name, s in services.items() if not s.get("profiles")} == core
    assert {n for n, s in services.items() if s.get("profiles") == ["pipeline"]} == {
        "kafka",
        "redis",
        "ingest",
        "sender",
    }
    assert services["prometheus"]["profiles"] == ["monitoring"]
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft: no ZooKeeper
    assert "zookeeper" not in " ".join(services)


def test_every_service_is_healthchecked_bounded_and_waits_for_healthy(resolved: dict[str, Any]) -> None:
    """Healthchecks and memory limits everywhere; every dependency waits for service_healthy."""
    services = resolved["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
        assert service["deploy"]["resources"]["limits"]["memory"], name
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services
            assert condition["condition"] == "service_healthy", f"{name} -> {dependency}"


def test_published_ports_are_loopback_only(resolved: dict[str, Any]) -> None:
    """Anything published binds 127.0.0.1; the master's web UI is 127.0.0.1:8089."""
    published = {}
    for name, service in resolved["services"].items():
        for port in service.get("ports", []):
            text = (
                port
                if isinstance(port, str)
                else f"{port.get('host_ip', '')}:{port['published']}:{port['target']}"
            )
            assert text.startswith("127.0.0.1:"), f"{name} publishes {text}"
            published[name] = text
    assert published["master"].split("/")[0] == "127.0.0.1:8089:8089"


def test_wiring_between_services(resolved: dict[str, Any]) -> None:
    """Workers find the master, senders the broker, Redis and target, by service names and real ports."""
    services = resolved["services"]
    worker = services["worker"]["environment"]
    assert worker["LOCUST_MASTER_NODE_HOST"] in services and worker["LOCUST_MASTER_NODE_PORT"] == "5557"
    assert "5557" in [str(p) for p in services["master"]["expose"]]
    assert services["master"]["environment"]["LOCUST_HOST"] == "http://sandbox:8080"
    sender = services["sender"]["command"]
    assert sender[sender.index("--target") + 1] == "http://sandbox:8080"
    assert sender[sender.index("--bootstrap-servers") + 1] == "kafka:9092"
    assert services["sender"]["environment"]["PIPELINE_REDIS_URL"] == "redis://redis:6379/0"
    assert services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    for name in ("sandbox", "master", "worker", "ingest", "sender"):
        assert services[name]["command"][0] in ROLES


def test_prometheus_scrapes_real_metrics_ports(resolved: dict[str, Any]) -> None:
    """Each scrape target is a compose service on the port its command listens on, path /metrics."""
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    listens = {"sandbox": 8080}
    for name in ("ingest", "sender"):
        command = resolved["services"][name]["command"]
        flag = "--port" if name == "ingest" else "--metrics-port"
        listens[name] = int(command[command.index(flag) + 1])
    mounted = {f"/run/secrets/{e['source']}" for e in resolved["services"]["prometheus"]["secrets"]}
    for job in config["scrape_configs"]:
        assert job["metrics_path"] == "/metrics"
        if "authorization" in job:  # the sandbox's token: a secret file Prometheus mounts
            assert job["authorization"]["credentials_file"] in mounted, job
        targets = [t for s in job.get("static_configs", []) for t in s["targets"]]
        targets += [f"{n}:{s['port']}" for s in job.get("dns_sd_configs", []) for n in s["names"]]
        for target in targets:
            host, port = target.split(":")
            assert host in resolved["services"] and listens[host] == int(port), target
    volume = resolved["services"]["prometheus"]["volumes"][0]
    source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
    assert Path(source).resolve() == (ROOT / "deploy" / "prometheus" / "prometheus.yml")


def test_dockerfile_is_slim_nonroot_and_secret_free() -> None:
    """Base an ARG (public slim image by default), deps keyed on requirements, non-root, nothing secret."""
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-bookworm$", text, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\} AS base$", text, re.M)
    assert "# syntax=" not in text  # BuildKit would pull its frontend from a registry
    requirements = text.split("AS requirements", 1)[1].split("FROM ", 1)[0]
    assert re.findall(r"^COPY (.+?) /tmp/build/$", requirements, re.M) == ["pyproject.toml .build-ca.cr[t]"]
    deps = text.split("AS deps", 1)[1].split("FROM ", 1)[0]
    assert re.findall(r"^COPY (.+)$", deps, re.M) == ["--from=requirements /tmp/build/ /tmp/build/"]
    runtime = text.split("AS runtime", 1)[1]
    assert "--from=deps /opt/venv /opt/venv" in runtime and "build" not in " ".join(
        re.findall(r"^COPY .*", runtime, re.M)
    )
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and not users[-1].startswith(("root", "0"))
    assert not re.search(r"^(ENV|ARG)\b.*(KEY|TOKEN|PASSWORD|SECRET|SITE_ID)", text, re.M | re.I)
    for source in re.findall(r"^COPY --chown=\S+ (\S+)", text, re.M):
        assert (ROOT / source).exists(), f"COPY {source}: missing"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", ".secrets", "reports", "tests"} <= set(ignored)


def test_dockerfile_copies_every_package() -> None:
    """Each package pyproject installs is copied into the image (a new top-level package is not forgotten)."""
    text = (ROOT / "Dockerfile").read_text()
    copied = {source.rstrip("/") for source in re.findall(r"^COPY --chown=\S+ (\S+)/ ", text, re.M)}
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"][
        "include"
    ]
    assert {name.rstrip("*") for name in include} <= copied


def test_dependency_layer_command_reads_pyproject() -> None:
    """The Dockerfile's requirements one-liner, run here, lists the project's runtime dependencies."""
    line = re.search(r'python -c "(import tomllib;.*?)" >', (ROOT / "Dockerfile").read_text()).group(1)
    code = line.replace("/tmp/build/pyproject.toml", str(ROOT / "pyproject.toml"))
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert any(req.startswith("locust") for req in output.splitlines())


def test_entrypoint_covers_every_role() -> None:
    """The entry point dispatches every role compose and the k8s manifests use."""
    script = (ROOT / "deploy" / "docker" / "entrypoint.sh").read_text()
    assert os.access(ROOT / "deploy" / "docker" / "entrypoint.sh", os.X_OK)
    cases = set(re.findall(r"^\s+([a-z |]+)\)$", script, re.M))
    assert ROLES <= {role.strip() for case in cases for role in case.split("|")}


def test_sandbox_accepts_every_key_the_load_generators_send(resolved: dict[str, Any], tmp_path: Path) -> None:
    """The sandbox's workspace is the site id and the Track, App and Pipelines keys workers send, and
    ingest/senders take site id and Track key: the files the load generators' variables name."""
    folder = tmp_path / "secrets"
    assert _write_secrets({**CREDENTIALS, "CIO_SECRETS_DIR": str(folder)}).returncode == 0
    services = resolved["services"]

    def read(service: str, variable: str) -> str:
        path = services[service]["environment"][variable]
        return (folder / Path(path).name).read_text().strip()

    keys = ("CIO_SITE_ID_FILE", "CIO_API_KEY_FILE", "CIO_APP_API_KEY_FILE", "CIO_CDP_API_KEY_FILE")
    for name in ("master", "worker"):
        sent = [read(name, k) for k in keys]
        assert read("sandbox", "SANDBOX_WORKSPACES_FILE") == ":".join(sent), name
        assert sent[:2] == [CREDENTIALS["CIO_SITE_ID"], CREDENTIALS["CIO_API_KEY"]]
        for service in ("ingest", "sender"):
            assert read(service, "PIPELINE_WORKSPACES_FILE") == ":".join(sent[:2])
    assert read("master", "SANDBOX_ADMIN_TOKEN_FILE") == read("sandbox", "SANDBOX_ADMIN_TOKEN_FILE")
    assert "sandbox_admin_token" in {e["source"] for e in services["prometheus"]["secrets"]}
    assert services["worker"]["restart"] == "no"  # a worker without master exits and stays down
