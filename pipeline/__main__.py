"""Entry point: ``python -m pipeline {ingest,sender} [options]`` (see ``--help``)."""

from __future__ import annotations

from pipeline.cli import main

raise SystemExit(main())
