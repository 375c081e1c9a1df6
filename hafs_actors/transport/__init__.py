"""HTTP transport: how adapters get their ``httpx.AsyncClient``.

:func:`create_http_client` gives one pooled client per provider actor. By default it runs on
:class:`HafsTransport` (h11 over trio with an O(1) keep-alive pool); httpx's own transport is
used when a proxy applies, when HTTP/2 is asked for, or when ``transport="httpx"`` (design
section 9; the rule is :func:`choose_transport`). See ``docs/transport.md``.
"""

from __future__ import annotations

import importlib.util
import os
import ssl
import weakref

import httpx

from ..errors import ConfigError
from ._selection import TransportChoice, choose_transport, environment_proxy_applies
from ._stats import OriginStatistics, TransportStatistics
from ._tls import create_ssl_context
from .transport import DEFAULT_KEEPALIVE_EXPIRY, HafsTransport

__all__ = [
    "DEFAULT_KEEPALIVE_EXPIRY",
    "HafsTransport",
    "OriginStatistics",
    "TransportChoice",
    "TransportStatistics",
    "choose_transport",
    "create_http_client",
    "create_ssl_context",
    "direct_transport",
    "environment_proxy_applies",
    "transport_statistics",
]

_HAFS_TRANSPORTS: weakref.WeakKeyDictionary[httpx.AsyncClient, HafsTransport] = (
    weakref.WeakKeyDictionary()
)


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
    """One pooled client for one provider actor.

    ``transport="hafs"`` uses the project's h11-over-trio transport unless a proxy applies
    (``proxy`` given, or ``HTTP(S)_PROXY``/``ALL_PROXY`` from the environment matches
    ``base_url`` and ``NO_PROXY`` does not exclude it) or HTTP/2 is asked for (design section
    9), in which case httpx's own transport is used; ``transport="httpx"`` always uses httpx's.
    Timeouts and limits mean the same on both. ``trust_env=False`` ignores proxy and CA
    variables.
    """
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
    timeout = timeout or httpx.Timeout(60.0)
    if choice.kind == "hafs":
        hafs = HafsTransport.from_limits(limits, verify=verify, trust_env=trust_env)
        client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            transport=hafs,
            trust_env=trust_env,
        )
        _HAFS_TRANSPORTS[client] = hafs
        return client
    if http2 and importlib.util.find_spec("h2") is None:
        raise ConfigError(
            "http2=True needs the 'h2' package (pip install 'httpx[http2]')", key="http2"
        )
    if isinstance(verify, str | os.PathLike):
        verify = create_ssl_context(verify, trust_env=trust_env)  # httpx deprecates paths
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        limits=limits,
        proxy=proxy,
        http2=http2,
        verify=verify,
        trust_env=trust_env,
    )


def direct_transport(client: httpx.AsyncClient) -> HafsTransport | None:
    """The :class:`HafsTransport` under a client made by :func:`create_http_client`, or None
    when the client runs on httpx's own transport.

    Adapters send their prepared requests straight to it: the client's per-request layers
    (cookie jar, auth and redirect flows, event hooks) cost ~45 us a request and do nothing for
    a provider API (docs/transport.md).
    """
    return _HAFS_TRANSPORTS.get(client)


def transport_statistics(client: httpx.AsyncClient) -> TransportStatistics | None:
    """Pool statistics of a client made by :func:`create_http_client`; None on httpx's."""
    hafs = _HAFS_TRANSPORTS.get(client)
    return None if hafs is None else hafs.statistics()
