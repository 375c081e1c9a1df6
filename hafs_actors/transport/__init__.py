"""HTTP transport: how adapters get their ``httpx.AsyncClient``.

:func:`create_pooled_client` gives one pooled client per provider actor, and the
:class:`HafsTransport` under it when there is one (its owner keeps that reference: no registry
maps clients to transports). By default it runs on :class:`HafsTransport` (HTTP/1.1 over trio,
responses parsed by llhttp, with an O(1) keep-alive pool); httpx's own transport is used when a
proxy applies, when HTTP/2 is asked for, or when ``transport="httpx"`` (docs/design.md; the
rule is :func:`choose_transport`).
See ``docs/transport.md``.
"""

from __future__ import annotations

import importlib.util
import os
import ssl

import attrs
import httpx

from ..errors import ConfigError as _ConfigError
from ._selection import TransportChoice, choose_transport, environment_proxy_applies
from ._stats import OriginStatistics, TransportStatistics
from ._tls import create_ssl_context
from .transport import DEFAULT_KEEPALIVE_EXPIRY, HafsTransport

__all__ = [
    "DEFAULT_KEEPALIVE_EXPIRY",
    "HafsTransport",
    "OriginStatistics",
    "PooledClient",
    "TransportChoice",
    "TransportStatistics",
    "choose_transport",
    "create_http_client",
    "create_pooled_client",
    "create_ssl_context",
    "environment_proxy_applies",
    "transport_statistics",
]


@attrs.frozen
class PooledClient:
    """A client and the project transport under it (``None`` on httpx's own transport)."""

    client: httpx.AsyncClient
    hafs: HafsTransport | None

    def statistics(self) -> TransportStatistics | None:
        return None if self.hafs is None else self.hafs.statistics()


def create_http_client(
    *,
    base_url: str = "",
    headers: dict[str, str] | None = None,
    timeout: httpx.Timeout | None = None,
    max_connections: int = 256,
    max_keepalive_connections: int | None = None,
    transport: str = "hafs",
    proxy: str | None = None,
    http2: bool = False,
    verify: ssl.SSLContext | bool | str = True,
    trust_env: bool = True,
    keepalive_expiry: float | None = DEFAULT_KEEPALIVE_EXPIRY,
) -> httpx.AsyncClient:
    """One pooled client (see :func:`create_pooled_client`, which also gives its transport)."""
    return create_pooled_client(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive_connections,
        transport=transport,
        proxy=proxy,
        http2=http2,
        verify=verify,
        trust_env=trust_env,
        keepalive_expiry=keepalive_expiry,
    ).client


def create_pooled_client(
    *,
    base_url: str = "",
    headers: dict[str, str] | None = None,
    timeout: httpx.Timeout | None = None,
    max_connections: int = 256,
    max_keepalive_connections: int | None = None,
    transport: str | httpx.AsyncBaseTransport = "hafs",
    proxy: str | None = None,
    http2: bool = False,
    verify: ssl.SSLContext | bool | str = True,
    trust_env: bool = True,
    keepalive_expiry: float | None = DEFAULT_KEEPALIVE_EXPIRY,
) -> PooledClient:
    """One pooled client for one provider actor, with the :class:`HafsTransport` under it.

    ``transport="hafs"`` uses the project's HTTP/1.1-over-trio transport unless a proxy applies
    (``proxy`` given, or ``HTTP(S)_PROXY``/``ALL_PROXY`` from the environment matches
    ``base_url`` and ``NO_PROXY`` does not exclude it) or HTTP/2 is asked for (docs/design.md),
    in which case httpx's own transport is used; ``transport="httpx"`` always uses httpx's.
    Timeouts and limits mean the same on both. ``trust_env=False`` ignores proxy and CA
    variables. A transport object (say ``httpx.MockTransport``) is used as given: the limits,
    ``verify`` and the environment then belong to it, and ``proxy``/``http2`` are refused.
    """
    timeout = timeout or httpx.Timeout(60.0)
    if isinstance(transport, httpx.AsyncBaseTransport):
        if proxy is not None or http2:
            raise _ConfigError(
                "proxy and http2 cannot apply to a given transport object", key="transport"
            )
        client = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )
        return PooledClient(client, transport if isinstance(transport, HafsTransport) else None)
    choice = choose_transport(
        transport=transport, base_url=base_url, proxy=proxy, http2=http2, trust_env=trust_env
    )
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=(
            max_connections if max_keepalive_connections is None else max_keepalive_connections
        ),
        keepalive_expiry=keepalive_expiry,
    )
    if choice.kind == "hafs":
        hafs = HafsTransport.from_limits(limits, verify=verify, trust_env=trust_env)
        client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            transport=hafs,
            trust_env=trust_env,
        )
        return PooledClient(client, hafs)
    if http2 and importlib.util.find_spec("h2") is None:
        raise _ConfigError(
            "http2=True needs the 'h2' package (pip install 'httpx[http2]')", key="http2"
        )
    if isinstance(verify, str | os.PathLike):
        verify = create_ssl_context(verify, trust_env=trust_env)  # httpx deprecates paths
    client = httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        limits=limits,
        proxy=proxy,
        http2=http2,
        verify=verify,
        trust_env=trust_env,
    )
    return PooledClient(client, None)


def transport_statistics(owner: object) -> TransportStatistics | None:
    """Pool statistics of an adapter (anything with a ``transport_statistics()`` method) whose
    client runs on :class:`HafsTransport`; None for anything else (httpx's transport, a user's
    ``http_client``, a custom adapter). Reads the owner's own reference: no global registry."""
    read = getattr(owner, "transport_statistics", None)
    return read() if callable(read) else None
