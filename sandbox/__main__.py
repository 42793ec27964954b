"""Entry point: ``python -m sandbox [options]`` (see ``python -m sandbox --help``)."""

from __future__ import annotations

from sandbox.cli import main

raise SystemExit(main())
