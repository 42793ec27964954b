"""A local emulator of Customer.io's Track (v1, v2), App and Pipelines APIs: the default target of
every load test and the ground truth that proves nothing was lost.

Start it with ``python -m sandbox`` (``--help`` lists the options); tests start it on port 0 through
``tests.support.sandbox.running_sandbox``. Admin API under ``/__sandbox``, Prometheus at ``/metrics``.
"""

from __future__ import annotations

from sandbox.config import ConfigError, RatePolicy, SandboxConfig, WorkspaceConfig

__all__ = ["ConfigError", "RatePolicy", "SandboxConfig", "WorkspaceConfig"]
