"""Which endpoints are sampled and where system_history.csv goes, from Locust's parsed options."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from locustfiles.monitoring.options import Settings, settings_from


def test_history_goes_beside_the_csv_files_unless_told_otherwise() -> None:
    """--csv DIR/locust puts the history in DIR; --system-history wins; neither means no file."""
    assert settings_from(Namespace(csv_prefix="reports/r1/locust")).history_path == Path(
        "reports/r1/system_history.csv"
    )
    assert settings_from(Namespace(csv_prefix="locust")).history_path == Path("system_history.csv")
    explicit = Namespace(csv_prefix="reports/r1/locust", system_history="/tmp/h.csv")
    assert settings_from(explicit).history_path == Path("/tmp/h.csv")
    assert settings_from(Namespace(csv_prefix=None)).history_path is None
    assert settings_from(None) == Settings()


def test_sampled_urls_skip_customerio_and_duplicates() -> None:
    """The host's /metrics comes first, never for Customer.io itself, each URL once."""
    settings = Settings(metrics_urls=("http://127.0.0.1:9101/metrics", "http://127.0.0.1:8080/metrics"))
    assert settings.urls_for("http://127.0.0.1:8080") == [
        "http://127.0.0.1:8080/metrics",
        "http://127.0.0.1:9101/metrics",
    ]
    assert settings.urls_for("https://track-eu.customer.io") == list(settings.metrics_urls)
    assert Settings(target_metrics=False).urls_for("http://127.0.0.1:8080") == []
    assert Settings().urls_for(None) == []
