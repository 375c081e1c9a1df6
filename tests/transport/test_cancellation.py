"""Cancellation at any point discards the connection and frees its pool slot; the pool never
exceeds its limits and never leaks or reuses a half-read connection."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from functools import partial
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from hafs_actors.transport import HafsTransport


def make_client(url: str, **kwargs: Any) -> tuple[httpx.AsyncClient, HafsTransport]:
    transport = HafsTransport(**kwargs)
    return httpx.AsyncClient(base_url=url, transport=transport, timeout=None), transport


def body_for(target: bytes) -> bytes:
    return target * 50


async def drip_handler(conn: Any, gaps: tuple[float, ...] = (0.5, 0.5)) -> None:
    """Keep-alive; each answer's body is sent in pieces separated by ``gaps`` seconds."""
    while (request := await conn.read_request()) is not None:
        body = body_for(request.target)
        await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body))
        step = math.ceil(len(body) / (len(gaps) + 1))
        for index in range(len(gaps) + 1):
            if index:
                await trio.sleep(gaps[index - 1])
            await conn.send(body[index * step : (index + 1) * step])


async def test_cancelled_while_connecting(kit: SimpleNamespace, autojump_clock: Any) -> None:
    async def silent(conn: Any) -> None:
        await trio.sleep(100)

    async with kit.open_server(silent) as server:
        client, transport = make_client(f"https://127.0.0.1:{server.port}", verify=False)
        async with client:
            with trio.move_on_after(1) as scope:
                await client.get("/")
            assert scope.cancelled_caught
            assert transport.statistics().open == 0


async def test_cancelled_while_waiting_for_the_head(
    kit: SimpleNamespace, autojump_clock: Any
) -> None:
    async def slow(conn: Any) -> None:
        await conn.read_request()
        await conn.wait_closed_by_client()  # never answers

    async with kit.open_server(slow) as server:
        client, transport = make_client(server.url)
        async with client:
            with trio.move_on_after(1):
                await client.get("/")
            stats = transport.statistics()
            assert (stats.open, stats.in_use, stats.idle) == (0, 0, 0)
            await kit.wait_until(lambda: server.finished == 1)  # the socket really closed


async def test_cancelled_mid_body_is_never_reused(
    kit: SimpleNamespace, autojump_clock: Any
) -> None:
    async with kit.open_server(drip_handler) as server:
        client, transport = make_client(server.url)
        async with client:
            with trio.move_on_after(0.7):
                async with client.stream("GET", "/a") as response:
                    async for _ in response.aiter_bytes():
                        pass
            assert transport.statistics().open == 0
            response = await client.get("/b")
            assert response.content == body_for(b"/b")
            assert server.connections == 2


async def test_early_close_discards_the_connection(
    kit: SimpleNamespace, autojump_clock: Any
) -> None:
    async with kit.open_server(drip_handler) as server:
        client, transport = make_client(server.url)
        async with client:
            async with client.stream("GET", "/a") as response:
                assert response.status_code == 200  # closed before reading the body
            assert transport.statistics().open == 0
            assert (await client.get("/b")).content == body_for(b"/b")
            assert server.connections == 2


async def test_cancelled_while_uploading(kit: SimpleNamespace, autojump_clock: Any) -> None:
    async def slow_body() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"piece"
            await trio.sleep(1)

    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        client, transport = make_client(server.url)
        async with client:
            with trio.move_on_after(3.5):
                await client.post("/", content=slow_body())
            assert transport.statistics().open == 0
            assert (await client.post("/", content=b"next")).content == b"next"
        assert [r.body for r in server.requests] == [b"next"]


async def test_cancelled_while_queued_for_the_pool(kit: SimpleNamespace) -> None:
    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        client, transport = make_client(server.url, max_connections=1)
        async with client:
            async with client.stream("GET", "/held") as held:
                with trio.move_on_after(0.05):
                    await client.get("/queued")
                assert transport.statistics().waiting == 0
                await held.aread()
            assert (await client.get("/next")).status_code == 200
            stats = transport.statistics()
            assert (stats.open, stats.idle, stats.connections_opened) == (1, 1, 1)
        assert [r.target for r in server.requests] == [b"/held", b"/next"]


@given(
    limit=st.integers(1, 4),
    plans=st.lists(
        st.tuples(
            st.sampled_from(["get", "stream", "upload", "early-close"]),
            st.one_of(st.none(), st.floats(0.0, 3.0)),
        ),
        min_size=1,
        max_size=10,
    ),
    gaps=st.tuples(*[st.sampled_from([0.0, 0.1, 0.5, 1.0])] * 2),
)
def test_random_cancellation_never_leaks(
    kit: SimpleNamespace,
    limit: int,
    plans: list[tuple[str, float | None]],
    gaps: tuple[float, float],
) -> None:
    async def scenario() -> None:
        async with kit.open_server(lambda conn: drip_handler(conn, gaps)) as server:
            client, transport = make_client(server.url, max_connections=limit)
            peak = 0

            async def watch() -> None:
                nonlocal peak
                while True:
                    stats = transport.statistics()
                    assert stats.open <= limit
                    assert stats.idle <= stats.open
                    peak = max(peak, stats.open)
                    await trio.sleep(0.05)

            async def upload() -> AsyncIterator[bytes]:
                yield b"up"
                await trio.sleep(0.3)
                yield b"load"

            async def one(index: int, kind: str, cancel_after: float | None) -> None:
                target = f"/{index}".encode()
                with trio.move_on_after(math.inf if cancel_after is None else cancel_after):
                    if kind == "get":
                        response = await client.get(target.decode())
                        assert response.content == body_for(target)
                    elif kind == "upload":
                        response = await client.post(target.decode(), content=upload())
                        assert response.content == body_for(target)
                    elif kind == "early-close":
                        async with client.stream("GET", target.decode()) as response:
                            assert response.status_code == 200  # leave with the body unread
                    else:
                        async with client.stream("GET", target.decode()) as response:
                            received = b""
                            async for chunk in response.aiter_raw():
                                received += chunk
                            assert received == body_for(target)

            async with client:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(watch)
                    async with trio.open_nursery() as requests:
                        for index, (kind, cancel_after) in enumerate(plans):
                            requests.start_soon(one, index, kind, cancel_after)
                    nursery.cancel_scope.cancel()
                stats = transport.statistics()
                assert stats.in_use == 0
                assert stats.waiting == 0
                assert stats.open == stats.idle <= limit
                # Whatever was reused must be clean: every answer matches its own request.
                for j in range(limit + 1):
                    target = f"/after{j}"
                    assert (await client.get(target)).content == body_for(target.encode())
            assert transport.statistics().open == 0
            assert peak <= limit
            await kit.wait_until(lambda: server.finished == server.connections)

    async def guarded() -> None:
        with trio.fail_after(600):  # virtual time: a deadlock fails instead of hanging
            await scenario()

    trio.run(guarded, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.parametrize("limit", [1, 3])
async def test_many_concurrent_requests_respect_the_limit(kit: SimpleNamespace, limit: int) -> None:
    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        client, _transport = make_client(server.url, max_connections=limit)
        async with client, trio.open_nursery() as nursery:
            for i in range(50):
                nursery.start_soon(partial(client.post, "/", content=b"%d" % i))
        assert server.connections == limit
        assert len(server.requests) == 50


async def test_an_already_cancelled_caller_sends_nothing(kit: SimpleNamespace) -> None:
    async with kit.open_server(lambda c: kit.keep_alive(c, kit.echo)) as server:
        client, transport = make_client(server.url)
        async with client:
            await client.post("/", content=b"warm")  # leaves an idle connection
            with trio.CancelScope() as scope:
                scope.cancel()
                await client.post("/", content=b"never sent")
            await client.post("/", content=b"after")
            assert transport.statistics().connections_opened == 1
        assert [r.body for r in server.requests] == [b"warm", b"after"]
