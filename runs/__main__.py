"""``python -m runs demo|baseline|stress|spike|soak``."""

from __future__ import annotations

import sys

from runs.cli import main

if __name__ == "__main__":
    sys.exit(main())
