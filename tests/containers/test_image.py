"""The suite image: uid 10001, read-only root filesystem, and no credential or CA bundle in it."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from tests.containers import credentials
from tests.support.containers import SUITE_IMAGE, docker


def test_image_runs_as_10001_on_a_read_only_root(images: dict[str, str]) -> None:
    """As compose and the pods run it: uid/gid 10001, / not writable, /tmp (tmpfs) writable."""
    script = "id -u; id -g; touch /app/probe 2>/dev/null && echo root-writable || echo read-only; touch /tmp/ok && echo tmp-ok"
    done = docker(images, "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--network", "none",
                  "--cap-drop", "ALL", "--entrypoint", "sh", SUITE_IMAGE, "-c", script)  # fmt: skip
    assert done.stdout.split() == ["10001", "10001", "read-only", "tmp-ok"], done.stdout + done.stderr
    config = json.loads(docker(images, "image", "inspect", SUITE_IMAGE).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"


def test_no_credential_or_ca_bundle_in_any_layer_or_inspect_output(
    images: dict[str, str], tmp_path: Path
) -> None:
    """Grep every layer, the image's inspect output and its history for the tests' credentials (the
    build ran with some in its environment); the build-time CA bundle stays out of the runtime stage."""
    inspected = docker(images, "image", "inspect", SUITE_IMAGE).stdout
    history = docker(images, "history", "--no-trunc", SUITE_IMAGE).stdout
    saved = tmp_path / "image.tar"
    assert docker(images, "save", "-o", str(saved), SUITE_IMAGE, timeout=300).returncode == 0
    names: list[str] = []
    leaks = {value for value in credentials.EVERY_VALUE if value in inspected or value in history}
    with tarfile.open(saved) as image:
        for member in image:
            if not member.name.endswith("layer.tar"):
                continue
            layer_file = image.extractfile(member)
            assert layer_file is not None
            with tarfile.open(fileobj=layer_file) as layer:
                for entry in layer:
                    names.append(entry.name)
                    if entry.isfile() and entry.size < 50_000_000:
                        content = layer.extractfile(entry)
                        data = content.read() if content else b""
                        leaks |= {v for v in credentials.EVERY_VALUE if v.encode() in data}
    assert not leaks, f"credentials baked into the image: {sorted(leaks)}"
    assert len(names) > 1000  # really read the layers
    assert not [n for n in names if "build-ca" in n or n.startswith("tmp/build")], (
        "CA bundle in the runtime image"
    )
