"""TLS client contexts: verification on by default, ALPN ``http/1.1``.

Real providers are HTTPS, so the default must verify certificates. The trust store follows
httpx: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when the environment is trusted, else certifi when
installed, else the system store.
"""

from __future__ import annotations

import os
import ssl

from ..errors import ConfigError

__all__ = ["VerifyTypes", "create_ssl_context"]

VerifyTypes = ssl.SSLContext | bool | str | os.PathLike[str]

_ALPN = ["http/1.1"]


def create_ssl_context(verify: VerifyTypes = True, *, trust_env: bool = True) -> ssl.SSLContext:
    """Build the client context for ``verify``.

    ``True``: the default trust store. ``False``: no verification (never for real providers).
    A path: a CA bundle file or a directory of hashed certificates. An ``SSLContext`` is returned
    unchanged (the caller owns it; its ALPN setting is left alone).
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is True:
        context = _default_context(trust_env)
    elif verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, str | os.PathLike):
        context = _context_from_path(os.fspath(verify))
    else:
        raise ConfigError(
            f"expected a bool, a CA bundle path or an ssl.SSLContext, not {type(verify).__name__}",
            key="verify",
        )
    context.set_alpn_protocols(_ALPN)
    return context


def _default_context(trust_env: bool) -> ssl.SSLContext:
    if trust_env and os.environ.get("SSL_CERT_FILE"):
        return _context_from_path(os.environ["SSL_CERT_FILE"], key="SSL_CERT_FILE")
    if trust_env and os.environ.get("SSL_CERT_DIR"):
        return _context_from_path(os.environ["SSL_CERT_DIR"], key="SSL_CERT_DIR")
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _context_from_path(path: str, *, key: str = "verify") -> ssl.SSLContext:
    try:
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load CA certificates from {path!r}: {exc}", key=key) from exc
