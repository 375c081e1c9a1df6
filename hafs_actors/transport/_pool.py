"""Keep-alive connection pool: O(1) work per request in the number of open connections.

Bookkeeping only: the pool never does I/O. Opening a connection is the transport's job; the pool
hands out either an idle connection or a *slot* (permission to open one).

* Idle connections sit in one insertion-ordered dict per origin, used as a LIFO stack (the most
  recently used connection is the least likely to have been closed by the server), and in one
  global dict ordered by check-in time, used to expire the oldest idle connections and to evict
  an idle connection of another origin when the total limit is reached. Both are O(1).
* ``open`` counts every connection (connecting, in use, idle) against ``max_connections``.
* Requests that find no idle connection and no free slot queue FIFO; a released connection or
  slot is handed directly to the first waiter, so a newcomer never overtakes a waiter.
"""

from __future__ import annotations

import sys
from collections import OrderedDict, deque
from typing import Generic, Protocol, TypeVar

import trio

from ._stats import OriginStatistics, TransportStatistics

__all__ = ["ConnectionPool", "Origin", "PoolClosed", "PoolWaitTimeout", "PooledConnection"]

Origin = tuple[str, str, int]
"""``(scheme, host, port)``."""


class PooledConnection(Protocol):
    origin: Origin
    idle_since: float
    reused: bool

    def is_stale(self) -> bool: ...

    def close_now(self) -> None: ...


C = TypeVar("C", bound=PooledConnection)


class PoolWaitTimeout(Exception):
    """No connection became available within the pool timeout."""


class PoolClosed(Exception):
    """The pool was closed; no new requests are accepted."""


class _Waiter(Generic[C]):
    __slots__ = ("abandoned", "connection", "event", "granted", "origin")

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.event = trio.Event()
        self.granted = False
        self.abandoned = False
        self.connection: C | None = None


class ConnectionPool(Generic[C]):
    """See the module docstring. ``max_connections=None`` means no limit."""

    def __init__(
        self,
        *,
        max_connections: int | None,
        max_keepalive_connections: int | None,
        keepalive_expiry: float | None,
    ) -> None:
        if max_connections is not None and max_connections < 1:
            raise ValueError(f"max_connections must be >= 1 or None, not {max_connections}")
        if max_keepalive_connections is not None and max_keepalive_connections < 0:
            raise ValueError(
                f"max_keepalive_connections must be >= 0 or None, not {max_keepalive_connections}"
            )
        if keepalive_expiry is not None and keepalive_expiry < 0:
            raise ValueError(f"keepalive_expiry must be >= 0 or None, not {keepalive_expiry}")
        self.max_connections = max_connections
        self._limit = sys.maxsize if max_connections is None else max_connections
        keepalive = self._limit if max_keepalive_connections is None else max_keepalive_connections
        self.max_keepalive_connections = min(keepalive, self._limit)
        self.keepalive_expiry = keepalive_expiry
        self._idle: dict[Origin, OrderedDict[C, None]] = {}
        self._idle_all: OrderedDict[C, None] = OrderedDict()
        self._open = 0
        self._open_by_origin: dict[Origin, int] = {}
        self._waiters: deque[_Waiter[C]] = deque()
        self._live_waiters = 0
        self._closed = False
        self.connections_opened = 0
        self.reused = 0
        self.stale_discarded = 0

    @property
    def closed(self) -> bool:
        return self._closed

    # -- acquiring ---------------------------------------------------------------------------

    async def acquire(self, origin: Origin, timeout: float | None) -> C | None:
        """An idle connection to ``origin``, or ``None``: a slot is reserved, open a connection.

        Whoever gets ``None`` must later call :meth:`opened` or :meth:`release_slot`.
        Raises :class:`PoolWaitTimeout` after ``timeout`` seconds of waiting.
        """
        if self._closed:
            raise PoolClosed
        if not self._live_waiters:
            if self._idle_all:
                self._expire(trio.current_time())
                connection = self._pop_idle(origin)
                if connection is not None:
                    return connection
            if self._reserve(origin):
                return None
        return await self._wait(origin, timeout)

    def opened(self, connection: C) -> None:
        """A reserved slot now holds ``connection`` (in use)."""
        self.connections_opened += 1

    def release_slot(self, origin: Origin) -> None:
        """A reserved slot was not used (connecting failed or was cancelled)."""
        self._forget(origin)
        self._slot_freed()

    def _pop_idle(self, origin: Origin) -> C | None:
        stack = self._idle.get(origin)
        while stack:
            connection, _ = stack.popitem()
            del self._idle_all[connection]
            if connection.is_stale():
                self.stale_discarded += 1
                connection.close_now()
                self._forget(origin)
                continue
            connection.reused = True
            self.reused += 1
            return connection
        return None

    def _reserve(self, origin: Origin) -> bool:
        if self._open >= self._limit:
            if not self._idle_all:
                return False
            self._evict_oldest_idle()
        self._count(origin)
        return True

    async def _wait(self, origin: Origin, timeout: float | None) -> C | None:
        waiter: _Waiter[C] = _Waiter(origin)
        self._waiters.append(waiter)
        self._live_waiters += 1
        try:
            if timeout is None:
                await waiter.event.wait()
            else:
                with trio.move_on_after(timeout):
                    await waiter.event.wait()
            if not waiter.granted:
                raise PoolWaitTimeout
            if self._closed:
                raise PoolClosed
        except BaseException:
            if waiter.granted:
                if waiter.connection is not None:
                    self.release(waiter.connection, reusable=True)
                else:
                    self.release_slot(origin)
            else:
                waiter.abandoned = True
                self._live_waiters -= 1
            raise
        connection = waiter.connection
        if connection is not None:
            connection.reused = True
            self.reused += 1
        return connection

    # -- releasing ---------------------------------------------------------------------------

    def release(self, connection: C, *, reusable: bool) -> None:
        """Give back a connection that is no longer serving a request.

        ``reusable`` only if the response was read to its end and the connection may carry
        another request; anything else is closed here, synchronously.
        """
        if not reusable or self._closed or self.max_keepalive_connections == 0:
            self.discard(connection)
            return
        waiter = self._next_waiter()
        if waiter is None:
            self._add_idle(connection)
        elif waiter.origin == connection.origin:
            self._grant(waiter, connection)
        else:
            connection.close_now()
            self._forget(connection.origin)
            self._count(waiter.origin)
            self._grant(waiter, None)

    def discard(self, connection: C) -> None:
        """Close an in-use connection and free its slot."""
        connection.close_now()
        self._forget(connection.origin)
        self._slot_freed()

    def _add_idle(self, connection: C) -> None:
        now = trio.current_time()
        connection.idle_since = now
        stack = self._idle.get(connection.origin)
        if stack is None:
            stack = self._idle[connection.origin] = OrderedDict()
        stack[connection] = None
        self._idle_all[connection] = None
        self._expire(now)
        while len(self._idle_all) > self.max_keepalive_connections:
            self._evict_oldest_idle()

    def _slot_freed(self) -> None:
        waiter = self._next_waiter()
        if waiter is not None:
            self._count(waiter.origin)
            self._grant(waiter, None)

    def _next_waiter(self) -> _Waiter[C] | None:
        if not self._live_waiters:
            return None
        waiters = self._waiters
        while True:
            waiter = waiters.popleft()
            if not waiter.abandoned:
                self._live_waiters -= 1
                return waiter

    @staticmethod
    def _grant(waiter: _Waiter[C], connection: C | None) -> None:
        waiter.granted = True
        waiter.connection = connection
        waiter.event.set()

    # -- bookkeeping -------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        expiry = self.keepalive_expiry
        if expiry is None:
            return
        idle_all = self._idle_all
        while idle_all:
            oldest = next(iter(idle_all))
            if now - oldest.idle_since < expiry:
                return
            self._evict_oldest_idle()

    def _evict_oldest_idle(self) -> None:
        connection, _ = self._idle_all.popitem(last=False)
        del self._idle[connection.origin][connection]
        connection.close_now()
        self._forget(connection.origin)

    def _count(self, origin: Origin) -> None:
        self._open += 1
        by_origin = self._open_by_origin
        by_origin[origin] = by_origin.get(origin, 0) + 1

    def _forget(self, origin: Origin) -> None:
        self._open -= 1
        by_origin = self._open_by_origin
        remaining = by_origin[origin] - 1
        if remaining:
            by_origin[origin] = remaining
        else:
            del by_origin[origin]
            if not self._idle.get(origin, True):
                del self._idle[origin]

    def close(self) -> None:
        """Close every idle connection and refuse new requests.

        Connections serving a response are closed when they are released. Requests waiting
        for a connection fail with :class:`PoolClosed` as soon as one is released.
        """
        self._closed = True
        while self._idle_all:
            self._evict_oldest_idle()

    def statistics(self, resent: int) -> TransportStatistics:
        per_origin = {}
        for origin, count in self._open_by_origin.items():
            idle = len(self._idle.get(origin, ()))
            scheme, host, port = origin
            shown_host = f"[{host}]" if ":" in host else host
            per_origin[f"{scheme}://{shown_host}:{port}"] = OriginStatistics(
                open=count, idle=idle, in_use=count - idle
            )
        idle_total = len(self._idle_all)
        return TransportStatistics(
            open=self._open,
            idle=idle_total,
            in_use=self._open - idle_total,
            waiting=self._live_waiters,
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive_connections,
            per_origin=per_origin,
            connections_opened=self.connections_opened,
            requests_on_reused_connections=self.reused,
            stale_discarded=self.stale_discarded,
            resent=resent,
        )
