"""``python -m locustfiles``: Locust's ``--help`` including the suite's own options.

Locust prints ``--help`` before it loads a locustfile, so ``locust -f locustfiles/locustfile.py
--help`` cannot list options that the locustfile adds; this prints the complete list.
"""

from __future__ import annotations

from locust.argument_parser import get_parser

import locustfiles.monitoring  # noqa: F401 - its options too
import locustfiles.plugin  # noqa: F401 - registers the traffic model's options


def main() -> None:
    get_parser().parse_args(["--help"])


if __name__ == "__main__":
    main()
