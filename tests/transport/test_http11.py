"""HafsTransport speaking HTTP/1.1 to a well-behaved loopback server: framing, keep-alive,
streaming, statistics."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
import trio

from hafs_actors.transport import (
    HafsTransport,
    OriginStatistics,
    create_pooled_client,
)


def client_for(server_url: str, **kwargs: object) -> tuple[httpx.AsyncClient, HafsTransport]:
    transport = HafsTransport(**kwargs)  # type: ignore[arg-type]
    return httpx.AsyncClient(base_url=server_url, transport=transport), transport


async def test_keep_alive_reuses_one_connection(kit: SimpleNamespace) -> None:
    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        client, transport = client_for(server.url)
        async with client:
            for i in range(5):
                response = await client.post(f"/n/{i}", content=b"body %d" % i)
                assert response.status_code == 200
                assert response.content == b"body %d" % i
                assert response.headers["x-target"] == f"/n/{i}"
                assert response.http_version == "HTTP/1.1"
            stats = transport.statistics()
        assert server.connections == 1
        assert [r.body for r in server.requests] == [b"body %d" % i for i in range(5)]
        assert stats.connections_opened == 1
        assert stats.requests_on_reused_connections == 4
        assert (stats.open, stats.idle, stats.in_use) == (1, 1, 0)
        assert stats.per_origin == {server.url: OriginStatistics(open=1, idle=1, in_use=0)}


async def test_request_headers_and_body_reach_the_server(kit: SimpleNamespace) -> None:
    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        client, _ = client_for(server.url)
        async with client:
            await client.post(
                "/v1/x?q=1", json={"a": 1}, headers={"authorization": "Bearer t", "X-Case": "v"}
            )
        (request,) = server.requests
        assert request.method == b"POST"
        assert request.target == b"/v1/x?q=1"
        assert request.body == b'{"a":1}'
        assert request.header(b"host") == f"127.0.0.1:{server.port}".encode()
        assert request.header(b"content-length") == b"7"
        assert request.header(b"authorization") == b"Bearer t"
        assert (b"X-Case", b"v") in request.headers  # header case is preserved on the wire


async def test_connection_close_response_is_not_reused(kit: SimpleNamespace) -> None:
    async def handler(conn: object) -> None:
        request = await conn.read_request()  # type: ignore[attr-defined]
        assert request is not None
        await conn.respond(b"bye", headers=[("connection", "close")])  # type: ignore[attr-defined]

    async with kit.open_server(handler) as server:
        client, transport = client_for(server.url)
        async with client:
            for _ in range(3):
                assert (await client.get("/")).content == b"bye"
            stats = transport.statistics()
        assert server.connections == 3
        assert stats.connections_opened == 3
        assert stats.open == 0


async def test_connection_close_request_closes_after_response(kit: SimpleNamespace) -> None:
    async def handler(conn: object) -> None:
        request = await conn.read_request()  # type: ignore[attr-defined]
        assert request is not None
        assert request.header(b"connection") == b"close"
        await conn.respond(b"ok")  # type: ignore[attr-defined]
        await conn.wait_closed_by_client()  # type: ignore[attr-defined]

    async with kit.open_server(handler) as server:
        client, transport = client_for(server.url)
        async with client:
            response = await client.get("/", headers={"connection": "close"})
            assert response.content == b"ok"
            assert transport.statistics().open == 0
        await kit.wait_until(lambda: server.finished == 1)


@pytest.mark.parametrize("framing", ["chunked", "content-length", "close-delimited"])
async def test_response_framings(kit: SimpleNamespace, framing: str) -> None:
    body = bytes(range(256)) * 300

    async def handler(conn: object) -> None:
        while await conn.read_request() is not None:  # type: ignore[attr-defined]
            if framing == "close-delimited":
                await conn.send(b"HTTP/1.1 200 OK\r\n\r\n" + body)  # type: ignore[attr-defined]
                return
            await conn.send(  # type: ignore[attr-defined]
                kit.response_bytes(body, chunked=framing == "chunked", chunk_sizes=[1, 7, 4096])
            )

    async with kit.open_server(handler) as server:
        client, transport = client_for(server.url)
        async with client:
            for _ in range(2):
                assert (await client.get("/")).content == body
            reused = transport.statistics().requests_on_reused_connections
        assert reused == (0 if framing == "close-delimited" else 1)


async def test_head_and_204_have_no_body(kit: SimpleNamespace) -> None:
    async def handler(conn: object) -> None:
        while (request := await conn.read_request()) is not None:  # type: ignore[attr-defined]
            if request.method == b"HEAD":
                await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")  # type: ignore[attr-defined]
            else:
                await conn.respond(status=204)  # type: ignore[attr-defined]

    async with kit.open_server(handler) as server:
        client, transport = client_for(server.url)
        async with client:
            head = await client.head("/")
            assert head.headers["content-length"] == "1000"
            assert head.content == b""
            assert (await client.delete("/")).status_code == 204
            assert (await client.head("/")).content == b""
            assert transport.statistics().connections_opened == 1


async def test_streamed_request_body_is_chunked(kit: SimpleNamespace) -> None:
    async def parts() -> object:
        for piece in (b"alpha ", b"", b"beta ", b"gamma" * 10000):
            yield piece

    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        client, _ = client_for(server.url)
        async with client:
            response = await client.post("/", content=parts())  # type: ignore[arg-type]
        (request,) = server.requests
        assert request.header(b"transfer-encoding") == b"chunked"
        assert request.body == b"alpha beta " + b"gamma" * 10000
        assert response.content == request.body


async def test_large_bodies_both_ways(kit: SimpleNamespace) -> None:
    big = b"x" * (8 * 1024 * 1024 + 17)
    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        client, _ = client_for(server.url)
        async with client:
            response = await client.post("/", content=big)
            assert len(response.content) == len(big)
            assert response.content == big


async def test_sse_events_arrive_before_the_response_ends(kit: SimpleNamespace) -> None:
    """Each event is read by the client while the server waits for it: nothing is buffered."""
    received = trio.Event()
    progress: list[int] = []

    async def handler(conn: object) -> None:
        assert await conn.read_request() is not None  # type: ignore[attr-defined]
        await conn.send(  # type: ignore[attr-defined]
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        nonlocal received
        for i in range(3):
            event = b"data: %d\n\n" % i
            await conn.send(b"%x\r\n%s\r\n" % (len(event), event))  # type: ignore[attr-defined]
            await received.wait()  # the client must see this event before the next is sent
            received = trio.Event()
            progress.append(i)
        await conn.send(b"0\r\n\r\n")  # type: ignore[attr-defined]
        await conn.wait_closed_by_client()  # type: ignore[attr-defined]

    async with kit.open_server(handler) as server:
        client, transport = client_for(server.url)
        lines = []
        with trio.fail_after(10):  # a buffering transport deadlocks here
            async with client, client.stream("GET", "/events") as response:
                async for line in response.aiter_lines():
                    if line:
                        lines.append(line)
                        assert len(progress) == len(lines) - 1
                        received.set()
        assert lines == ["data: 0", "data: 1", "data: 2"]
        assert transport.statistics().open == 0


async def test_connections_per_origin_and_statistics(kit: SimpleNamespace) -> None:
    handler = lambda c: kit.keep_alive(c, kit.echo)  # noqa: E731
    async with kit.open_server(handler) as one, kit.open_server(handler) as two:
        transport = HafsTransport()
        async with httpx.AsyncClient(transport=transport) as client:
            async with client.stream("GET", one.url) as held:
                await client.get(two.url)
                await client.get(one.url)
                stats = transport.statistics()
                assert stats.per_origin == {
                    one.url: OriginStatistics(open=2, idle=1, in_use=1),
                    two.url: OriginStatistics(open=1, idle=1, in_use=0),
                }
                assert (stats.open, stats.idle, stats.in_use) == (3, 2, 1)
                await held.aread()
            assert transport.statistics().idle == 3
        assert transport.statistics().open == 0  # closing the client closed the transport


async def test_aclose_closes_idle_connections(kit: SimpleNamespace) -> None:
    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        client, transport = client_for(server.url)
        await client.get("/")
        assert server.finished == 0
        await client.aclose()
        await kit.wait_until(lambda: server.finished == 1)
        assert transport.statistics().open == 0
        with pytest.raises(RuntimeError, match="closed"):
            await transport.handle_async_request(httpx.Request("GET", server.url))


async def test_keepalive_limits_and_expiry(kit: SimpleNamespace, autojump_clock: object) -> None:
    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        client, transport = client_for(
            server.url, max_connections=4, max_keepalive_connections=2, keepalive_expiry=10.0
        )
        async with client:
            async with trio.open_nursery() as nursery:
                for _ in range(4):
                    nursery.start_soon(client.get, "/")
            stats = transport.statistics()
            assert stats.idle <= 2
            assert stats.open == stats.idle
            await trio.sleep(11)
            await client.get("/")  # expired connections are closed, not reused
            stats = transport.statistics()
            assert stats.open == 1
            assert stats.requests_on_reused_connections == 0


async def test_unsupported_scheme_and_bad_limits() -> None:
    transport = HafsTransport()
    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.handle_async_request(httpx.Request("GET", "ftp://example.com/"))
    with pytest.raises(ValueError, match="max_connections"):
        HafsTransport(max_connections=0)


async def test_create_http_client_uses_hafs_and_timeouts(kit: SimpleNamespace) -> None:
    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        pooled = create_pooled_client(
            base_url=server.url, max_connections=3, timeout=httpx.Timeout(5.0), trust_env=False
        )
        async with pooled.client as client:
            assert (await client.post("/x", content=b"hi")).content == b"hi"
            stats = pooled.statistics()
            assert stats is not None
            assert stats.max_connections == 3


async def test_invalid_headers_are_refused_without_echoing_values() -> None:
    transport = HafsTransport()
    secret = "sk-live-1234567890\nX-Injected: yes"
    request = httpx.Request("GET", "http://127.0.0.1:9/", headers={"authorization": secret})
    with pytest.raises(httpx.LocalProtocolError, match="authorization") as caught:
        await transport.handle_async_request(request)
    assert "sk-live" not in str(caught.value)
    assert transport.statistics().open == 0


async def test_informational_responses_are_skipped(kit: SimpleNamespace) -> None:
    async def handler(conn: object) -> None:
        while await conn.read_request() is not None:  # type: ignore[attr-defined]
            await conn.send(  # type: ignore[attr-defined]
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n"
                + kit.response_bytes(b"final")
            )

    async with kit.open_server(handler) as server:
        client, transport = client_for(server.url)
        async with client:
            for _ in range(2):
                response = await client.post("/", content=b"x")
                assert response.status_code == 200
                assert response.content == b"final"
            assert transport.statistics().connections_opened == 1
