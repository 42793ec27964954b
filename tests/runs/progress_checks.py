"""Checks on the plain progress lines ``python -m runs`` prints when stdout is not a terminal.

Shared so that any test that already runs a profile without a TTY can assert them for free.
"""

from __future__ import annotations

import re

PLAIN = re.compile(r"^runs: progress (\w+) (\d+):(\d\d)/\S+( done)?, users \d+, .*requests ([\d,]+), ")


def plain_progress(stdout: str) -> list[tuple[float, bool, int]]:
    """(elapsed seconds, is the final line, requests) for each plain progress line, in order."""
    found = []
    for line in stdout.splitlines():
        if match := PLAIN.match(line):
            elapsed = int(match.group(2)) * 60 + int(match.group(3))
            found.append((float(elapsed), bool(match.group(4)), int(match.group(5).replace(",", ""))))
    return found


def assert_plain_progress(stdout: str, *, min_lines: int = 2) -> None:
    """At least ``min_lines`` lines during the run, about 10 s apart by the run's own clock, requests
    never going down, and one final line at the end."""
    lines = plain_progress(stdout)
    during = [line for line in lines if not line[1]]
    assert len(during) >= min_lines, f"{len(during)} plain progress lines during the run:\n{stdout}"
    gaps = [later[0] - earlier[0] for earlier, later in zip(during, during[1:], strict=False)]
    # Printed every 10 s of wall time; the elapsed figure is the master's, read once a second.
    assert all(7 <= gap <= 16 for gap in gaps), f"gaps between plain lines: {gaps}"
    assert lines[-1][1] and sum(line[1] for line in lines) == 1, "exactly one final line, at the end"
    requests = [line[2] for line in lines]
    assert requests == sorted(requests), f"requests went down: {requests}"
