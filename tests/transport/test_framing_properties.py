"""Property tests of body framing: however the bytes are split on the wire, and however the
body is chunked, the client gets exactly the body (and the next response on the connection)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from hafs_actors.transport import HafsTransport

bodies = st.binary(max_size=3000)
framings = st.sampled_from(["content-length", "chunked", "close-delimited"])
sizes = st.lists(st.integers(1, 700), max_size=12)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (taken modulo its length)."""
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def run(scenario: Any) -> None:
    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))


@given(body=bodies, framing=framings, chunk_sizes=sizes, cuts=st.lists(st.integers(0, 10**6)))
def test_response_bodies_survive_any_split(
    kit: SimpleNamespace, body: bytes, framing: str, chunk_sizes: list[int], cuts: list[int]
) -> None:
    if framing == "close-delimited":
        wire = b"HTTP/1.1 200 OK\r\nx-a: b\r\n\r\n" + body
    else:
        wire = kit.response_bytes(
            body, chunked=framing == "chunked", chunk_sizes=chunk_sizes, headers=[("x-a", "b")]
        )
    pieces = split(wire, cuts)

    async def handler(conn: Any) -> None:
        while await conn.read_request() is not None:
            for piece in pieces:
                await conn.send(piece)
                await trio.sleep(0.01)  # each piece arrives in its own read
            if framing == "close-delimited":
                return

    async def scenario() -> None:
        async with kit.open_server(handler) as server:
            transport = HafsTransport()
            async with httpx.AsyncClient(base_url=server.url, transport=transport) as client:
                response = await client.get("/")
                assert response.headers["x-a"] == "b"
                assert response.reason_phrase == "OK"  # llhttp may hand it over in pieces
                assert response.content == body
                async with client.stream("GET", "/") as streamed:
                    received = [chunk async for chunk in streamed.aiter_raw()]
                assert b"".join(received) == body
                assert all(received)  # no empty chunks are yielded
                reused = transport.statistics().requests_on_reused_connections
                assert reused == (0 if framing == "close-delimited" else 1)

    run(scenario)


@given(parts=st.lists(st.binary(max_size=2000), max_size=8), fixed=st.booleans())
def test_request_bodies_arrive_intact(
    kit: SimpleNamespace, parts: list[bytes], fixed: bool
) -> None:
    expected = b"".join(parts)

    async def stream() -> AsyncIterator[bytes]:
        for part in parts:
            yield part
            await trio.sleep(0.01)

    async def scenario() -> None:
        async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
            async with httpx.AsyncClient(base_url=server.url, transport=HafsTransport()) as client:
                content: Any = expected if fixed else stream()
                response = await client.post("/", content=content)
                assert response.content == expected
                assert (await client.post("/", content=b"next")).content == b"next"
            (first, second) = server.requests
            assert first.body == expected
            framing = b"content-length" if fixed else b"transfer-encoding"
            assert first.header(framing) is not None
            assert second.body == b"next"

    run(scenario)
