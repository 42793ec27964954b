"""Live monitoring of the load-test target: system_history.csv and the web UI's Customer.io tab.

Importing this package (the main locustfile does) adds its command-line options and, through
``events.init``, attaches a sampler to the master or single-process runner; workers are left alone.
Library users who build an Environment themselves call :func:`register` after creating the runner
(and the web UI, if they want the tab).
"""

from __future__ import annotations

from locustfiles.monitoring.history import COLUMNS
from locustfiles.monitoring.plugin import Monitor, register
from locustfiles.monitoring.sampler import SystemSampler

__all__ = ["COLUMNS", "Monitor", "SystemSampler", "register"]
