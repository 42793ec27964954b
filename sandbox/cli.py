"""``python -m sandbox``: parse options and a YAML config file into a SandboxConfig, then serve.

Also ``python -m sandbox gen-cert DIR``: write a self-signed certificate for 127.0.0.1/localhost.
Bad input ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from cio_contract import DEFAULT_LIMITS, DEFAULT_RATE_LIMITS, Limits
from plumbing.errors import SuiteError
from sandbox.config import (
    DEMO_WORKSPACE,
    RATE_MODES,
    STORE_MODES,
    ConfigError,
    RatePolicy,
    SandboxConfig,
    WorkspaceConfig,
    load_yaml,
    parse_rate_limit,
    parse_workspace,
    policy_from_mapping,
)

__all__ = ["build_config", "main", "parser"]

WORKSPACES_ENV = "SANDBOX_WORKSPACES"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Local emulator of Customer.io's Track, App and Pipelines APIs. "
        "`python -m sandbox gen-cert DIR` writes a self-signed certificate for --tls-cert/--tls-key.",
    )
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--config", help="YAML file with workspaces, limits, modes and faults")
    p.add_argument("--workspace", action="append", default=[], metavar="SITE_ID:TRACK_KEY[:APP_KEY[:CDP_KEY]]",
                   help=f"add a workspace (repeatable; also ${WORKSPACES_ENV}, comma-separated)")  # fmt: skip
    p.add_argument("--tls-cert", help="PEM certificate: serve https")
    p.add_argument("--tls-key", help="PEM private key for --tls-cert")
    p.add_argument("--processes", type=int, help="worker processes sharing the port (default 1)")
    p.add_argument("--ready-file", help="write {url, pid, admin} here once listening")
    p.add_argument("--rate-mode", choices=RATE_MODES, help="past the limit: reject (429, default), "
                   "throttle (delay), drop (200, not recorded), block (429 for --block-seconds), off")  # fmt: skip
    p.add_argument("--rate-limit", action="append", default=[], metavar="API=REQ[/SECONDS][+BURST]",
                   help="e.g. track=100, cdp=3000/3, app=10+5 (defaults: track=100, app=10, cdp=3000/3)")  # fmt: skip
    p.add_argument(
        "--retry-after", type=float, help="seconds for a Retry-After header on 429 (default: none)"
    )
    p.add_argument("--block-seconds", type=float, help="block mode: how long a block lasts (default 10)")
    p.add_argument(
        "--block-after", type=int, help="block mode: over-limit requests in one window that start a block"
    )
    p.add_argument(
        "--throttle-max-delay", type=float, help="throttle mode: longest delay before 429 (default 30)"
    )
    p.add_argument("--store", choices=STORE_MODES, help="full (bounded people/events, default) or count only")
    p.add_argument("--max-events", type=int, help="events kept in full mode (default 100000)")
    p.add_argument("--faults", help="faults document as JSON, or @FILE (JSON or YAML)")
    p.add_argument("--admin-open", action="store_true", default=None,
                   help="serve /__sandbox and /metrics to non-loopback clients (container networks)")  # fmt: skip
    return p


def _gen_cert(argv: Sequence[str]) -> int:
    from sandbox.tls import generate_self_signed

    p = argparse.ArgumentParser(prog="python -m sandbox gen-cert")
    p.add_argument("directory")
    p.add_argument("--days", type=int, default=30)
    args = p.parse_args(argv)
    cert, key = generate_self_signed(args.directory, args.days)
    print(f"wrote {cert} and {key}; clients trust it with REQUESTS_CA_BUNDLE={cert}")
    return 0


def _faults_arg(text: str) -> Any:
    if text.startswith("@"):
        path = text[1:]
        if path.endswith((".yaml", ".yml")):
            return load_yaml(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"--faults @{path}: cannot read it ({exc.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--faults: not valid JSON ({exc.msg} at column {exc.colno})") from None


def _secret(entry: dict[str, Any], key: str, where: str) -> str | None:
    # Keys may come from the environment (`track_api_key_env: VAR`) so the file holds no secret.
    if f"{key}_env" in entry:
        value = os.environ.get(str(entry[f"{key}_env"]))
        if not value:
            raise ConfigError(f"{where}.{key}_env: environment variable {entry[f'{key}_env']} is not set")
        return value
    value = entry.get(key)
    return None if value is None else str(value)


def _workspace_from_mapping(i: int, entry: Any, policies: dict[str, RatePolicy]) -> WorkspaceConfig:
    where = f"workspaces[{i}]"
    if not isinstance(entry, dict) or not entry.get("site_id"):
        raise ConfigError(f"{where}: expected a mapping with at least site_id and track_api_key")
    track = _secret(entry, "track_api_key", where)
    if not track:
        raise ConfigError(f"{where}: track_api_key (or track_api_key_env) is required")
    rate = dict(policies)
    mode = entry.get("rate_mode")
    for api, spec in (entry.get("rate_limits") or {}).items():
        if api not in DEFAULT_RATE_LIMITS:
            raise ConfigError(f"{where}.rate_limits: unknown API {api!r}; use track, app or cdp")
        rate[api] = policy_from_mapping(f"{where}.rate_limits.{api}", spec, rate[api])
    if mode is not None:
        if mode not in RATE_MODES:
            raise ConfigError(f"{where}.rate_mode: {mode!r} is not one of {', '.join(RATE_MODES)}")
        rate = {api: replace(p, mode=mode) for api, p in rate.items()}
    return WorkspaceConfig(
        str(entry["site_id"]), track,
        _secret(entry, "app_api_key", where) or track,
        _secret(entry, "cdp_write_key", where) or track, rate,
    )  # fmt: skip


def _base_policies(args: argparse.Namespace, data: dict[str, Any]) -> dict[str, RatePolicy]:
    template = RatePolicy(
        DEFAULT_RATE_LIMITS["track"], mode=args.rate_mode or data.get("rate_mode", "reject")
    )
    if template.mode not in RATE_MODES:
        raise ConfigError(f"rate_mode: {template.mode!r} is not one of {', '.join(RATE_MODES)}")
    overrides = {
        "retry_after": args.retry_after, "block_seconds": args.block_seconds,
        "block_after": args.block_after, "throttle_max_delay": args.throttle_max_delay,
    }  # fmt: skip
    template = replace(template, **{k: v for k, v in overrides.items() if v is not None})
    policies = {api: replace(template, limit=limit) for api, limit in DEFAULT_RATE_LIMITS.items()}
    for api, spec in (data.get("rate_limits") or {}).items():
        if api not in policies:
            raise ConfigError(f"rate_limits: unknown API {api!r}; use track, app or cdp")
        policies[api] = policy_from_mapping(f"rate_limits.{api}", spec, policies[api])
    for text in args.rate_limit:
        api, limit = parse_rate_limit(text)
        policies[api] = replace(policies[api], limit=limit)
    return policies


def _workspaces(
    args: argparse.Namespace, data: dict[str, Any], policies: dict[str, RatePolicy]
) -> tuple[WorkspaceConfig, ...]:
    entries = data.get("workspaces") or []
    if not isinstance(entries, list):
        raise ConfigError(
            "workspaces: expected a list of {site_id, track_api_key, app_api_key, cdp_write_key}"
        )
    result = [_workspace_from_mapping(i, e, policies) for i, e in enumerate(entries)]
    env = [w for w in os.environ.get(WORKSPACES_ENV, "").split(",") if w.strip()]
    for text in [*env, *args.workspace]:
        site, track, app, cdp = parse_workspace(text.strip())
        result.append(WorkspaceConfig(site, track, app, cdp, dict(policies)))
    if not result:
        result.append(WorkspaceConfig(*DEMO_WORKSPACE, rate=dict(policies)))
    sites = [w.site_id for w in result]
    duplicates = {s for s in sites if sites.count(s) > 1}
    if duplicates:
        raise ConfigError(f"workspace site ids must be unique; repeated: {', '.join(sorted(duplicates))}")
    return tuple(result)


def _limits(data: dict[str, Any]) -> Limits:
    overrides = data.get("limits") or {}
    unknown = set(overrides) - set(Limits.__dataclass_fields__)
    if unknown:
        raise ConfigError(
            f"limits: unknown keys {sorted(unknown)}; known: {sorted(Limits.__dataclass_fields__)}"
        )
    return replace(DEFAULT_LIMITS, **overrides)


def build_config(args: argparse.Namespace) -> SandboxConfig:
    if args.config is not None and not args.config.strip():
        raise ConfigError("--config is empty; give the path of a YAML file, or leave the option out")
    data = load_yaml(args.config) if args.config else {}
    known = {"host", "port", "processes", "rate_mode", "rate_limits", "store_mode", "max_events", "max_people",
             "dedup_window", "max_body_bytes", "track_v1_body_bytes", "limits", "faults", "workspaces",
             "admin_open", "tls_cert", "tls_key"}  # fmt: skip
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"--config {args.config}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    policies = _base_policies(args, data)

    def pick(name: str, default: Any) -> Any:
        value = getattr(args, name, None)
        return value if value is not None else data.get(name, default)

    config = SandboxConfig(
        host=pick("host", "127.0.0.1"), port=_int("port", pick("port", 8080)), processes=_int("processes", pick("processes", 1)),
        workspaces=_workspaces(args, data, policies), limits=_limits(data),
        store_mode=args.store or data.get("store_mode", "full"), max_events=_int("max_events", pick("max_events", 100_000)),
        max_people=_int("max_people", data.get("max_people", 100_000)), dedup_window=_int("dedup_window", data.get("dedup_window", 200_000)),
        max_body_bytes=_int("max_body_bytes", data.get("max_body_bytes", 4 * 1024 * 1024)),
        track_v1_body_bytes=_int("track_v1_body_bytes", data.get("track_v1_body_bytes", 1024 * 1024)),
        faults=_faults_arg(args.faults) if args.faults else (data.get("faults") or {}),
        tls_cert=pick("tls_cert", None), tls_key=pick("tls_key", None),
        admin_open=bool(pick("admin_open", False)),
    )  # fmt: skip
    _check(config)
    return config


def _int(name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} {value!r}: expected a whole number") from None


def _check(config: SandboxConfig) -> None:
    if config.processes < 1:
        raise ConfigError("--processes must be at least 1")
    for name in ("max_events", "max_people", "dedup_window"):
        if getattr(config, name) < 0:
            raise ConfigError(f"--{name.replace('_', '-')} {getattr(config, name)}: give 0 or more")
    for name in ("max_body_bytes", "track_v1_body_bytes"):
        if getattr(config, name) < 1:
            raise ConfigError(f"{name} {getattr(config, name)}: give a size of at least 1 byte")
    for policy in (p for ws in config.workspaces for p in ws.rate.values()):
        for name in ("retry_after", "block_seconds", "block_after", "throttle_max_delay"):
            if getattr(policy, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(policy, name)}: give 0 or more")
    if not 0 <= config.port <= 65535:
        raise ConfigError("--port must be between 0 and 65535")
    if config.store_mode not in STORE_MODES:
        raise ConfigError(f"store_mode: {config.store_mode!r} is not one of {', '.join(STORE_MODES)}")
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together; give both (or neither for plain http)")


def _banner(config: SandboxConfig) -> str:
    if [w.site_id for w in config.workspaces] == [DEMO_WORKSPACE[0]]:
        site, track, app, cdp = DEMO_WORKSPACE
        return (f"\n  demo workspace: site id {site}, Track API key {track}, App API key {app}, "
                f"Pipelines write key {cdp}")  # fmt: skip
    # Site ids of real configurations are secrets: logs (and run directories) get only the count.
    return f"\n  workspaces: {len(config.workspaces)} configured (site ids not logged)"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["gen-cert"]:
            return _gen_cert(argv[1:])
        args = parser().parse_args(argv)
        config = build_config(args)
        from sandbox.faults import compile_document

        faults = compile_document(config.faults, set(_endpoint_names())) if config.faults else {}
        if config.tls_cert and config.tls_key:
            from sandbox.tls import server_context

            server_context(config.tls_cert, config.tls_key)  # fail here, once, with one line
    except SuiteError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return exc.exit_code
    from sandbox.server import serve

    try:
        # Only the listening socket is the user's to fix here; any other error is a bug and keeps its traceback.
        return serve(replace(config, faults=faults), args.ready_file, _banner(config))
    except OSError as exc:
        print(
            f"sandbox: cannot listen: {exc.strerror or exc}; pick another --port or --host", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        return 0


def _endpoint_names() -> set[str]:
    from cio_contract import ENDPOINTS

    return {e.name for e in ENDPOINTS}
