"""Render this repo's kustomize overlays without kubectl: ``python -m deploy.kustomize DIR``.

A strict subset of kustomize, enough for ``deploy/k8s`` and nothing more: resources, components,
namespace, labels (metadata only), config map and secret generators (with hashes disabled), strategic
merge patches (merge keys for containers, env, ports, volumes...; ``$patch: delete`` on list items),
replicas and images. Any other field is refused by name, so a manifest never silently renders
differently here than with ``kubectl kustomize`` (which remains the way to apply: ``kubectl apply -k``).
"""

from __future__ import annotations

import base64
import copy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from plumbing.errors import DeployError

__all__ = ["KustomizeError", "render", "main"]

Resource = dict[str, Any]

_SUPPORTED = {
    "apiVersion", "kind", "namespace", "labels", "resources", "components", "generatorOptions",
    "configMapGenerator", "secretGenerator", "patches", "replicas", "images",
}  # fmt: skip
_CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
}
# Strategic-merge keys of the list fields our manifests patch; other lists are replaced whole.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
}


class KustomizeError(DeployError, ValueError):
    """A kustomization this renderer cannot render the way kustomize would; the message says where."""


def render(directory: str | Path) -> list[Resource]:
    """The resources ``kubectl kustomize DIRECTORY`` would print, as dicts in order."""
    return _build(Path(directory), [], expected_kind="Kustomization")


def _build(directory: Path, inherited: list[Resource], *, expected_kind: str) -> list[Resource]:
    spec = _load_kustomization(directory, expected_kind)
    options = spec.get("generatorOptions") or {}
    if options and options != {"disableNameSuffixHash": True}:
        raise KustomizeError(f"{directory}: only generatorOptions.disableNameSuffixHash: true is supported")
    resources = list(inherited)
    for entry in spec.get("resources") or []:
        resources += _load_resource(directory / entry)
    for entry in spec.get("components") or []:
        resources = _build(directory / entry, resources, expected_kind="Component")
    for generator in spec.get("configMapGenerator") or []:
        _generate(resources, directory, generator, "ConfigMap", options)
    for generator in spec.get("secretGenerator") or []:
        _generate(resources, directory, generator, "Secret", options)
    for patch in spec.get("patches") or []:
        _apply_patch(resources, directory, patch)
    if "namespace" in spec:
        _set_namespace(resources, spec["namespace"])
    for label in spec.get("labels") or []:
        _add_labels(resources, directory, label)
    for replica in spec.get("replicas") or []:
        _find(resources, None, replica["name"], directory)["spec"]["replicas"] = int(replica["count"])
    for image in spec.get("images") or []:
        _set_image(resources, image)
    return resources


def _load_kustomization(directory: Path, expected_kind: str) -> dict[str, Any]:
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{directory}: no kustomization.yaml")
    spec = yaml.safe_load(path.read_text()) or {}
    kind = spec.get("kind", "Kustomization")
    if kind != expected_kind:
        raise KustomizeError(f"{path}: kind {kind} where a {expected_kind} is expected")
    unknown = sorted(set(spec) - _SUPPORTED)
    if unknown:
        raise KustomizeError(
            f"{path}: unsupported field(s) {', '.join(unknown)}; render with kubectl kustomize"
        )
    return spec


def _load_resource(path: Path) -> list[Resource]:
    if path.is_dir():
        return _build(path, [], expected_kind="Kustomization")
    if not path.is_file():
        raise KustomizeError(f"resource {path} does not exist")
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _generate(
    resources: list[Resource], directory: Path, generator: dict[str, Any], kind: str, options: dict[str, Any]
) -> None:
    if not options.get("disableNameSuffixHash"):
        raise KustomizeError(
            f"{directory}: generators need generatorOptions.disableNameSuffixHash: true here"
        )
    data = _generator_data(directory, generator)
    behavior = generator.get("behavior", "create")
    name = generator["name"]
    if behavior == "create":
        resources.append(_generated(kind, name, data))
        return
    existing = _find(resources, kind, name, directory)
    merged = {**_decoded(existing), **data} if behavior == "merge" else data
    existing.update(_generated(kind, name, merged, existing["metadata"]))


def _generator_data(directory: Path, generator: dict[str, Any]) -> dict[str, str]:
    data: dict[str, str] = {}
    for entry in generator.get("files") or []:
        key, _, source = entry.rpartition("=")
        path = directory / source
        data[key or path.name] = path.read_text()
    for entry in generator.get("literals") or []:
        key, _, value = entry.partition("=")
        data[key] = value
    for env_file in generator.get("envs") or []:
        for line in (directory / env_file).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                data[key.strip()] = value
    return data


def _generated(
    kind: str, name: str, data: dict[str, str], metadata: dict[str, Any] | None = None
) -> Resource:
    meta = copy.deepcopy(metadata) if metadata else {"name": name}
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "data": data}
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    return {"apiVersion": "v1", "kind": kind, "metadata": meta, "type": "Opaque", "data": encoded}


def _decoded(resource: Resource) -> dict[str, str]:
    data = resource.get("data") or {}
    if resource["kind"] == "Secret":
        return {key: base64.b64decode(value).decode() for key, value in data.items()}
    return dict(data)


def _apply_patch(resources: list[Resource], directory: Path, patch: dict[str, Any]) -> None:
    if set(patch) - {"path", "patch"}:
        raise KustomizeError(f"{directory}: patches support path or patch only (strategic merge, no target)")
    text = (directory / patch["path"]).read_text() if "path" in patch else patch["patch"]
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    for doc in docs:
        target = _find(resources, doc["kind"], doc["metadata"]["name"], directory)
        merged = _merge(target, doc)
        target.clear()
        target.update(merged)


def _merge(base: Any, patch: Any, field: str = "") -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        result = dict(base)
        for key, value in patch.items():
            result[key] = _merge(base[key], value, key) if key in base else _strip(value)
        return result
    if isinstance(base, list) and isinstance(patch, list):
        key = _MERGE_KEYS.get(field) or _ports_key(field, base + patch)
        if key and all(isinstance(item, dict) and key in item for item in base + patch):
            return _merge_list(base, patch, key)
    return _strip(patch)


def _ports_key(field: str, items: list[Any]) -> str | None:
    if field != "ports":
        return None
    return (
        "containerPort"
        if any(isinstance(item, dict) and "containerPort" in item for item in items)
        else "port"
    )


def _merge_list(base: list[dict[str, Any]], patch: list[dict[str, Any]], key: str) -> list[Any]:
    result = list(base)
    for item in patch:
        index = next((i for i, old in enumerate(result) if old[key] == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(_strip(item))
        else:
            result[index] = _merge(result[index], item)
    return result


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _strip(item) for key, item in value.items() if key != "$patch"}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


def _find(resources: list[Resource], kind: str | None, name: str, directory: Path) -> Resource:
    for resource in resources:
        if resource["metadata"]["name"] == name and (kind is None or resource["kind"] == kind):
            return resource
    raise KustomizeError(f"{directory}: no {kind or 'resource'} named {name!r} to patch")


def _set_namespace(resources: list[Resource], namespace: str) -> None:
    for resource in resources:
        if resource["kind"] not in _CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = namespace


def _add_labels(resources: list[Resource], directory: Path, label: dict[str, Any]) -> None:
    if set(label) - {"pairs"} and (label.get("includeSelectors") or label.get("includeTemplates")):
        raise KustomizeError(f"{directory}: labels support pairs on metadata only")
    for resource in resources:
        resource["metadata"].setdefault("labels", {}).update(label["pairs"])


def _set_image(resources: list[Resource], image: dict[str, Any]) -> None:
    for container in _containers(resources):
        name, _, tag = container["image"].partition(":")
        if name == image["name"]:
            new_name = image.get("newName", name)
            container["image"] = f"{new_name}:{image.get('newTag', tag or 'latest')}"


def _containers(resources: list[Resource]) -> list[dict[str, Any]]:
    found = []
    for resource in resources:
        pod = resource.get("spec", {}).get("template", {}).get("spec", {})
        found += pod.get("containers", []) + pod.get("initContainers", [])
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m deploy.kustomize DIR  (e.g. deploy/k8s/overlays/small)", file=sys.stderr)
        return 2
    try:
        resources = render(args[0])
    except (KustomizeError, OSError, yaml.YAMLError) as error:
        print(f"kustomize: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(yaml.safe_dump_all(resources, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
