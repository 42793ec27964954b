"""The plumbing tests import every package's errors, the traffic model's among them."""

from __future__ import annotations

import locust  # noqa: F401 - gevent must patch ssl before anything imports it (requests, urllib3)
