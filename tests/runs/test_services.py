"""``runs.services``: a program the pipeline run needs but cannot find is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from runs import pipeline, services


def test_missing_redis_server_names_the_fix_and_exits_2(tmp_path: Path, monkeypatch, capsys) -> None:
    """No redis-server on PATH: MissingTool says how to install it, and the run exits 2 with that line."""
    monkeypatch.setattr(services.shutil, "which", lambda _name: None)
    with pytest.raises(services.MissingTool, match="make system-deps") as caught:
        services.start_redis(tmp_path)
    assert caught.value.exit_code == 2

    def run() -> dict[str, object]:
        services.start_redis(tmp_path)
        return {"exit_code": 0}

    assert pipeline._reported(run) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "redis-server is not installed" in err and "--redis-url" in err
