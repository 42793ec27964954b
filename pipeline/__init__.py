"""The pipeline between an application and Customer.io: ingest -> Kafka -> rate-limited batch senders.

``python -m pipeline ingest`` speaks the Track API and produces every accepted call to Kafka;
``python -m pipeline sender`` consumes them and delivers ``/api/v2/batch`` requests within the shared
workspace rate limit, committing offsets only after delivery (at-least-once).
"""

from __future__ import annotations

from pipeline.config import ConfigError, IngestConfig, SenderConfig, Workspace

__all__ = ["ConfigError", "IngestConfig", "SenderConfig", "Workspace"]
