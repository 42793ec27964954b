"""The columns of ``system_history.csv``: written by the monitoring sampler, read by the analysis."""

from __future__ import annotations

__all__ = ["SYSTEM_COLUMNS"]

SYSTEM_COLUMNS = (
    "sandbox_requests_per_s",
    "sandbox_accepted_per_s",
    "sandbox_rate_limited_per_s",
    "sandbox_dropped_per_s",
    "sandbox_errors_per_s",
    "sandbox_budget_used",
    "pipeline_ingested_per_s",
    "pipeline_delivered_per_s",
    "pipeline_consumer_lag",
    "pipeline_dead_letters_per_s",
)
"""Every series after ``timestamp``, in file order; an empty cell means no source reported it."""
