"""``python -m sandbox``: parse options and a YAML config file into a SandboxConfig, then serve.

Also ``python -m sandbox gen-cert DIR``: write a self-signed certificate for 127.0.0.1/localhost.
Bad input ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from cio_contract import DEFAULT_LIMITS, DEFAULT_RATE_LIMITS, Limits
from httpserver import limits as server_limits
from plumbing.errors import SuiteError
from plumbing.options import Parser
from sandbox.config import (
    DEMO_WORKSPACE,
    RATE_MODES,
    ConfigError,
    RatePolicy,
    SandboxConfig,
    WorkspaceConfig,
    check_workspace_name,
    load_yaml,
    parse_rate_limit,
    parse_workspace,
    policy_from_mapping,
)
from sandbox.options import GEN_CERT, OPTIONS

__all__ = ["build_config", "main", "parse", "parser"]


def parser() -> Parser:
    p = Parser(
        prog="python -m sandbox",
        description="Local emulator of Customer.io's Track, App and Pipelines APIs. "
        "`python -m sandbox gen-cert DIR` writes a self-signed certificate for --tls-cert/--tls-key.",
        config_option=False,
    )
    OPTIONS.add_to(p, group=False)
    return p


# YAML keys that are not options: structured values read by build_config.
_STRUCTURED_KEYS = frozenset({"workspaces", "limits", "rate_limits", "faults"})
_FILE_KEYS = frozenset(o.dest for o in OPTIONS) - {"config", "ready_file", "workspace", "rate_limit"}


def parse(
    argv: Sequence[str], environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checked option values (command line > environment > ``--config`` file > default) and the
    YAML document itself (for its structured keys)."""
    p = parser()
    args = p.parse_checked(argv, environ)
    data: dict[str, Any] = {}
    if args.config is not None:
        where = f"--config {args.config}"
        if not args.config.strip():
            raise ConfigError("--config is empty; give the path of a YAML file, or leave the option out")
        data = load_yaml(args.config)
        if not data:
            raise ConfigError(f"{where}: the file is empty; put options in it, or leave --config out")
        OPTIONS.refuse_replaced_keys(data, where)
        unknown = set(data) - _FILE_KEYS - _STRUCTURED_KEYS
        if unknown:
            known = sorted(_FILE_KEYS | _STRUCTURED_KEYS)
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; known: {known}")
        OPTIONS.set_file_values(p, data, where, skip=_STRUCTURED_KEYS)
        args = p.parse_checked(argv, environ)
    return OPTIONS.values(args, environ), data


def gen_cert_parser() -> Parser:
    p = Parser(prog="python -m sandbox gen-cert", description="Write a self-signed certificate for "
               "127.0.0.1/localhost (for --tls-cert/--tls-key).", config_option=False)  # fmt: skip
    p.add_argument("directory", help="where cert.pem and key.pem are written")
    GEN_CERT.add_to(p, group=False)
    return p


def _gen_cert(argv: Sequence[str]) -> int:
    from sandbox.tls import generate_self_signed

    args = gen_cert_parser().parse_checked(argv)
    days = GEN_CERT.values(args)["days"]
    cert, key = generate_self_signed(args.directory, days)
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
    site = str(entry["site_id"])
    name = check_workspace_name(entry["name"], site, where) if "name" in entry else None
    return WorkspaceConfig(
        site, track,
        _secret(entry, "app_api_key", where) or track,
        _secret(entry, "cdp_write_key", where) or track, rate, name,
    )  # fmt: skip


def _base_policies(values: dict[str, Any], data: dict[str, Any]) -> dict[str, RatePolicy]:
    template = RatePolicy(
        DEFAULT_RATE_LIMITS["track"], mode=values["rate_mode"], retry_after=values["retry_after"],
        block_seconds=values["block_seconds"], block_after=values["block_after"],
        throttle_max_delay=values["throttle_max_delay"],
    )  # fmt: skip
    policies = {api: replace(template, limit=limit) for api, limit in DEFAULT_RATE_LIMITS.items()}
    for api, spec in (data.get("rate_limits") or {}).items():
        if api not in policies:
            raise ConfigError(f"rate_limits: unknown API {api!r}; use track, app or cdp")
        policies[api] = policy_from_mapping(f"rate_limits.{api}", spec, policies[api])
    for text in values["rate_limit"]:
        api, limit = parse_rate_limit(text)
        policies[api] = replace(policies[api], limit=limit)
    return policies


def _workspaces(
    values: dict[str, Any], data: dict[str, Any], policies: dict[str, RatePolicy]
) -> tuple[WorkspaceConfig, ...]:
    entries = data.get("workspaces") or []
    if not isinstance(entries, list):
        raise ConfigError(
            "workspaces: expected a list of {site_id, track_api_key, app_api_key, cdp_write_key}"
        )
    result = [_workspace_from_mapping(i, e, policies) for i, e in enumerate(entries)]
    for text in values["workspace"]:  # $SANDBOX_WORKSPACES first, then each --workspace
        site, track, app, cdp = parse_workspace(text.strip())
        result.append(WorkspaceConfig(site, track, app, cdp, dict(policies)))
    if not result:
        result.append(WorkspaceConfig(*DEMO_WORKSPACE, rate=dict(policies)))
    sites = [w.site_id for w in result]
    if len(set(sites)) < len(sites):
        # Naming the repeated id would print a secret.
        raise ConfigError("workspace site ids must be unique; one is configured twice (check --config, "
                          "--workspace and SANDBOX_WORKSPACES)")  # fmt: skip
    labels = [w.label for w in result]
    repeated = {label for label in labels if labels.count(label) > 1}
    if repeated:
        raise ConfigError(f"workspace names must be unique; repeated: {', '.join(sorted(repeated))}")
    return tuple(result)


def _limits(data: dict[str, Any]) -> Limits:
    overrides = data.get("limits") or {}
    unknown = set(overrides) - set(Limits.__dataclass_fields__)
    if unknown:
        raise ConfigError(
            f"limits: unknown keys {sorted(unknown)}; known: {sorted(Limits.__dataclass_fields__)}"
        )
    return replace(DEFAULT_LIMITS, **overrides)


def build_config(values: dict[str, Any], data: dict[str, Any]) -> SandboxConfig:
    """The one frozen configuration of this sandbox, from :func:`parse`'s two results."""
    policies = _base_policies(values, data)
    config = SandboxConfig(
        bind=values["bind"], port=values["port"], processes=values["processes"],
        workspaces=_workspaces(values, data, policies), limits=_limits(data),
        store_mode=values["store_mode"], max_events=values["max_events"], max_people=values["max_people"],
        dedup_window=values["dedup_window"], max_body_bytes=values["max_body_bytes"],
        track_v1_body_bytes=values["track_v1_body_bytes"],
        faults=_faults_arg(values["faults"]) if values["faults"] else (data.get("faults") or {}),
        tls_cert=values["tls_cert"], tls_key=values["tls_key"], admin_token=values["admin_token"],
        server=server_limits.from_values(values),
        arrivals_dir=values["arrivals_dir"] or None,
    )  # fmt: skip
    _check(config)
    return config


def _check(config: SandboxConfig) -> None:
    if config.arrivals_dir is not None:
        _check_writable_dir(config.arrivals_dir)
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together; give both (or neither for plain http)")


def _check_writable_dir(path: str) -> None:
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--arrivals-dir {path}: cannot create it ({exc.strerror}); give a writable directory"
        ) from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"--arrivals-dir {path}: not writable; give a writable directory")


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
        _refuse_admin_open(argv, os.environ)
        values, data = parse(argv)
        config = build_config(values, data)
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
        return serve(replace(config, faults=faults), values["ready_file"], _banner(config))
    except OSError as exc:
        print(
            f"sandbox: cannot listen: {exc.strerror or exc}; pick another --port or --bind", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        return 0


def _refuse_admin_open(argv: Sequence[str], environ: Mapping[str, str]) -> None:
    # The bare switch opened the admin API (faults, reset, stored people) to any client that could
    # reach the port; say what replaced it rather than "unrecognized arguments".
    if "--admin-open" in argv or environ.get("SANDBOX_ADMIN_OPEN"):
        raise ConfigError(
            "--admin-open (SANDBOX_ADMIN_OPEN) was replaced by a token: set SANDBOX_ADMIN_TOKEN (or "
            "--admin-token); non-loopback clients then send 'Authorization: Bearer <token>'"
        )


def _endpoint_names() -> set[str]:
    from cio_contract import ENDPOINTS

    return {e.name for e in ENDPOINTS}
