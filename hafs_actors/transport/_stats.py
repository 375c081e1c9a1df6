"""Snapshots of a transport's connection pool, for tests and ``status()``."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = ["OriginStatistics", "TransportStatistics"]


@attrs.frozen
class OriginStatistics:
    """Connections to one origin (``scheme://host:port``) at the moment of the snapshot.

    ``in_use`` counts connections serving a request, including ones still connecting.
    """

    open: int
    idle: int
    in_use: int


@attrs.frozen
class TransportStatistics:
    """A point-in-time view of the pool plus counters since the transport was created.

    ``open`` never exceeds ``max_connections`` and ``idle`` never exceeds
    ``max_keepalive_connections``. ``stale_discarded`` counts idle connections found closed by
    the server when about to be reused; ``resent`` counts requests sent a second time because
    the first connection failed before any byte of them was written (see ``docs/transport.md``).
    """

    open: int
    idle: int
    in_use: int
    waiting: int
    max_connections: int | None
    max_keepalive_connections: int
    per_origin: Mapping[str, OriginStatistics]
    connections_opened: int
    requests_on_reused_connections: int
    stale_discarded: int
    resent: int
