"""Test harness for the adapters: a tiny scripted HTTP/1.1 server on trio + h11.

Each route answers with a scripted :class:`Reply`: a status, headers and a body that is either
one blob (``content-length``) or a list of chunks (``transfer-encoding: chunked``) with optional
pauses (floats, in seconds, on trio's clock so MockClock tests stay instant). ``action`` can make
it hang before answering, hang after some chunks, or cut the connection mid-body. Every request
is recorded, and the server notices when a client disconnects, so tests can assert that a
cancelled call really closed its connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import h11
import pytest
import trio

from hafs_actors.adapters import AdapterSettings
from tests._paths import FIXTURES as FIXTURES


@attrs.define
class Reply:
    status: int = 200
    headers: list[tuple[str, str]] = attrs.field(factory=list)
    body: bytes | list[bytes | float] = b""
    #: "respond", "hang" (never answer), "stall" (send the chunks, then go silent),
    #: "cut" (send the chunks, then close the socket without ending the body)
    action: str = "respond"

    @classmethod
    def json(
        cls, payload: Any, status: int = 200, headers: list[tuple[str, str]] | None = None
    ) -> Reply:
        return cls(
            status=status,
            headers=[("content-type", "application/json"), *(headers or [])],
            body=json.dumps(payload).encode(),
        )

    @classmethod
    def sse(
        cls, chunks: list[bytes | float], headers: list[tuple[str, str]] | None = None, **kw: Any
    ) -> Reply:
        """A chunked ``text/event-stream`` reply (``headers`` are added to the content type)."""
        return cls(
            headers=[("content-type", "text/event-stream"), *(headers or [])], body=chunks, **kw
        )


@attrs.define
class Recorded:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[Recorded], Reply]


class ReplayServer:
    Reply = Reply  # tests reach the helpers through the fixture (importlib import mode)

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply | Handler]] = {}
        self.requests: list[Recorded] = []
        self.disconnects = 0
        self.connections = 0
        self.port = 0
        self._disconnected = trio.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, method: str, path: str, *replies: Reply | Handler) -> None:
        """Answer ``method path`` with the replies in turn (the last one repeats)."""
        self.routes[(method, path)] = list(replies)

    def settings(self, **kw: Any) -> AdapterSettings:
        kw.setdefault("api_key", "sk-test-SECRETKEY0123456789")
        kw.setdefault("base_url", self.base_url)
        return AdapterSettings(**kw)

    async def wait_disconnect(self) -> None:
        await self._disconnected.wait()

    def _reply(self, request: Recorded) -> Reply:
        queue = self.routes.get((request.method, request.path))
        if not queue:
            return Reply.json({"error": f"no route {request.method} {request.path}"}, 404)
        entry = queue.pop(0) if len(queue) > 1 else queue[0]
        return entry(request) if callable(entry) else entry

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._connection, listeners)

    async def _connection(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read_request(stream, conn)
                if request is None:
                    return
                self.requests.append(request)
                keep = await self._respond(stream, conn, self._reply(request))
                if not keep or conn.our_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
            return
        finally:
            self.disconnects += 1
            self._disconnected.set()
            self._disconnected = trio.Event()
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _read_request(
        self, stream: trio.SocketStream, conn: h11.Connection
    ) -> Recorded | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                conn.receive_data(data)
                if not data and head is None:
                    return None
                continue
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return Recorded(
                    method=head.method.decode(),
                    target=head.target.decode(),
                    headers={k.decode().lower(): v.decode() for k, v in head.headers},
                    body=bytes(body),
                )
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _until_client_leaves(self, stream: trio.SocketStream) -> None:
        while await stream.receive_some(65536):
            pass

    async def _respond(self, stream: trio.SocketStream, conn: h11.Connection, reply: Reply) -> bool:
        if reply.action == "hang":
            await self._until_client_leaves(stream)
            return False
        chunked = isinstance(reply.body, list)
        headers = list(reply.headers)
        if chunked:
            headers.append(("transfer-encoding", "chunked"))
        else:
            assert isinstance(reply.body, bytes)
            headers.append(("content-length", str(len(reply.body))))
        await stream.send_all(conn.send(h11.Response(status_code=reply.status, headers=headers)))
        if not chunked:
            assert isinstance(reply.body, bytes)
            await stream.send_all(conn.send(h11.Data(data=reply.body)) or b"")
        else:
            assert isinstance(reply.body, list)
            for piece in reply.body:
                if isinstance(piece, float):
                    await trio.sleep(piece)
                elif piece:
                    await stream.send_all(conn.send(h11.Data(data=piece)) or b"")
            if reply.action == "stall":
                await self._until_client_leaves(stream)
                return False
            if reply.action == "cut":
                return False
        await stream.send_all(conn.send(h11.EndOfMessage()) or b"")
        return True


@pytest.fixture
async def replay(nursery: trio.Nursery) -> ReplayServer:
    """A replay server served by the test's nursery (cancelled when the test ends)."""
    server = ReplayServer()
    await nursery.start(server.serve)
    return server


@pytest.fixture
async def make(replay: ReplayServer) -> AsyncIterator[Callable[..., Any]]:
    """``make(AdapterClass, **settings)``: an adapter pointed at the replay server, closed at
    the end of the test."""
    made: list[Any] = []

    def factory(cls: type, *, provider: str | None = None, **settings: Any) -> Any:
        kwargs = {} if provider is None else {"provider": provider}
        adapter = cls(replay.settings(**settings), **kwargs)
        made.append(adapter)
        return adapter

    yield factory
    for adapter in made:
        await adapter.aclose()
