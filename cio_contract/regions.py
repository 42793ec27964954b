"""Customer.io's hosts per API and region, and how to tell a real Customer.io host from a local one."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["TRACK_HOSTS", "APP_HOSTS", "CDP_HOSTS", "is_customerio_host"]

TRACK_HOSTS = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}
APP_HOSTS = {"us": "https://api.customer.io", "eu": "https://api-eu.customer.io"}
CDP_HOSTS = {"us": "https://cdp.customer.io", "eu": "https://cdp-eu.customer.io"}


def is_customerio_host(url: str) -> bool:
    """True when ``url`` points at Customer.io itself (any ``*.customer.io`` or ``*.customerio.com``)."""
    host = (urlsplit(url if "//" in url else f"//{url}").hostname or "").lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in ("customer.io", "customerio.com"))
