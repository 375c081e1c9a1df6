"""A scriptable, deliberately misbehaving HTTP/1.1 server on real loopback sockets.

Each test gives a handler that receives a :class:`ServerConnection` per accepted connection and
does whatever the scenario needs: answer properly, drip bytes, truncate, reset, half-close, or
write garbage. Requests are parsed by hand (content-length and chunked) so the server never
depends on the code under test, and every request is recorded on the server for assertions.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from types import SimpleNamespace
from typing import Any

import attrs
import pytest
import trio
import trustme


@attrs.frozen
class Exchange:
    """One request as the server read it."""

    method: bytes
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    connection: int

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class ServerConnection:
    def __init__(self, server: ScriptedServer, stream: trio.abc.Stream, index: int) -> None:
        self.server = server
        self.stream = stream
        self.index = index
        self.buffer = b""

    async def _fill(self) -> bool:
        data = await self.stream.receive_some(65536)
        if not data:
            return False
        self.buffer += data
        return True

    async def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not await self._fill():
                raise EOFError
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    async def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            if not await self._fill():
                raise EOFError
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    async def read_request(self) -> Exchange | None:
        """The next request, or None if the client closed the connection between requests."""
        try:
            while b"\r\n\r\n" not in self.buffer:
                if not await self._fill():
                    if self.buffer:
                        raise EOFError("client closed mid-request")
                    return None
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return None
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        request_line, *header_lines = head.split(b"\r\n")
        method, target, _version = request_line.split(b" ")
        headers = tuple(
            (name.strip(), value.strip())
            for name, _, value in (line.partition(b":") for line in header_lines)
        )
        lowered = {name.lower(): value for name, value in headers}
        if lowered.get(b"transfer-encoding", b"").lower() == b"chunked":
            parts = []
            while True:
                size = int((await self._line()).split(b";")[0], 16)
                if size == 0:
                    while await self._line():
                        pass  # trailers
                    break
                parts.append(await self._exactly(size))
                assert await self._exactly(2) == b"\r\n"
            body = b"".join(parts)
        else:
            body = await self._exactly(int(lowered.get(b"content-length", b"0")))
        exchange = Exchange(method, target, headers, body, self.index)
        self.server.requests.append(exchange)
        return exchange

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def respond(
        self,
        body: bytes = b"",
        *,
        status: int = 200,
        headers: Sequence[tuple[str, str]] = (),
        chunked: bool = False,
    ) -> None:
        await self.send(response_bytes(body, status=status, headers=headers, chunked=chunked))

    def _socket(self) -> trio.socket.SocketType:
        stream = self.stream
        if isinstance(stream, trio.SSLStream):
            stream = stream.transport_stream
        assert isinstance(stream, trio.SocketStream)
        return stream.socket

    def reset(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0), like a crashed or overloaded peer."""
        sock = self._socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    async def half_close(self) -> None:
        """Send FIN but keep reading."""
        self._socket().shutdown(socket.SHUT_WR)
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def wait_closed_by_client(self) -> None:
        """Read until the client closes (EOF or reset)."""
        try:
            while await self.stream.receive_some(65536):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


def response_bytes(
    body: bytes = b"",
    *,
    status: int = 200,
    headers: Sequence[tuple[str, str]] = (),
    chunked: bool = False,
    chunk_sizes: Sequence[int] = (),
) -> bytes:
    reason = {200: b"OK", 204: b"No Content", 413: b"Payload Too Large"}.get(status, b"X")
    lines = [b"HTTP/1.1 %d %s" % (status, reason)]
    lines += [f"{k}: {v}".encode() for k, v in headers]
    if chunked:
        lines.append(b"transfer-encoding: chunked")
        pieces, rest = [], body
        for size in chunk_sizes:
            if not rest:
                break
            pieces.append(rest[: max(size, 1)])
            rest = rest[max(size, 1) :]
        if rest:
            pieces.append(rest)
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        if status != 204:
            lines.append(b"content-length: %d" % len(body))
        payload = body
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


Handler = Callable[[ServerConnection], Awaitable[None]]


class ScriptedServer:
    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.requests: list[Exchange] = []
        self.connections = 0
        self.finished = 0
        self.port = 0
        self.alpn: list[str | None] = []
        self.handler_errors: list[BaseException] = []

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def _handle(self, stream: trio.SocketStream) -> None:
        index = self.connections
        self.connections += 1
        served: trio.abc.Stream = stream
        try:
            if self.ssl_context is not None:
                tls = trio.SSLStream(stream, self.ssl_context, server_side=True)
                try:
                    await tls.do_handshake()
                except trio.BrokenResourceError:
                    return  # the client refused our certificate
                self.alpn.append(tls.selected_alpn_protocol())
                served = tls
            await self.handler(ServerConnection(self, served, index))
        except (trio.BrokenResourceError, trio.ClosedResourceError, EOFError):
            pass
        except Exception as exc:
            self.handler_errors.append(exc)
        finally:
            with (
                trio.CancelScope(shield=True),
                trio.move_on_after(1),
                suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError),
            ):
                await served.aclose()
            self.finished += 1  # after the close, so tests can wait for it


@asynccontextmanager
async def open_server(
    handler: Handler, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer(handler, ssl_context)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(_serve, server)
        server.port = listeners[0].socket.getsockname()[1]
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel()
    assert not server.handler_errors, server.handler_errors


async def _serve(server: ScriptedServer, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    await trio.serve_tcp(server._handle, 0, host="127.0.0.1", task_status=task_status)


async def keep_alive(conn: ServerConnection, answer: Callable[[Exchange], bytes]) -> None:
    """Serve requests on one connection until the client closes it."""
    while (request := await conn.read_request()) is not None:
        await conn.send(answer(request))


def echo(request: Exchange) -> bytes:
    """Answer with the request body, and the request target in a header."""
    return response_bytes(request.body, headers=[("x-target", request.target.decode())])


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until the server side caught up (it runs in other tasks)."""
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.001)


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The server toolkit (conftest modules are not importable under --import-mode=importlib)."""
    return SimpleNamespace(
        open_server=open_server,
        response_bytes=response_bytes,
        keep_alive=keep_alive,
        echo=echo,
        wait_until=wait_until,
        Exchange=Exchange,
    )


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_ssl_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    context.set_alpn_protocols(["http/1.1"])
    context.sni_callback = _record_sni
    return context


SNI_SEEN: list[str | None] = []


def _record_sni(
    sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, context: ssl.SSLContext
) -> None:
    SNI_SEEN.append(name)


@pytest.fixture
def sni_seen() -> list[str | None]:
    SNI_SEEN.clear()
    return SNI_SEEN
