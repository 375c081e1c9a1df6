"""``HafsTransport``: httpx's request/response API over HTTP/1.1 (llhttp) and trio, with a lean
pool.

httpcore's pool does O(open connections) work several times per request, which collapses
throughput at high concurrency (docs/benchmarks.md). This transport keeps
httpx's client API and replaces only the layer below it. See ``docs/transport.md``.
"""

from __future__ import annotations

import ssl

import httpx
import trio

from ._connection import HTTP11Connection, UnsentRequest, encode_request, open_connection
from ._pool import ConnectionPool, Origin, PoolClosed, PoolWaitTimeout
from ._stats import TransportStatistics
from ._tls import VerifyTypes, create_ssl_context

__all__ = ["DEFAULT_KEEPALIVE_EXPIRY", "HafsTransport"]

DEFAULT_KEEPALIVE_EXPIRY = 5.0
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NO_TIMEOUTS: dict[str, float | None] = {}
_HTTP_11 = b"HTTP/1.1"


class HafsTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` speaking HTTP/1.1 (llhttp via httptools) over trio streams.

    Limits follow ``httpx.Limits``: ``max_connections`` counts every open connection across
    origins (``None``: unlimited), ``max_keepalive_connections`` the idle ones kept, and idle
    connections older than ``keepalive_expiry`` seconds are closed instead of reused. Timeouts
    come from each request (``request.extensions["timeout"]``, set by ``httpx.AsyncClient``).
    No proxies and no HTTP/2: ``create_http_client`` picks httpx's own transport for those.
    """

    def __init__(
        self,
        *,
        verify: VerifyTypes = True,
        trust_env: bool = True,
        max_connections: int | None = 256,
        max_keepalive_connections: int | None = None,
        keepalive_expiry: float | None = DEFAULT_KEEPALIVE_EXPIRY,
    ) -> None:
        self._verify = verify
        self._trust_env = trust_env
        self._ssl_context: ssl.SSLContext | None = None
        if verify is not True:  # a bad CA path fails here, at configuration time
            self._ssl_context = create_ssl_context(verify, trust_env=trust_env)
        self._pool: ConnectionPool[HTTP11Connection] = ConnectionPool(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
        )
        self._resent = 0

    @classmethod
    def from_limits(
        cls, limits: httpx.Limits, *, verify: VerifyTypes = True, trust_env: bool = True
    ) -> HafsTransport:
        """Build a transport from an ``httpx.Limits`` (the same meaning as in httpx)."""
        return cls(
            verify=verify,
            trust_env=trust_env,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )

    def statistics(self) -> TransportStatistics:
        return self._pool.statistics(self._resent)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        default_port = _DEFAULT_PORTS.get(scheme)
        if default_port is None:
            raise httpx.UnsupportedProtocol(
                f"HafsTransport speaks http and https, not {scheme!r}", request=request
            )
        host = url.host
        if not host:
            raise httpx.UnsupportedProtocol(f"the URL {url} has no host", request=request)
        origin: Origin = (scheme, host, url.port or default_port)
        timeouts = request.extensions.get("timeout", _NO_TIMEOUTS)
        write_timeout = timeouts.get("write")
        read_timeout = timeouts.get("read")
        try:
            body: bytes | None = request.content
        except httpx.RequestNotRead:
            body = None
        encoded = encode_request(request, body)

        # A caller cancelled before it got here must not send anything: the fast path below
        # can write to an idle connection without reaching a checkpoint first.
        await trio.lowlevel.checkpoint_if_cancelled()
        pool = self._pool
        resent = False
        while True:
            connection = await self._acquire(origin, timeouts, request)
            try:
                status, reason, headers = await connection.send_request(
                    request, encoded, write_timeout, read_timeout
                )
            except UnsentRequest as unsent:
                pool.discard(connection)
                if resent:
                    raise unsent.error from None
                resent = True
                self._resent += 1
                continue
            except BaseException:
                pool.discard(connection)
                raise
            break
        return httpx.Response(
            status_code=status,
            headers=headers,
            stream=_ResponseStream(pool, connection, request, read_timeout),
            extensions={"http_version": _HTTP_11, "reason_phrase": reason},
        )

    async def _acquire(
        self, origin: Origin, timeouts: dict[str, float | None], request: httpx.Request
    ) -> HTTP11Connection:
        pool = self._pool
        try:
            connection = await pool.acquire(origin, timeouts.get("pool"))
        except PoolWaitTimeout:
            raise httpx.PoolTimeout(
                "timed out waiting for a connection from the pool", request=request
            ) from None
        except PoolClosed:
            raise RuntimeError("HafsTransport is closed") from None
        if connection is not None:
            return connection
        try:
            ssl_context = self._tls_context() if origin[0] == "https" else None
            sni = request.extensions.get("sni_hostname")
            new = await open_connection(
                origin,
                ssl_context=ssl_context,
                server_hostname=sni.decode("ascii") if isinstance(sni, bytes) else sni,
                timeout=timeouts.get("connect"),
                request=request,
            )
        except BaseException:
            pool.release_slot(origin)
            raise
        pool.opened(new)
        return new

    def _tls_context(self) -> ssl.SSLContext:
        context = self._ssl_context
        if context is None:  # built lazily: loading the CA bundle costs milliseconds
            context = self._ssl_context = create_ssl_context(
                self._verify, trust_env=self._trust_env
            )
        return context

    async def aclose(self) -> None:
        """Close every idle connection; connections still serving a response close when done."""
        self._pool.close()
        await trio.lowlevel.checkpoint()


class _ResponseStream(httpx.AsyncByteStream):
    """The response body, yielded as it arrives (SSE is never buffered).

    The connection returns to the pool the moment the body's end is read; closing the stream
    earlier (or cancellation, or any error) discards the connection instead, so a half-read
    connection is never reused.
    """

    __slots__ = ("_connection", "_pool", "_read_timeout", "_request")

    def __init__(
        self,
        pool: ConnectionPool[HTTP11Connection],
        connection: HTTP11Connection,
        request: httpx.Request,
        read_timeout: float | None,
    ) -> None:
        self._pool = pool
        self._connection: HTTP11Connection | None = connection
        self._request = request
        self._read_timeout = read_timeout

    def __aiter__(self) -> _ResponseStream:
        return self

    async def __anext__(self) -> bytes:
        connection = self._connection
        if connection is None:
            raise StopAsyncIteration
        try:
            data = await connection.read_body(self._request, self._read_timeout)
        except BaseException:
            self._connection = None
            self._pool.discard(connection)
            raise
        if data is not None:
            return data
        self._connection = None
        self._pool.release(connection, reusable=connection.finish_response())
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Discard the connection unless the body was read to its end. Never blocks."""
        connection = self._connection
        if connection is not None:
            self._connection = None
            self._pool.discard(connection)
