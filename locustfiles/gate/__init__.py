"""The live SLO gate (``--slo FILE``): rules judged on the master every second, abort on breach.

Importing this package (the main locustfile does) adds ``--slo`` and, through ``events.init``,
attaches a :class:`LiveGate` to the master or single-process runner; workers are left alone.
"""

from __future__ import annotations

from locustfiles.gate.plugin import LIVE_RECORD, LiveGate, register

__all__ = ["LIVE_RECORD", "LiveGate", "register"]
