"""TLS for the sandbox: the server context, and a self-signed certificate clients can trust.

The official ``customerio`` SDK only speaks https to the Track API, so TLS is how it runs unchanged
against the sandbox: generate a certificate for 127.0.0.1/localhost, start with ``--tls-cert/--tls-key``
and point ``REQUESTS_CA_BUNDLE`` at the certificate.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

from sandbox.config import ConfigError

__all__ = ["generate_self_signed", "server_context"]


def server_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"--tls-cert {cert} / --tls-key {key}: cannot load them ({exc}); "
            "generate a pair with `python -m sandbox gen-cert DIR`"
        ) from None
    context.set_alpn_protocols(["http/1.1"])
    return context


def generate_self_signed(directory: str | Path, days: int = 30) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` for 127.0.0.1 and localhost into ``directory`` (openssl CLI)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ConfigError("gen-cert needs the openssl command; install it (Debian: apt-get install openssl)")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    cert, key = out / "cert.pem", out / "key.pem"
    command = [
        openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", str(days),
        "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(
            f"openssl could not create the certificate: {result.stderr.strip().splitlines()[-1]}"
        )
    key.chmod(0o600)
    return cert, key
