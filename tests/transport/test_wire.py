"""The bytes the transport writes (the request head, built by hand) and the edges of the response
parser (llhttp): its bounds, typed errors, HEAD, 101, trailers and bytes after a response."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from types import SimpleNamespace
from typing import Any

import h11
import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from hafs_actors.transport import HafsTransport
from hafs_actors.transport._connection import MAX_HEAD_BYTES, encode_request

TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
names = st.text(TOKEN, min_size=1, max_size=20).filter(
    lambda n: n.lower() not in ("host", "content-length", "transfer-encoding", "connection")
)
values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)


def h11_bytes(request: httpx.Request) -> bytes:
    """What h11 (the transport's previous writer) sends for ``request``."""
    conn = h11.Connection(h11.CLIENT)
    head = h11.Request(
        method=request.method, target=request.url.raw_path, headers=request.headers.raw
    )
    data = conn.send(head) or b""
    if request.content:
        data += conn.send(h11.Data(data=request.content)) or b""
    return data + (conn.send(h11.EndOfMessage()) or b"")


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]),
    path=st.text("abcxyz/-_.~%?=&", max_size=30),
    headers=st.lists(st.tuples(names, values), max_size=8),
    body=st.binary(max_size=200),
    chunked=st.booleans(),
)
def test_request_bytes_match_h11(
    method: str, path: str, headers: list[tuple[str, str]], body: bytes, chunked: bool
) -> None:
    framing = {"transfer-encoding": "chunked"} if chunked and body else {}
    request = httpx.Request(
        method,
        "http://example.com/" + path,
        headers=[*headers, *framing.items()],
        content=body if body or method in ("POST", "PUT", "PATCH") else None,
    )
    if chunked and body:
        del request.headers["content-length"]
    assert encode_request(request, request.content).data == h11_bytes(request)


def forbidden_requests() -> list[Any]:
    url = "http://127.0.0.1:9/"
    return [
        pytest.param(
            httpx.Request("GET", url, headers={"authorization": "Bearer sk-live-1\r\nX-I: y"}),
            "authorization",
            id="crlf-in-value",
        ),
        pytest.param(
            httpx.Request("GET", url, headers={"authorization": "Bearer sk-live-1\0"}),
            "authorization",
            id="nul-in-value",
        ),
        pytest.param(
            httpx.Request("GET", url, headers={"x-a\nb": "sk-live-1"}),
            "x-a",
            id="lf-in-name",
        ),
        pytest.param(httpx.Request("GET", url, headers={"x": "sk-live-1\r"}), "'x'", id="lone-cr"),
        pytest.param(
            httpx.Request("POST", url, content=b"abc", headers={"content-length": "2"}),
            "Content-Length",
            id="short-length",
        ),
        pytest.param(
            httpx.Request("POST", url, content=b"abc", headers={"content-length": "+3"}),
            "Content-Length",
            id="signed-length",
        ),
        pytest.param(
            httpx.Request("POST", url, content=b"abc", headers={"transfer-encoding": "chunked"}),
            "both",
            id="length-and-chunked",
        ),
        pytest.param(
            httpx.Request("POST", url, content=b"abc", headers={"transfer-encoding": "gzip"}),
            "chunked",
            id="other-coding",
        ),
        pytest.param(httpx.Request("GET W", url), "request line", id="space-in-method"),
    ]


@pytest.mark.parametrize(("request_", "named"), forbidden_requests())
async def test_invalid_requests_are_refused_before_connecting(
    request_: httpx.Request, named: str
) -> None:
    transport = HafsTransport()
    with pytest.raises(httpx.LocalProtocolError, match=named) as caught:
        await transport.handle_async_request(request_)
    assert "sk-live" not in str(caught.value)
    assert caught.value.request is request_
    assert transport.statistics().connections_opened == 0


@pytest.mark.parametrize(("declared", "ok"), [(10, True), (9, False), (11, False)])
async def test_streamed_body_with_a_declared_length(
    kit: SimpleNamespace, declared: int, ok: bool
) -> None:
    async def parts() -> AsyncGenerator[bytes]:
        for piece in (b"01234", b"", b"56789"):
            yield piece

    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        transport = HafsTransport()
        async with httpx.AsyncClient(base_url=server.url, transport=transport) as client:
            headers = {"content-length": str(declared)}
            async with aclosing(parts()) as body:
                if ok:
                    response = await client.post("/", content=body, headers=headers)
                    assert response.content == b"0123456789"
                    assert server.requests[0].header(b"transfer-encoding") is None
                else:
                    with pytest.raises(httpx.LocalProtocolError, match="declared Content-Length"):
                        await client.post("/", content=body, headers=headers)
                    assert transport.statistics().open == 0


async def answer(conn: Any, reply: bytes) -> None:
    await conn.read_request()
    await conn.send(reply)
    await conn.wait_closed_by_client()


@pytest.mark.parametrize("size", [MAX_HEAD_BYTES - 200, MAX_HEAD_BYTES + 100])
async def test_response_head_size_is_bounded(kit: SimpleNamespace, size: int) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-big: " + b"a" * size + b"\r\n\r\nok"

    async with (
        kit.open_server(lambda c: answer(c, head)) as server,
        httpx.AsyncClient(base_url=server.url, transport=HafsTransport()) as client,
    ):
        if size < MAX_HEAD_BYTES:
            assert (await client.get("/")).content == b"ok"
        else:
            with pytest.raises(httpx.RemoteProtocolError, match="head larger than 65536 bytes"):
                await client.get("/")


async def test_a_head_that_never_ends_is_cut_at_the_bound(kit: SimpleNamespace) -> None:
    sent = 0

    async def endless(conn: Any) -> None:
        nonlocal sent
        await conn.read_request()
        await conn.send(b"HTTP/1.1 200 OK\r\nx-big: ")
        while True:
            await conn.send(b"a" * 4096)
            sent += 4096

    async with (
        kit.open_server(endless) as server,
        httpx.AsyncClient(base_url=server.url, transport=HafsTransport()) as client,
    ):
        with pytest.raises(httpx.RemoteProtocolError, match="head larger than"):
            await client.get("/")
    assert sent < 16 * MAX_HEAD_BYTES  # socket buffers, not the whole stream


@pytest.mark.parametrize("endless", [False, True])
async def test_trailers_are_dropped_and_bounded(kit: SimpleNamespace, endless: bool) -> None:
    async def handler(conn: Any) -> None:
        while await conn.read_request() is not None:
            await conn.send(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
                b"x-trailer: yes\r\n"
            )
            if endless:
                await conn.send(b"x-more: ")
                while True:
                    await conn.send(b"b" * 4096)
            await conn.send(b"\r\n")

    async with kit.open_server(handler) as server:
        transport = HafsTransport()
        async with httpx.AsyncClient(base_url=server.url, transport=transport) as client:
            if endless:
                with pytest.raises(httpx.RemoteProtocolError, match="trailers larger than"):
                    await client.get("/")
                assert transport.statistics().open == 0
            else:
                for _ in range(2):
                    response = await client.get("/")
                    assert response.content == b"hello"
                    assert "x-trailer" not in response.headers
                assert transport.statistics().requests_on_reused_connections == 1


async def test_switching_protocols_is_refused(kit: SimpleNamespace) -> None:
    reply = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\nconnection: upgrade\r\n\r\nxx"
    async with (
        kit.open_server(lambda c: answer(c, reply)) as server,
        httpx.AsyncClient(base_url=server.url, transport=HafsTransport()) as client,
    ):
        with pytest.raises(httpx.RemoteProtocolError, match="101"):
            await client.get("/")


async def test_bytes_after_a_head_response_prevent_reuse(kit: SimpleNamespace) -> None:
    async def handler(conn: Any) -> None:
        while (request := await conn.read_request()) is not None:
            if request.method == b"HEAD":  # a broken server sends the body anyway
                await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody")
            else:
                await conn.respond(b"get")

    async with kit.open_server(handler) as server:
        transport = HafsTransport()
        async with httpx.AsyncClient(base_url=server.url, transport=transport) as client:
            response = await client.head("/")
            assert (response.status_code, response.content) == (200, b"")
            await trio.sleep(0.05)
            assert (await client.get("/")).content == b"get"
        assert server.connections == 2


async def test_connection_close_with_bytes_after_the_body(kit: SimpleNamespace) -> None:
    reply = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nokEXTRA"
    async with kit.open_server(lambda c: answer(c, reply)) as server:
        transport = HafsTransport()
        async with httpx.AsyncClient(base_url=server.url, transport=transport) as client:
            assert (await client.get("/")).content == b"ok"
            assert transport.statistics().open == 0


async def test_head_fields_as_httpx_expects(kit: SimpleNamespace) -> None:
    reply = (
        b"HTTP/1.1 201 Created Here\r\nX-Case: Value  \r\nx-empty:\r\n"
        b"x-dup: 1\r\nx-dup: 2\r\ncontent-length: 0\r\n\r\n"
    )
    async with (
        kit.open_server(lambda c: answer(c, reply)) as server,
        httpx.AsyncClient(base_url=server.url, transport=HafsTransport()) as client,
    ):
        response = await client.get("/")
        assert response.status_code == 201
        assert response.reason_phrase == "Created Here"
        assert response.headers.raw == [
            (b"X-Case", b"Value"),
            (b"x-empty", b""),
            (b"x-dup", b"1"),
            (b"x-dup", b"2"),
            (b"content-length", b"0"),
        ]
