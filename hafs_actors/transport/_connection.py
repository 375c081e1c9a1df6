"""One HTTP/1.1 connection over a trio stream (plain TCP or ``trio.SSLStream``).

The request head is bytes written here (only CR, LF and NUL are refused: they are what could
inject a header or a request); the response is parsed by llhttp through ``httptools``, in C.
h11 did both in Python at about 65 µs of a request's 160 µs of client CPU (docs/transport.md).

Every failure leaves here as the httpx exception a caller of httpx expects (``ConnectError``,
``ReadTimeout``, ``RemoteProtocolError``, ...), with the request attached. The one internal
signal is :class:`UnsentRequest`, raised when a reused connection failed before any byte of
the request reached the kernel, so the transport may resend it (the request provably was never
sent).
"""

from __future__ import annotations

import collections.abc
import re
import ssl

import httptools
import httpx
import trio

from ._pool import Origin
from ._socket import TrackedSocketStream, open_tcp

__all__ = [
    "MAX_HEAD_BYTES",
    "EncodedRequest",
    "HTTP11Connection",
    "ResponseHead",
    "UnsentRequest",
    "encode_request",
    "open_connection",
]

_READ_SIZE = 65536
#: The most a response head (or the chunk headers and trailers of a body) may take: a real
#: head is under a few KiB; without a bound a server could make the parser buffer forever.
MAX_HEAD_BYTES = 65536
_FORBIDDEN = re.compile(rb"[\r\n\0]")
_HEAD, _BODY, _DONE = 0, 1, 2

#: (status code, reason phrase, headers as received)
ResponseHead = tuple[int, bytes, list[tuple[bytes, bytes]]]


class UnsentRequest(Exception):
    """A reused connection failed before any byte of the request was written."""

    def __init__(self, error: httpx.TransportError) -> None:
        super().__init__(str(error))
        self.error = error


class EncodedRequest:
    """A request as bytes: the whole of it when its body is known, else the head alone.

    ``length`` is the declared ``Content-Length`` of a streamed body (``None``: chunked).
    """

    __slots__ = ("close", "data", "head_only", "length", "streamed")

    def __init__(
        self, data: bytes, streamed: bool, length: int | None, close: bool, head_only: bool
    ) -> None:
        self.data = data
        self.streamed = streamed
        self.length = length
        self.close = close
        self.head_only = head_only


def encode_request(request: httpx.Request, body: bytes | None) -> EncodedRequest:
    """The request line, headers and (when ``body`` is given) the framed body.

    Framing follows the request's own ``Content-Length`` or ``Transfer-Encoding: chunked``
    (httpx sets one); a body that does not match its declared length, both headers at once, or
    any CR, LF or NUL inside the request line or a header is an ``httpx.LocalProtocolError``
    whose message names the header but never quotes a value (values may be API keys).
    """
    try:
        method = request.method.encode("ascii")
    except UnicodeEncodeError:
        raise httpx.LocalProtocolError(_describe_bad_request(request), request=request) from None
    target = request.url.raw_path
    headers = request.headers.raw
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    length: int | None = None
    chunked = close = False
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
        size = len(name)
        if size == 14 or size == 17 or size == 10:  # the only names that change framing
            lowered = name.lower()
            if lowered == b"content-length":
                if length is not None or not value.isdigit():
                    raise httpx.LocalProtocolError("invalid Content-Length", request=request)
                length = int(value)
            elif lowered == b"transfer-encoding":
                if value.strip().lower() != b"chunked":
                    raise httpx.LocalProtocolError(
                        "only Transfer-Encoding: chunked can be sent", request=request
                    )
                chunked = True
            elif lowered == b"connection":
                close = b"close" in [token.strip() for token in value.lower().split(b",")]
    parts.append(b"\r\n")
    data = b"".join(parts)
    lines = len(headers) + 2
    if (
        data.count(b"\n") != lines
        or data.count(b"\r") != lines
        or b"\0" in data
        or b" " in method
        or b" " in target
    ):
        raise httpx.LocalProtocolError(_describe_bad_request(request), request=request)
    if chunked and length is not None:
        raise httpx.LocalProtocolError("both Content-Length and Transfer-Encoding", request=request)
    head_only = method == b"HEAD"
    if body is None:
        return EncodedRequest(data, True, None if chunked else length or 0, close, head_only)
    if chunked:
        data += b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
    elif len(body) != (length or 0):
        raise httpx.LocalProtocolError(
            "the body does not match its declared Content-Length", request=request
        )
    elif body:
        data += body
    return EncodedRequest(data, False, length, close, head_only)


def _describe_bad_request(request: httpx.Request) -> str:
    """Which part of the request is refused, without quoting header values."""
    for name, value in request.headers.raw:
        if _FORBIDDEN.search(name) or _FORBIDDEN.search(value):
            return f"invalid request header {name.decode('latin-1')!r} (forbidden characters)"
    return f"invalid request line: {request.method} {request.url.raw_path!r}"


class _ResponseParser:
    """llhttp's callbacks, collecting one response: its head, body pieces, and how it ended.

    llhttp parses everything it is given; bytes after the end of the response are noted as
    ``leftover`` (the connection is then not reused), never delivered. A response to HEAD ends
    with its head, which llhttp cannot be told, so its parser is replaced before the next one.
    """

    __slots__ = (
        "chunks",
        "error",
        "head_only",
        "head_size",
        "headers",
        "keep_alive",
        "leftover",
        "parser",
        "reason",
        "state",
        "status",
        "unproductive",
    )

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.reset(head_only=False)

    def reset(self, *, head_only: bool) -> None:
        self.state = _HEAD
        self.head_only = head_only
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.error: str | None = None
        self.keep_alive = False
        self.leftover = False
        self.head_size = 0
        self.unproductive = 0

    def feed(self, data: bytes | bytearray) -> None:
        """Parse ``data``; a protocol error is kept in ``error`` (raised after the body pieces
        that arrived intact before it)."""
        self.unproductive += len(data)
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if self.state == _DONE:
                self.leftover = True  # garbage after the response: it is complete all the same
                return
            if isinstance(exc, httptools.HttpParserUpgrade) or self.status == 101:
                self.error = "unexpected 101 Switching Protocols (no upgrade was asked for)"
            else:
                self.error = f"invalid response: {exc}"
            return
        if (
            self.error is None
            and self.state != _DONE
            and (self.unproductive > MAX_HEAD_BYTES or self.head_size > MAX_HEAD_BYTES)
        ):
            what = "response head" if self.state == _HEAD else "chunk headers or trailers"
            self.error = f"{what} larger than {MAX_HEAD_BYTES} bytes"

    def eof(self) -> None:
        """The server closed the connection while the body was being read."""
        if self.state != _BODY:
            return
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length" or (
                lowered == b"transfer-encoding" and value.lower().endswith(b"chunked")
            ):
                self.error = "peer closed connection without sending complete message body"
                return
        self.state = _DONE  # no framing: the body ends with the connection

    # -- llhttp callbacks (httptools finds them by name) -----------------------------------

    def on_message_begin(self) -> None:
        if self.state == _DONE:
            self.leftover = True
        elif self.state == _HEAD:  # after a 1xx response: start over
            self.reason = b""
            if self.headers:
                self.headers = []

    def on_status(self, reason: bytes) -> None:
        if self.state == _HEAD:
            self.reason += reason  # may arrive in pieces
            self.head_size += len(reason)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.state == _HEAD:
            self.headers.append((name, value.rstrip(b" \t")))
        self.head_size += len(name) + len(value) + 4  # trailers count too, then are dropped

    def on_headers_complete(self) -> None:
        if self.state != _HEAD:
            return
        if self.head_size > MAX_HEAD_BYTES:
            self.error = f"response head larger than {MAX_HEAD_BYTES} bytes"
            return
        status = self.parser.get_status_code()
        self.status = status
        if status < 200:
            return  # informational (100 Continue, 103 Early Hints): the real head follows
        # Read now: llhttp clears what this depends on once the message is complete.
        self.keep_alive = self.parser.should_keep_alive()
        self.state = _DONE if self.head_only else _BODY
        self.head_size = 0
        self.unproductive = 0

    def on_body(self, body: bytes) -> None:
        if self.state == _BODY:
            self.chunks.append(body)
            self.unproductive = 0
        else:
            self.leftover = True  # a body after a HEAD response's head, or after the end

    def on_message_complete(self) -> None:
        if self.state == _BODY:
            self.state = _DONE


class HTTP11Connection:
    """A keep-alive HTTP/1.1 client connection; the pool decides when it is reused."""

    __slots__ = (
        "_close_requested",
        "_raw",
        "_request_done",
        "_response",
        "_stream",
        "idle_since",
        "origin",
        "reused",
    )

    def __init__(
        self, origin: Origin, raw: TrackedSocketStream, stream: trio.abc.Stream | None = None
    ) -> None:
        self.origin = origin
        self._raw = raw
        self._stream: trio.abc.Stream = raw if stream is None else stream
        self._response = _ResponseParser()
        self._request_done = False
        self._close_requested = False
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
        encoded: EncodedRequest,
        write_timeout: float | None,
        read_timeout: float | None,
    ) -> ResponseHead:
        """Write the request (streaming ``request.stream`` after the head when the body was
        not known) and read the response head."""
        self._response.head_only = encoded.head_only
        self._close_requested = encoded.close
        self._request_done = False
        sent_before = self._raw.bytes_sent
        try:
            await self._write(encoded.data, write_timeout, request)
            if encoded.streamed:
                await self._send_body(request, encoded.length, write_timeout)
        except httpx.WriteError as exc:
            if self.reused and self._raw.bytes_sent == sent_before:
                raise UnsentRequest(exc) from exc
            # The server may have answered early (say 413) and closed: prefer its answer.
            try:
                return await self.receive_response_head(request, read_timeout)
            except httpx.TransportError:
                raise exc from None
        self._request_done = True
        return await self.receive_response_head(request, read_timeout)

    async def _send_body(
        self, request: httpx.Request, length: int | None, write_timeout: float | None
    ) -> None:
        remaining = length
        chunks = request.stream.__aiter__()  # type: ignore[union-attr]
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                if remaining is None:
                    chunk = b"%x\r\n%b\r\n" % (len(chunk), chunk)
                else:
                    remaining -= len(chunk)
                    if remaining < 0:
                        raise httpx.LocalProtocolError(
                            "the body is longer than its declared Content-Length", request=request
                        )
                await self._write(chunk, write_timeout, request)
        finally:
            if isinstance(chunks, collections.abc.AsyncGenerator):
                await chunks.aclose()  # stopped early: close it now, not in the garbage collector
        if remaining is None:
            await self._write(b"0\r\n\r\n", write_timeout, request)
        elif remaining:
            raise httpx.LocalProtocolError(
                "the body is shorter than its declared Content-Length", request=request
            )

    async def receive_response_head(
        self, request: httpx.Request, read_timeout: float | None
    ) -> ResponseHead:
        response = self._response
        wait_first = True  # the answer to a request just sent cannot be there yet
        while response.state == _HEAD:
            if response.error is not None:
                raise httpx.RemoteProtocolError(response.error, request=request)
            data = await self._read(read_timeout, request, wait_first)
            wait_first = False
            if not data:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request
                )
            response.feed(data)
        return response.status, response.reason, response.headers

    async def read_body(self, request: httpx.Request, read_timeout: float | None) -> bytes | None:
        """The next piece of the response body, or None after its end.

        Waits only when nothing has been received; otherwise returns everything already
        received as one piece (an SSE burst of many chunks becomes one piece, which saves
        httpx's decoders a trip per chunk without delaying any byte). Pieces that arrived
        intact before a protocol error are delivered before it.
        """
        response = self._response
        while True:
            chunks = response.chunks
            if chunks:
                response.chunks = []
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if response.state == _DONE:
                return None
            if response.error is not None:
                raise httpx.RemoteProtocolError(response.error, request=request)
            data = await self._read(read_timeout, request)
            if data:
                response.feed(data)
            else:
                response.eof()

    def finish_response(self) -> bool:
        """After the response's end: ready the connection for another request if it can be."""
        response = self._response
        if (
            response.keep_alive
            and self._request_done
            and not self._close_requested
            and not response.leftover
            and not self._raw.closed
        ):
            if response.head_only:  # llhttp still expects the body it announced
                self._response = _ResponseParser()
            else:
                response.reset(head_only=False)
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
