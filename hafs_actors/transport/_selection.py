"""Which transport a client gets (docs/design.md).

Passing ``transport=`` to ``httpx.AsyncClient`` disables httpx's proxy handling, so the project
transport is only used when no proxy applies and HTTP/1.1 is enough. The environment rules
mirror httpx's own (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY`` in curl's
sense), so a client with the project transport goes exactly where httpx would have gone direct.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from typing import Literal

import attrs
import httpx

from ..errors import ConfigError

__all__ = ["TransportChoice", "choose_transport", "environment_proxy_applies"]

_SCHEMES = ("http", "https")


@attrs.frozen
class TransportChoice:
    """The transport a client uses and why (never includes a proxy URL: it may hold secrets)."""

    kind: Literal["hafs", "httpx"]
    reason: str


def choose_transport(
    *,
    transport: str = "hafs",
    base_url: str | httpx.URL = "",
    proxy: str | httpx.URL | httpx.Proxy | None = None,
    http2: bool = False,
    trust_env: bool = True,
) -> TransportChoice:
    """Apply the rule: ``"httpx"`` forces httpx's transport; ``"hafs"`` is used unless a
    proxy is configured, a proxy from the environment applies to ``base_url`` (any proxy
    variable counts when there is no ``base_url``), or HTTP/2 is asked for."""
    if transport == "httpx":
        return TransportChoice("httpx", "transport='httpx' configured")
    if transport != "hafs":
        raise ConfigError(
            f"unknown transport {transport!r}; expected 'hafs' or 'httpx'", key="transport"
        )
    if proxy is not None:
        return TransportChoice("httpx", "a proxy is configured")
    if http2:
        return TransportChoice("httpx", "HTTP/2 asked for")
    if trust_env:
        variable = environment_proxy_applies(base_url)
        if variable is not None:
            return TransportChoice("httpx", f"{variable} applies")
    return TransportChoice("hafs", "no proxy applies and HTTP/1.1 suffices")


def environment_proxy_applies(base_url: str | httpx.URL = "") -> str | None:
    """The proxy variable (``HTTPS_PROXY``, ...) httpx would honour for ``base_url``, or None.

    With no ``base_url`` the client may be sent anywhere, so any HTTP(S)/ALL proxy counts.
    """
    proxies = urllib.request.getproxies()
    candidates = [scheme for scheme in (*_SCHEMES, "all") if proxies.get(scheme)]
    if not candidates:
        return None
    no_proxy = [entry.strip() for entry in proxies.get("no", "").split(",") if entry.strip()]
    if "*" in no_proxy:
        return None
    url = httpx.URL(base_url) if base_url else None
    if url is None or not url.host:
        return f"{candidates[0].upper()}_PROXY"
    if url.scheme not in _SCHEMES:
        return None
    if any(_bypasses(entry, url) for entry in no_proxy):
        return None
    for scheme in (url.scheme, "all"):
        if proxies.get(scheme):
            return f"{scheme.upper()}_PROXY"
    return None


def _bypasses(entry: str, url: httpx.URL) -> bool:
    """Whether one ``NO_PROXY`` entry covers ``url`` (httpx's reading of curl's rules)."""
    if "://" in entry:
        pattern = entry
    elif _is_ip_literal(entry) or entry.lower() == "localhost":
        pattern = f"all://[{entry}]" if ":" in entry else f"all://{entry}"
    else:
        pattern = f"all://*{entry}"
    try:
        parsed = httpx.URL(pattern)
    except httpx.InvalidURL:
        return False
    if parsed.scheme != "all" and parsed.scheme != url.scheme:
        return False
    if parsed.port is not None and parsed.port != url.port:
        return False
    host, target = parsed.host.lower(), url.host.lower()
    if host.startswith("*."):
        return target.endswith(host[1:]) and len(target) > len(host) - 1
    if host.startswith("*"):
        domain = host[1:]
        return target == domain or target.endswith("." + domain)
    return not host or host == target


def _is_ip_literal(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True
