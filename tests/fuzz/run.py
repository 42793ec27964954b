"""``python -m tests.fuzz.run TARGET [libFuzzer options] [CORPUS_DIR...]``: fuzz one target with atheris.

e.g. ``-max_total_time=10 -artifact_prefix=/tmp/crash-`` (a finding is written there and the run
exits 1); keep a finding as a regression case in ``tests/fuzz/regressions/TARGET/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

# The targets import lazily; importing the code under test here is what gets it instrumented.
with atheris.instrument_imports(include=["httpserver", "cio_contract", "sandbox"]):
    import cio_contract  # noqa: F401
    import httpserver  # noqa: F401
    import sandbox.admin  # noqa: F401
    import sandbox.app  # noqa: F401
    import sandbox.cli  # noqa: F401
    import sandbox.handlers  # noqa: F401
    import sandbox.server  # noqa: F401

from tests.fuzz.targets import TARGETS  # noqa: E402

DICTIONARIES = {
    "protocol": Path(__file__).with_name("http.dict"),
    "validators": Path(__file__).with_name("json.dict"),
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.fuzz.run {{{','.join(TARGETS)}}} [libFuzzer options]")
    target = TARGETS[sys.argv[1]]
    options = [f"-dict={DICTIONARIES[sys.argv[1]]}"]
    atheris.Setup([sys.argv[0], *options, *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
