"""Credentials: which workspace an ``Authorization`` header belongs to, per API.

- Track (v1 and v2): Basic ``site_id:track_api_key``.
- App: ``Bearer <app_api_key>``.
- Pipelines: Basic ``write_key:`` (empty password), or ``Bearer <write_key>`` (the Python SDK's form
  for ``pk_``/``sk_`` keys).

Every accepted header value is precomputed, so the request path does one dict lookup; only
unknown headers are decoded (to account a wrong key to the workspace its site id names).
"""

from __future__ import annotations

import base64
import binascii

from sandbox.config import WorkspaceConfig

__all__ = ["Authenticator", "TRACK", "APP", "CDP"]

TRACK, APP, CDP = range(3)


def _basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


class Authenticator:
    """Workspace indexes start at 1; 0 is the accounting slot for credentials naming no workspace."""

    def __init__(self, workspaces: tuple[WorkspaceConfig, ...]):
        self._accepted: list[dict[bytes, int]] = [{}, {}, {}]
        self._site_index = {}
        for i, ws in enumerate(workspaces, start=1):
            self._site_index[ws.site_id] = i
            self._accepted[TRACK][_basic(ws.site_id, ws.track_api_key)] = i
            self._accepted[APP][b"Bearer " + ws.app_api_key.encode()] = i
            self._accepted[CDP][_basic(ws.cdp_write_key, "")] = i
            self._accepted[CDP][b"Bearer " + ws.cdp_write_key.encode()] = i

    def workspace(self, api: int, header: bytes | None) -> int:
        """The workspace index these credentials open for ``api``, or 0 when they open none."""
        if header is None:
            return 0
        return self._accepted[api].get(header.strip(), 0)

    def claimed_workspace(self, header: bytes | None) -> int:
        """For a rejected Basic header: the workspace its user name names (so a wrong key is counted there)."""
        if not header or not header[:6].lower() == b"basic ":
            return 0
        try:
            user = base64.b64decode(header[6:].strip(), validate=True).split(b":", 1)[0]
            return self._site_index.get(user.decode(), 0)
        except (binascii.Error, UnicodeDecodeError):
            return 0
