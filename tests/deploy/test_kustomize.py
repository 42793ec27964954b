"""The offline kustomize renderer: the kustomize semantics the overlays rely on, on small inputs."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from deploy.kustomize import KustomizeError, render

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "app"},
    "spec": {
        "replicas": 1,
        "template": {"spec": {"containers": [
            {"name": "main", "image": "suite:latest", "args": ["a"], "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "other:1"},
        ]}},
    },
}  # fmt: skip


def _write(directory: Path, files: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return directory


def _base(tmp_path: Path) -> Path:
    return _write(tmp_path / "base", {
        "kustomization.yaml": {"resources": ["app.yaml"], "generatorOptions": {"disableNameSuffixHash": True},
                               "configMapGenerator": [{"name": "files", "literals": ["K=v", "X=1"]}],
                               "secretGenerator": [{"name": "creds", "literals": ["KEY=s3cret"]}]},
        "app.yaml": DEPLOYMENT,
    })  # fmt: skip


def test_strategic_merge_by_name_and_replace_of_plain_lists(tmp_path: Path) -> None:
    """Containers and env merge by name, args are replaced, untouched siblings stay."""
    _base(tmp_path)
    patch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"}, "spec": {"template": {"spec": {
        "containers": [{"name": "main", "args": ["b", "c"], "env": [{"name": "B", "value": "2"}]}]}}}}  # fmt: skip
    overlay = _write(tmp_path / "overlay", {
        "kustomization.yaml": {"resources": ["../base"], "patches": [{"path": "patch.yaml"}], "namespace": "ns",
                               "replicas": [{"name": "app", "count": 3}],
                               "images": [{"name": "suite", "newName": "registry.example/suite", "newTag": "1.2"}]},
        "patch.yaml": patch,
    })  # fmt: skip
    app = next(r for r in render(overlay) if r["kind"] == "Deployment")
    main, side = app["spec"]["template"]["spec"]["containers"]
    assert main["args"] == ["b", "c"]
    assert [e["name"] for e in main["env"]] == ["A", "B"]
    assert main["image"] == "registry.example/suite:1.2" and side["image"] == "other:1"
    assert app["spec"]["replicas"] == 3 and app["metadata"]["namespace"] == "ns"


def test_patch_delete_directive_removes_a_list_item(tmp_path: Path) -> None:
    """`$patch: delete` on a merge-keyed item removes it."""
    _base(tmp_path)
    patch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"},
             "spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}}  # fmt: skip
    overlay = _write(tmp_path / "overlay", {
        "kustomization.yaml": {"resources": ["../base"], "patches": [{"path": "patch.yaml"}]}, "patch.yaml": patch,
    })  # fmt: skip
    app = next(r for r in render(overlay) if r["kind"] == "Deployment")
    assert [c["name"] for c in app["spec"]["template"]["spec"]["containers"]] == ["main"]


def test_generators_create_merge_and_replace(tmp_path: Path) -> None:
    """Generated ConfigMaps/Secrets; an overlay merges into or replaces them by name."""
    _base(tmp_path)
    overlay = _write(tmp_path / "overlay", {
        "kustomization.yaml": {"resources": ["../base"], "generatorOptions": {"disableNameSuffixHash": True},
                               "configMapGenerator": [{"name": "files", "behavior": "merge", "literals": ["K=w"]}],
                               "secretGenerator": [{"name": "creds", "behavior": "replace", "files": ["token"]}]},
        "token": "t0ken",
    })  # fmt: skip
    resources = {r["kind"]: r for r in render(overlay)}
    assert resources["ConfigMap"]["data"] == {"K": "w", "X": "1"}
    assert resources["Secret"]["data"] == {"token": base64.b64encode(b"t0ken").decode()}


def test_generators_without_disabled_hash_are_refused(tmp_path: Path) -> None:
    """Hash suffixes (and the reference rewriting they need) are not implemented: say so."""
    _write(tmp_path, {"kustomization.yaml": {"configMapGenerator": [{"name": "x", "literals": ["a=b"]}]}})
    with pytest.raises(KustomizeError, match="disableNameSuffixHash"):
        render(tmp_path)


def test_patch_of_a_missing_resource_names_it(tmp_path: Path) -> None:
    """A patch whose target is not rendered is an error naming the target."""
    _base(tmp_path)
    patch = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ghost"}, "spec": {}}
    overlay = _write(tmp_path / "overlay", {
        "kustomization.yaml": {"resources": ["../base"], "patches": [{"path": "p.yaml"}]}, "p.yaml": patch,
    })  # fmt: skip
    with pytest.raises(KustomizeError, match="no Service named 'ghost'"):
        render(overlay)
