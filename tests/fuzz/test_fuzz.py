"""The fuzz targets (issue 14): every saved regression case replays clean, and each target survives a
bounded atheris run (seeded from those cases) without a finding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

REGRESSIONS = Path(__file__).parent / "regressions"
ROOT = Path(__file__).resolve().parents[2]
SECONDS = 6


def _cases() -> list[tuple[str, Path]]:
    return [(t, p) for t in TARGETS for p in sorted((REGRESSIONS / t).glob("*")) if p.is_file()]


@pytest.mark.parametrize(("target", "case"), _cases(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_regression_cases_replay_clean(target, case):
    TARGETS[target](case.read_bytes())


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_bounded_fuzz_run_finds_nothing(target, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    command = [sys.executable, "-m", "tests.fuzz.run", target, f"-max_total_time={SECONDS}", "-seed=20261201",
               f"-artifact_prefix={tmp_path}/finding-", "-rss_limit_mb=1024", str(corpus), str(REGRESSIONS / target)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=SECONDS + 120, cwd=ROOT)
    findings = list(tmp_path.glob("finding-*"))
    assert result.returncode == 0 and not findings, (
        f"atheris found a case: keep it in {REGRESSIONS / target}/ and fix it\n" + result.stderr[-4000:]
    )
