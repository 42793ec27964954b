"""The service side of the ready-file protocol.

Every service of the suite accepts ``--ready-file PATH``: once it listens, it writes a JSON object
(at least ``{"url": ..., "pid": ...}``) to that path atomically. Waiting for that file, rather than
polling a port, lets tests and runs bind services to port 0 and still learn the real address.
The reading side is ``runs.processes.start_service``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["write_ready_file"]


def write_ready_file(path: str | os.PathLike[str], info: dict[str, Any]) -> None:
    """Write ``info`` atomically (a rename), so readers never see half a file."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, target)
