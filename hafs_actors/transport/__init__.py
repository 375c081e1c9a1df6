"""HTTP transport: how adapters get their ``httpx.AsyncClient``.

(Stub until the transport issue lands: returns a stock client. The signature is the contract.)
"""

from __future__ import annotations

import ssl

import httpx

__all__ = ["create_http_client"]


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
) -> httpx.AsyncClient:
    """One pooled client for one provider actor.

    ``transport="hafs"`` uses the project's h11-over-trio transport unless a proxy applies or
    HTTP/2 is asked for (design section 9), in which case httpx's own transport is used.
    """
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=timeout or httpx.Timeout(60.0),
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections or max_connections,
        ),
        proxy=proxy,
        verify=verify,
    )
