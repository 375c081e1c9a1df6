"""The in-process HTTP/1.1 server: h11 parses requests, replies are written as prebuilt bytes.

h11 does the part that is easy to get wrong (request framing, chunked request bodies,
pipelining, malformed input). The reply side is simple and hot, so it is written directly: one
``send_all`` for the head and an unpaced body, one per paced piece otherwise. Delays are
``trio.sleep`` calls, so under ``MockClock`` a test sees exactly the planned timings.
"""

from __future__ import annotations

import http
from functools import partial
from urllib.parse import unquote

import h11
import trio

from .core import EmulatorCore
from .wire import HttpRequest, Reply

__all__ = ["serve_connection", "serve_listeners"]

_RECEIVE_SIZE = 65536
_MAX_HEAD = 64 * 1024
_TERMINATOR = b"0\r\n\r\n"
_status_lines: dict[int, bytes] = {}


def _status_line(status: int) -> bytes:
    line = _status_lines.get(status)
    if line is None:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = {529: "Site is overloaded", 499: "Client Closed Request"}.get(
                status, "Unknown"
            )
        line = b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode("ascii"))
        _status_lines[status] = line
    return line


def _head(reply: Reply, keep_alive: bool, body_length: int | None) -> bytes:
    parts = [_status_line(reply.status)]
    for name, value in reply.headers:
        parts.append(f"{name}: {value}\r\n".encode("latin-1"))
    if body_length is None:
        parts.append(b"transfer-encoding: chunked\r\n")
    else:
        parts.append(b"content-length: %d\r\n" % body_length)
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def _plain(data: bytes) -> bytes:
    return data


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


async def _send_reply(
    stream: trio.abc.Stream, reply: Reply, keep_alive: bool, head_only: bool
) -> bool:
    """Execute one reply plan; returns whether the connection may be reused."""
    if reply.delay > 0:
        await trio.sleep(reply.delay)
    keep_alive = keep_alive and reply.ending == "complete"
    if reply.chunked and not head_only:
        frame = _chunk
        body_length = None
    else:
        frame = _plain
        body_length = (
            reply.content_length
            if reply.content_length is not None
            else sum(len(piece.data) for piece in reply.pieces)
        )
    pending = _head(reply, keep_alive, body_length)
    if not head_only:
        for piece in reply.pieces:
            if piece.delay > 0:
                await stream.send_all(pending)
                await trio.sleep(piece.delay)
                pending = frame(piece.data)
            else:
                pending += frame(piece.data)
        if reply.chunked and reply.ending == "complete":
            pending += _TERMINATOR
    await stream.send_all(pending)
    return keep_alive


def _keep_alive(request: h11.Request) -> bool:
    tokens: list[bytes] = []
    for name, value in request.headers:
        if name == b"connection":
            tokens += [token.strip().lower() for token in value.split(b",")]
    if request.http_version == b"1.0":
        return b"keep-alive" in tokens
    return b"close" not in tokens


async def _wait_for_close(stream: trio.abc.ReceiveStream) -> None:
    """A hung request: read and discard until the client gives up."""
    try:
        while await stream.receive_some(_RECEIVE_SIZE):
            pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def _simple_error(stream: trio.abc.SendStream, status: int, message: str) -> None:
    body = message.encode("utf-8", "replace")
    head = _status_line(status) + (
        b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n" % len(body)
    )
    await stream.send_all(head + body)


async def serve_connection(stream: trio.SocketStream, core: EmulatorCore) -> None:
    """Serve one client connection until it closes, a reply ends it, or the server stops."""
    core.stats.connections += 1
    max_body = core.config.max_body_bytes
    buffered = b""
    try:
        while True:
            conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
            if buffered:
                conn.receive_data(buffered)
            request: h11.Request | None = None
            body = bytearray()
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError as exc:
                    await _simple_error(stream, exc.error_status_hint, f"bad request: {exc}")
                    return
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(_RECEIVE_SIZE))
                elif isinstance(event, h11.Request):
                    request = event
                    if conn.they_are_waiting_for_100_continue:
                        await stream.send_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                elif isinstance(event, h11.Data):
                    body += event.data
                    if len(body) > max_body:
                        await _simple_error(stream, 413, "request body too large")
                        return
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:  # ConnectionClosed (or PAUSED, which a fresh connection never reports)
                    return
            assert request is not None
            target = request.target.decode("latin-1")
            path, _, query = target.partition("?")
            method = request.method.decode("ascii")
            http_request = HttpRequest(
                method=method,
                path=unquote(path),
                query=query,
                headers={k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers},
                body=bytes(body),
            )
            reply = core.handle(http_request, trio.current_time())
            if reply.ending == "hang":
                await _wait_for_close(stream)
                return
            keep_alive = _keep_alive(request)
            if not await _send_reply(stream, reply, keep_alive, method == "HEAD"):
                return
            buffered, closed = conn.trailing_data
            if closed and not buffered:
                return
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(stream)


async def serve_listeners(
    core: EmulatorCore,
    listeners: list[trio.SocketListener],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept connections on ``listeners`` and serve each in its own task until cancelled."""
    async with trio.open_nursery() as nursery:
        await nursery.start(
            partial(trio.serve_listeners, partial(serve_connection, core=core), listeners)
        )
        task_status.started()
