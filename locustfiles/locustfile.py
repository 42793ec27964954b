"""The suite's locustfile: Customer.io users, load shapes, options and live monitoring.

``locust -f locustfiles/locustfile.py --host http://127.0.0.1:8080`` (defaults in ``locust.conf``).
Pick users by name, ``--tags``/``--class-picker``; pick the shape with ``--shape`` or the picker.
"""

from __future__ import annotations

import locustfiles.empty_run  # noqa: F401 - a distributed run that counted nothing fails
import locustfiles.gate  # noqa: F401 - --slo: live SLO rules judged on the master
import locustfiles.master_watch  # noqa: F401 - workers exit when their master is gone
import locustfiles.monitoring  # noqa: F401 - the sampler and the web UI's Customer.io tab
import locustfiles.plugin  # noqa: F401 - options, validation, pools, probe report
from locustfiles import shapes, users

# Headless runs use the first shape class found here, so OptionShape (--shape) comes first; the
# others are for --class-picker. Plain assignments keep that order whatever the import sorter does.
OptionShape = shapes.OptionShape
StagesShape = shapes.StagesShape
StepShape = shapes.StepShape
SpikeShape = shapes.SpikeShape
SoakShape = shapes.SoakShape
ArrivalRateShape = shapes.ArrivalRateShape
RateLimitProbeShape = shapes.RateLimitProbeShape

IdentifyUser = users.IdentifyUser
TrackUser = users.TrackUser
AnonymousUser = users.AnonymousUser
BatchUser = users.BatchUser
TransactionalUser = users.TransactionalUser
PipelinesUser = users.PipelinesUser
IntegrationUser = users.IntegrationUser
__all__ = [
    "AnonymousUser", "ArrivalRateShape", "BatchUser", "IdentifyUser", "IntegrationUser", "OptionShape",
    "PipelinesUser", "RateLimitProbeShape", "SoakShape", "SpikeShape", "StagesShape", "StepShape",
    "TrackUser", "TransactionalUser",
]  # fmt: skip
