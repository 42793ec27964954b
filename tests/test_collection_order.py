"""The suite does not depend on which module pytest collects first.

A module importing requests (urllib3) before anything imported Locust used to make the next Locust
import recurse in ssl.SSLContext while collecting (gevent patched ssl after urllib3 had bound the
unpatched class); tests/conftest.py now imports Locust before every test module.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_module_importing_requests_first_does_not_break_collecting_the_locust_ones() -> None:
    # tests/sandbox/conftest.py imports requests and nothing of Locust; test_cli_errors imports the
    # traffic model's options (Locust) at collection.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests/sandbox/test_fuzz.py", "tests/test_cli_errors.py"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "RecursionError" not in done.stdout
