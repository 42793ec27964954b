"""A load shape for the web-UI test, picked in the UI's class picker (kept apart so headless runs
without ``--class-picker`` are not taken over by it)."""

from __future__ import annotations

from locust import LoadTestShape


class StepShape(LoadTestShape):
    """4 users, then 8 after 4 s; stops after 60 s (the tests stop it sooner)."""

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        if elapsed > 60:
            return None
        return (4, 4) if elapsed < 4 else (8, 4)
