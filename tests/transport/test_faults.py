"""HafsTransport against a hostile server: resets, truncation, garbage, half-closed and stale
connections, slow drips, and the timeouts mapped to httpx's exceptions (under MockClock)."""

from __future__ import annotations

import weakref
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import trio

from hafs_actors.transport import HafsTransport
from hafs_actors.transport._connection import HTTP11Connection

TRANSPORTS: weakref.WeakKeyDictionary[httpx.AsyncClient, HafsTransport] = (
    weakref.WeakKeyDictionary()
)


def client_for(url: str, timeout: float = 5.0, **kwargs: Any) -> httpx.AsyncClient:
    transport = HafsTransport(**kwargs)
    client = httpx.AsyncClient(base_url=url, transport=transport, timeout=httpx.Timeout(timeout))
    TRANSPORTS[client] = transport
    return client


def stats_of(client: httpx.AsyncClient) -> Any:
    return TRANSPORTS[client].statistics()


async def test_reset_before_the_response_is_a_read_error(kit: SimpleNamespace) -> None:
    async def handler(conn: Any) -> None:
        await conn.read_request()
        conn.reset()

    async with kit.open_server(handler) as server, client_for(server.url) as client:
        with pytest.raises(httpx.ReadError):
            await client.get("/")
        assert stats_of(client).open == 0
        assert len(server.requests) == 1  # never resent


async def test_reset_in_the_middle_of_the_body(kit: SimpleNamespace) -> None:
    async def handler(conn: Any) -> None:
        await conn.read_request()
        await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
        await trio.sleep(0.05)
        conn.reset()

    async with kit.open_server(handler) as server, client_for(server.url) as client:
        async with client.stream("GET", "/") as response:
            assert response.status_code == 200
            with pytest.raises(httpx.ReadError):
                await response.aread()
        assert stats_of(client).open == 0


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",
    ],
    ids=["content-length", "chunked-between-chunks", "chunked-inside-a-chunk"],
)
async def test_truncated_bodies_are_protocol_errors(kit: SimpleNamespace, reply: bytes) -> None:
    async def handler(conn: Any) -> None:
        await conn.read_request()
        await conn.send(reply)

    async with kit.open_server(handler) as server, client_for(server.url) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="peer closed connection"):
            await client.get("/")
        assert stats_of(client).open == 0


@pytest.mark.parametrize(
    "reply",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!",
        b"\x16\x03\x01\x00\x05hello\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 70_000 + b"\r\n\r\n",
    ],
    ids=["not-http", "bad-status", "bad-header", "bad-chunk", "two-lengths", "tls", "huge-head"],
)
async def test_garbage_is_a_remote_protocol_error(kit: SimpleNamespace, reply: bytes) -> None:
    async def handler(conn: Any) -> None:
        await conn.read_request()
        await conn.send(reply)
        await conn.wait_closed_by_client()

    async with kit.open_server(handler) as server, client_for(server.url) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await (await client.send(client.build_request("GET", "/"), stream=True)).aread()
        assert stats_of(client).open == 0


async def test_server_closing_without_a_response(kit: SimpleNamespace) -> None:
    async def handler(conn: Any) -> None:
        await conn.read_request()

    async with kit.open_server(handler) as server, client_for(server.url) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await client.post("/", content=b"once")
        assert [r.body for r in server.requests] == [b"once"]


async def test_half_closed_before_the_response(kit: SimpleNamespace) -> None:
    async def handler(conn: Any) -> None:
        await conn.read_request()
        await conn.half_close()
        await conn.wait_closed_by_client()

    async with kit.open_server(handler) as server, client_for(server.url) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await client.get("/")
        assert stats_of(client).open == 0


@pytest.mark.parametrize("how", ["close", "reset", "half-close", "stray-bytes"])
async def test_idle_connection_closed_by_the_server_is_replaced(
    kit: SimpleNamespace, how: str
) -> None:
    """The stale connection is noticed before any byte is written to it: no error, no resend."""
    first_read = trio.Event()

    async def handler(conn: Any) -> None:
        if conn.index > 0:
            await kit.keep_alive(conn, kit.echo)
            return
        await conn.send(kit.echo(await conn.read_request()))
        await first_read.wait()  # the connection is idle in the client's pool now
        if how == "reset":
            conn.reset()
        elif how == "half-close":
            await conn.half_close()
            await conn.wait_closed_by_client()
        elif how == "stray-bytes":
            await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            await conn.wait_closed_by_client()

    async with kit.open_server(handler) as server, client_for(server.url) as client:
        assert (await client.post("/", content=b"first")).content == b"first"
        first_read.set()
        if how in ("close", "reset"):
            await kit.wait_until(lambda: server.finished == 1)
        await trio.sleep(0.05)  # let the FIN, RST or bytes arrive
        assert (await client.post("/", content=b"second")).content == b"second"
        stats = stats_of(client)
        assert stats.stale_discarded == 1
        assert stats.resent == 0
        assert stats.connections_opened == 2
        assert [(r.body, r.connection) for r in server.requests] == [(b"first", 0), (b"second", 1)]


async def test_bytes_after_the_response_prevent_reuse(kit: SimpleNamespace) -> None:
    async def handler(conn: Any) -> None:
        if conn.index > 0:
            await kit.keep_alive(conn, kit.echo)
            return
        stray = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nstray"
        await conn.send(kit.echo(await conn.read_request()) + stray)  # one segment
        await conn.wait_closed_by_client()

    async with kit.open_server(handler) as server, client_for(server.url) as client:
        assert (await client.post("/", content=b"first")).content == b"first"
        assert (await client.post("/", content=b"second")).content == b"second"
        assert stats_of(client).connections_opened == 2
        assert server.connections == 2


@pytest.fixture
def probe_misses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate the race where the server's close lands just after the checkout probe."""
    monkeypatch.setattr(HTTP11Connection, "is_stale", lambda self: False)


@pytest.mark.usefixtures("probe_misses")
async def test_resent_once_when_no_byte_was_written(kit: SimpleNamespace) -> None:
    async def handler(conn: Any) -> None:
        if conn.index > 0:
            await kit.keep_alive(conn, kit.echo)
            return
        await conn.send(kit.echo(await conn.read_request()))
        conn.reset()  # the client's next write on this connection fails at once

    async with kit.open_server(handler) as server, client_for(server.url) as client:
        await client.post("/", content=b"first")
        await kit.wait_until(lambda: server.finished == 1)
        await trio.sleep(0.05)
        assert (await client.post("/", content=b"second")).content == b"second"
        stats = stats_of(client)
        assert stats.resent == 1
        assert [(r.body, r.connection) for r in server.requests] == [(b"first", 0), (b"second", 1)]


@pytest.mark.usefixtures("probe_misses")
async def test_resent_at_most_once(kit: SimpleNamespace) -> None:
    both_served = trio.Event()
    served = 0

    async def handler(conn: Any) -> None:
        nonlocal served
        if conn.index > 1:
            await kit.keep_alive(conn, kit.echo)
            return
        await conn.send(kit.echo(await conn.read_request()))
        served += 1
        if served == 2:
            both_served.set()
        await both_served.wait()
        conn.reset()

    async with kit.open_server(handler) as server, client_for(server.url) as client:
        async with trio.open_nursery() as nursery:  # two idle connections, both to be reset
            nursery.start_soon(client.get, "/a")
            nursery.start_soon(client.get, "/b")
        await kit.wait_until(lambda: server.finished == 2)
        await trio.sleep(0.05)
        with pytest.raises(httpx.WriteError):
            await client.get("/c")
        stats = stats_of(client)
        assert stats.resent == 1
        assert stats.open == 0
        assert [r.target for r in server.requests] == [b"/a", b"/b"] or [
            r.target for r in server.requests
        ] == [b"/b", b"/a"]


@pytest.mark.usefixtures("probe_misses")
async def test_not_resent_once_written_even_if_the_connection_was_stale(
    kit: SimpleNamespace,
) -> None:
    """Bytes reached a connection the server had closed: it may have been read, so no resend."""

    async def handler(conn: Any) -> None:
        await conn.send(kit.echo(await conn.read_request()))
        await conn.aclose()  # FIN: the client's next write still succeeds locally

    async with kit.open_server(handler) as server, client_for(server.url) as client:
        await client.post("/", content=b"first")
        await kit.wait_until(lambda: server.finished == 1)
        await trio.sleep(0.05)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.post("/", content=b"second")
        assert stats_of(client).resent == 0
        assert server.connections == 1


async def test_written_request_answered_by_a_close_is_not_resent(kit: SimpleNamespace) -> None:
    async def handler(conn: Any) -> None:
        await conn.send(kit.echo(await conn.read_request()))
        await conn.read_request()  # read the second request, then hang up without answering

    async with kit.open_server(handler) as server, client_for(server.url) as client:
        await client.post("/", content=b"first")
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await client.post("/", content=b"second")
        assert [r.body for r in server.requests] == [b"first", b"second"]
        assert stats_of(client).resent == 0


async def test_slow_drip_is_read_completely(kit: SimpleNamespace, autojump_clock: Any) -> None:
    reply = kit.response_bytes(b"drip " * 20, chunked=True, chunk_sizes=[3, 1, 5])

    async def handler(conn: Any) -> None:
        await conn.read_request()
        for byte in reply:
            await conn.send(bytes([byte]))
            await trio.sleep(1)

    async with kit.open_server(handler) as server, client_for(server.url, timeout=2) as client:
        started = trio.current_time()
        assert (await client.get("/")).content == b"drip " * 20
        assert trio.current_time() - started >= len(reply) - 1


@pytest.mark.parametrize("where", ["head", "body"])
async def test_read_timeout(kit: SimpleNamespace, autojump_clock: Any, where: str) -> None:
    async def handler(conn: Any) -> None:
        await conn.read_request()
        if where == "body":
            await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234")
        await trio.sleep(100)

    async with kit.open_server(handler) as server, client_for(server.url, timeout=5) as client:
        started = trio.current_time()
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/")
        assert 5 <= trio.current_time() - started < 6
        assert stats_of(client).open == 0


async def test_write_timeout(kit: SimpleNamespace, autojump_clock: Any) -> None:
    async def handler(conn: Any) -> None:
        await trio.sleep(100)  # never reads: the client's socket buffers fill up

    async with kit.open_server(handler) as server, client_for(server.url, timeout=5) as client:
        with pytest.raises(httpx.WriteTimeout):
            await client.post("/", content=b"x" * (64 * 1024 * 1024))
        assert stats_of(client).open == 0


async def test_connect_timeout_covers_the_tls_handshake(
    kit: SimpleNamespace, autojump_clock: Any
) -> None:
    async def handler(conn: Any) -> None:
        await trio.sleep(100)  # accepts TCP, never answers the ClientHello

    async with kit.open_server(handler) as server:
        url = f"https://127.0.0.1:{server.port}"
        async with client_for(url, timeout=5, verify=False) as client:
            with pytest.raises(httpx.ConnectTimeout):
                await client.get("/")
            assert stats_of(client).open == 0


async def test_connect_error() -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with client_for(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/")
        assert stats_of(client).open == 0


async def test_pool_timeout(kit: SimpleNamespace, autojump_clock: Any) -> None:
    async with (
        kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server,
        client_for(server.url, timeout=5, max_connections=1) as client,
    ):
        async with client.stream("POST", "/", content=b"held") as held:
            started = trio.current_time()
            with pytest.raises(httpx.PoolTimeout):
                await client.get("/")
            assert trio.current_time() - started == pytest.approx(5)
            assert stats_of(client).waiting == 0
            await held.aread()
        assert (await client.post("/", content=b"after")).content == b"after"
        assert server.connections == 1


async def test_waiters_are_served_in_order(kit: SimpleNamespace) -> None:
    async with (
        kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server,
        client_for(server.url, max_connections=1) as client,
    ):
        order: list[int] = []

        async def one(i: int) -> None:
            await client.post("/", content=b"%d" % i)
            order.append(i)

        async with client.stream("GET", "/") as held, trio.open_nursery() as nursery:
            for i in range(5):
                nursery.start_soon(one, i)
                await kit.wait_until(lambda i=i: stats_of(client).waiting == i + 1)
            await held.aread()
        assert order == [0, 1, 2, 3, 4]
        assert server.connections == 1


async def test_good_bytes_before_garbage_are_delivered_first(kit: SimpleNamespace) -> None:
    async def handler(conn: Any) -> None:
        await conn.read_request()
        await conn.send(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\nzz\r\n"  # one segment: two chunks, then garbage
        )
        await conn.wait_closed_by_client()

    async with kit.open_server(handler) as server, client_for(server.url) as client:
        received: list[bytes] = []

        async def read_all(response: httpx.Response) -> None:
            async for chunk in response.aiter_raw():
                received.append(chunk)

        async with client.stream("GET", "/") as response:
            with pytest.raises(httpx.RemoteProtocolError):
                await read_all(response)
        assert b"".join(received) == b"hello world"
        assert stats_of(client).open == 0


async def test_early_response_during_an_upload_is_returned(kit: SimpleNamespace) -> None:
    """A server that answers 413 after the head and hangs up makes the upload fail; its
    answer, already received, wins over the WriteError."""

    async def handler(conn: Any) -> None:
        while b"\r\n\r\n" not in conn.buffer:
            await conn._fill()
        await conn.send(
            b"HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-length: 3\r\n\r\nbig"
        )
        await conn.aclose()  # unread upload bytes: the kernel answers them with a reset

    async with kit.open_server(handler) as server, client_for(server.url) as client:
        response = await client.post("/", content=b"x" * (32 * 1024 * 1024))
        assert response.status_code == 413
        assert response.content == b"big"
        assert stats_of(client).open == 0
