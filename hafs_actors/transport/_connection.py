"""One HTTP/1.1 connection: h11 over a trio stream (plain TCP or ``trio.SSLStream``).

Every failure leaves here as the httpx exception a caller of httpx expects (``ConnectError``,
``ReadTimeout``, ``RemoteProtocolError``, ...), with the request attached. The one internal
signal is :class:`UnsentRequest`, raised when a reused connection failed before any byte of
the request reached the kernel, so the transport may resend it (the request provably was never
sent).
"""

from __future__ import annotations

import ssl

import h11
import httpx
import trio

from ._pool import Origin
from ._socket import TrackedSocketStream, open_tcp

__all__ = ["HTTP11Connection", "UnsentRequest", "open_connection"]

_READ_SIZE = 65536
_END_OF_MESSAGE = h11.EndOfMessage()


class UnsentRequest(Exception):
    """A reused connection failed before any byte of the request was written."""

    def __init__(self, error: httpx.TransportError) -> None:
        super().__init__(str(error))
        self.error = error


class HTTP11Connection:
    """A keep-alive HTTP/1.1 client connection; the pool decides when it is reused."""

    __slots__ = ("_h11", "_pending", "_raw", "_stream", "idle_since", "origin", "reused")

    def __init__(
        self, origin: Origin, raw: TrackedSocketStream, stream: trio.abc.Stream | None = None
    ) -> None:
        self.origin = origin
        self._raw = raw
        self._stream: trio.abc.Stream = raw if stream is None else stream
        self._h11 = h11.Connection(h11.CLIENT)
        self._pending: h11.Event | httpx.RemoteProtocolError | None = None
        self.idle_since = 0.0
        self.reused = False

    # -- pool interface ----------------------------------------------------------------------

    def is_stale(self) -> bool:
        """The server closed (or wrote to) this idle connection: it must not carry a request."""
        return self._raw.is_readable()

    def close_now(self) -> None:
        self._raw.close_now()

    # -- request/response --------------------------------------------------------------------

    async def send_request(
        self,
        request: httpx.Request,
        head: h11.Request,
        body: bytes | None,
        write_timeout: float | None,
        read_timeout: float | None,
    ) -> h11.Response:
        """Write the request and read the response head.

        ``body`` is the whole body when known (sent with the head in one write), or ``None`` to
        stream ``request.stream``.
        """
        conn = self._h11
        sent_before = self._raw.bytes_sent
        try:
            head_bytes = _send(conn, head, request)
            if body is not None:
                if body:
                    data = b"".join(
                        (
                            head_bytes,
                            _send(conn, h11.Data(data=body), request),
                            _send(conn, _END_OF_MESSAGE, request),
                        )
                    )
                else:
                    data = head_bytes + _send(conn, _END_OF_MESSAGE, request)
                await self._write(data, write_timeout, request)
            else:
                await self._write(head_bytes, write_timeout, request)
                async for chunk in request.stream:  # type: ignore[union-attr]
                    if chunk:
                        await self._write(
                            _send(conn, h11.Data(data=chunk), request), write_timeout, request
                        )
                await self._write(_send(conn, _END_OF_MESSAGE, request), write_timeout, request)
        except httpx.WriteError as exc:
            if self.reused and self._raw.bytes_sent == sent_before:
                raise UnsentRequest(exc) from exc
            # The server may have answered early (say 413) and closed: prefer its answer.
            try:
                return await self.receive_response_head(request, read_timeout)
            except httpx.TransportError:
                raise exc from None
        return await self.receive_response_head(request, read_timeout)

    async def receive_response_head(
        self, request: httpx.Request, read_timeout: float | None
    ) -> h11.Response:
        wait_first = True  # the answer to a request just sent cannot be there yet
        while True:
            event = await self.next_event(request, read_timeout, wait_first=wait_first)
            wait_first = False
            if isinstance(event, h11.Response):
                return event
            if isinstance(event, h11.InformationalResponse):
                continue  # 100 Continue and friends; upgrades are never proposed
            raise httpx.RemoteProtocolError(
                f"unexpected {type(event).__name__} before the response head", request=request
            )

    async def next_event(
        self, request: httpx.Request, read_timeout: float | None, *, wait_first: bool = False
    ) -> h11.Event:
        conn = self._h11
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from exc
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            data = await self._read(read_timeout, request, wait_first)
            wait_first = False
            if not data and conn.their_state is h11.SEND_RESPONSE:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request
                )
            conn.receive_data(data)  # type: ignore[arg-type]  # h11 buffers any bytes-like

    async def read_body(self, request: httpx.Request, read_timeout: float | None) -> bytes | None:
        """The next piece of the response body, or None after its end.

        Waits only when nothing has been received; otherwise returns everything already
        received as one piece (an SSE burst of many chunks becomes one piece, which saves
        httpx's decoders a trip per chunk without delaying any byte).
        """
        pending = self._pending
        if pending is None:
            event = await self.next_event(request, read_timeout)
        else:
            self._pending = None
            if isinstance(pending, httpx.RemoteProtocolError):
                raise pending
            event = pending
        if isinstance(event, h11.EndOfMessage):
            return None
        if not isinstance(event, h11.Data):
            raise httpx.RemoteProtocolError(
                f"unexpected {type(event).__name__} in the response body", request=request
            )
        first = event.data
        parts: list[bytes] | None = None
        conn = self._h11
        while True:
            try:
                following = conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._pending = httpx.RemoteProtocolError(str(exc), request=request)
                break  # deliver what arrived intact first; the error comes next
            if following is h11.NEED_DATA:
                break
            if isinstance(following, h11.Data):
                if parts is None:
                    parts = [first]
                parts.append(following.data)
                continue
            self._pending = following  # type: ignore[assignment]
            break
        return bytes(first) if parts is None else b"".join(parts)

    def finish_response(self) -> bool:
        """After the response's end: ready the connection for another request if it can be."""
        conn = self._h11
        if (
            conn.our_state is h11.DONE
            and conn.their_state is h11.DONE
            and not conn.trailing_data[0]
            and not self._raw.closed
        ):
            conn.start_next_cycle()
            return True
        return False

    # -- I/O with timeouts -------------------------------------------------------------------

    async def _write(self, data: bytes, timeout: float | None, request: httpx.Request) -> None:
        try:
            if self._stream is self._raw:
                # Plain TCP: most requests fit in the socket buffer, so try without waiting
                # first; a timeout scope is only needed if the kernel pushes back.
                sent = self._raw.send_nowait(data)
                if sent == len(data):
                    return
                data = data[sent:]
            if timeout is None:
                await self._stream.send_all(data)
                return
            with trio.CancelScope(deadline=trio.current_time() + timeout):
                await self._stream.send_all(data)
                return
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise httpx.WriteError(_reason(exc), request=request) from exc
        raise httpx.WriteTimeout("timed out writing the request", request=request)

    async def _read(
        self, timeout: float | None, request: httpx.Request, wait_first: bool = False
    ) -> bytes | bytearray:
        plain = wait_first and self._stream is self._raw
        try:
            if timeout is None:
                if plain:
                    return await self._raw.wait_and_receive(_READ_SIZE)
                return await self._stream.receive_some(_READ_SIZE)
            with trio.CancelScope(deadline=trio.current_time() + timeout):
                if plain:
                    return await self._raw.wait_and_receive(_READ_SIZE)
                return await self._stream.receive_some(_READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise httpx.ReadError(_reason(exc), request=request) from exc
        raise httpx.ReadTimeout("timed out waiting for the server", request=request)


def _send(conn: h11.Connection, event: h11.Event, request: httpx.Request) -> bytes:
    try:
        data = conn.send(event)
    except h11.LocalProtocolError as exc:
        raise httpx.LocalProtocolError(str(exc), request=request) from exc
    return data or b""


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__
    text = str(cause) if cause is not None else str(exc)
    return text or type(exc).__name__


async def open_connection(
    origin: Origin,
    *,
    ssl_context: ssl.SSLContext | None,
    server_hostname: str | None,
    timeout: float | None,
    request: httpx.Request,
) -> HTTP11Connection:
    """Connect (DNS, TCP, then TLS when ``ssl_context`` is given) within ``timeout`` seconds."""
    scheme, host, port = origin
    raw: TrackedSocketStream | None = None
    with trio.move_on_after(float("inf") if timeout is None else timeout):
        try:
            raw = await open_tcp(host, port)
            if ssl_context is None:
                return HTTP11Connection(origin, raw)
            tls = trio.SSLStream(
                raw,
                ssl_context,
                server_hostname=server_hostname or host,
                https_compatible=True,
            )
            await tls.do_handshake()
            return HTTP11Connection(origin, raw, tls)
        except OSError as exc:
            if raw is not None:
                raw.close_now()
            message = str(exc) or f"cannot connect to {host}:{port}"
            raise httpx.ConnectError(message, request=request) from exc
        except trio.BrokenResourceError as exc:
            if raw is not None:
                raw.close_now()
            raise httpx.ConnectError(_reason(exc), request=request) from exc
        except BaseException:
            if raw is not None:
                raw.close_now()
            raise
    if raw is not None:
        raw.close_now()
    raise httpx.ConnectTimeout(f"timed out connecting to {scheme}://{host}:{port}", request=request)
