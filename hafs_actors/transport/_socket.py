"""A lean trio byte stream over a non-blocking TCP socket.

Why not ``trio.SocketStream``: the resend rule needs to know whether any byte of a request
reached the kernel, which ``SocketStream.send_all`` cannot tell after a failure, and the pool
needs a non-blocking probe of an idle connection. Owning the socket also trims the per-call
overhead on the hot path (no conflict detectors, no context-manager error translation).
"""

from __future__ import annotations

import select
import socket

import trio

__all__ = ["TrackedSocketStream", "open_tcp"]

_DEFAULT_RECEIVE_SIZE = 65536


class TrackedSocketStream(trio.abc.HalfCloseableStream):
    """A ``trio.abc.HalfCloseableStream`` that counts the bytes the kernel accepted.

    ``bytes_sent`` only ever grows; comparing it before and after a failed write tells whether
    any byte of that write left the process.
    """

    __slots__ = ("_closed", "_poller", "_sock", "bytes_sent")

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._closed = False
        self.bytes_sent = 0
        # A poll object registered once makes the idle probe one cheap syscall (no exception).
        self._poller: select.poll | None = None
        if hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(sock, select.POLLIN | select.POLLPRI)

    @property
    def closed(self) -> bool:
        return self._closed

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the connection is closed")
        await trio.lowlevel.checkpoint_if_cancelled()
        sock = self._sock
        waited = False
        with memoryview(data) as view:
            total = len(view)
            sent = 0
            while sent < total:
                try:
                    if sent:
                        with view[sent:] as remaining:
                            count = sock.send(remaining)
                    else:
                        count = sock.send(view)
                except BlockingIOError:
                    waited = True
                    await trio.lowlevel.wait_writable(sock)
                    continue
                except OSError as exc:
                    raise trio.BrokenResourceError(_describe(exc)) from exc
                sent += count
                self.bytes_sent += count
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()

    def send_nowait(self, data: bytes) -> int:
        """Write what the kernel accepts right now, without waiting; the count written.

        Lets the connection skip a timeout scope and a scheduling round trip for the common
        case of a request that fits in the socket buffer. Raises ``BrokenResourceError``.
        """
        if self._closed:
            raise trio.ClosedResourceError("the connection is closed")
        try:
            count = self._sock.send(data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise trio.BrokenResourceError(_describe(exc)) from exc
        self.bytes_sent += count
        return count

    async def wait_send_all_might_not_block(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the connection is closed")
        await trio.lowlevel.wait_writable(self._sock)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._closed:
            raise trio.ClosedResourceError("the connection is closed")
        size = _DEFAULT_RECEIVE_SIZE if max_bytes is None else max_bytes
        if size < 1:
            raise ValueError("max_bytes must be >= 1")
        await trio.lowlevel.checkpoint_if_cancelled()
        sock = self._sock
        try:
            data = sock.recv(size)
        except BlockingIOError:
            while True:
                await trio.lowlevel.wait_readable(sock)
                try:
                    return sock.recv(size)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    raise trio.BrokenResourceError(_describe(exc)) from exc
        except OSError as exc:
            raise trio.BrokenResourceError(_describe(exc)) from exc
        await trio.lowlevel.cancel_shielded_checkpoint()
        return data

    async def wait_and_receive(self, max_bytes: int) -> bytes:
        """``receive_some`` for when data cannot be there yet (just after a request was sent):
        wait first, saving a ``recv`` that would fail with EAGAIN."""
        if self._closed:
            raise trio.ClosedResourceError("the connection is closed")
        sock = self._sock
        while True:
            await trio.lowlevel.wait_readable(sock)
            try:
                return sock.recv(max_bytes)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise trio.BrokenResourceError(_describe(exc)) from exc

    async def send_eof(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the connection is closed")
        await trio.lowlevel.checkpoint()
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise trio.BrokenResourceError(_describe(exc)) from exc

    def is_readable(self) -> bool:
        """Whether the peer sent anything (EOF, a reset, stray bytes) while nobody was reading.

        On an idle keep-alive connection any of these means it must not be reused. One
        non-blocking ``poll`` (or ``recv(MSG_PEEK)``) syscall; never waits.
        """
        if self._closed:
            return True
        if self._poller is not None:
            return bool(self._poller.poll(0))  # also reports POLLHUP and POLLERR
        try:
            self._sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        except OSError:
            return True
        return True

    def close_now(self) -> None:
        """Close the socket synchronously (no TLS close_notify); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        trio.lowlevel.notify_closing(self._sock)
        self._sock.close()

    async def aclose(self) -> None:
        self.close_now()
        await trio.lowlevel.checkpoint()


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


async def open_tcp(host: str, port: int) -> TrackedSocketStream:
    """Connect with trio's happy-eyeballs connector, then take the socket over."""
    stream = await trio.open_tcp_stream(host, port)
    trio_socket = stream.socket
    try:
        family, kind, proto = trio_socket.family, trio_socket.type, trio_socket.proto
        fd = trio_socket.detach()
    except BaseException:
        trio_socket.close()
        raise
    return TrackedSocketStream(socket.socket(family, kind, proto, fileno=fd))
