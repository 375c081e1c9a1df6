"""Pool behaviour across origins: the total limit is shared, idle connections of another origin
are evicted for a newcomer, and a released connection becomes a slot for a waiter elsewhere."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import trio

from hafs_actors.transport import HafsTransport, OriginStatistics


def echo_server(kit: SimpleNamespace) -> object:
    return kit.open_server(lambda c: kit.keep_alive(c, kit.echo))


async def test_idle_connection_of_another_origin_is_evicted(kit: SimpleNamespace) -> None:
    async with echo_server(kit) as one, echo_server(kit) as two:
        transport = HafsTransport(max_connections=1)
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(one.url)
            assert transport.statistics().per_origin == {
                one.url: OriginStatistics(open=1, idle=1, in_use=0)
            }
            await client.get(two.url)
            stats = transport.statistics()
            assert stats.open == 1
            assert stats.per_origin == {two.url: OriginStatistics(open=1, idle=1, in_use=0)}
            await kit.wait_until(lambda: one.finished == 1)  # really closed


async def test_released_connection_becomes_a_slot_for_another_origin(
    kit: SimpleNamespace,
) -> None:
    async with echo_server(kit) as one, echo_server(kit) as two:
        transport = HafsTransport(max_connections=1)
        async with httpx.AsyncClient(transport=transport) as client:
            answers: list[bytes] = []

            async def other_origin() -> None:
                answers.append((await client.post(two.url, content=b"two")).content)

            async with (
                client.stream("POST", one.url, content=b"one") as held,
                trio.open_nursery() as nursery,
            ):
                nursery.start_soon(other_origin)
                await kit.wait_until(lambda: transport.statistics().waiting == 1)
                assert transport.statistics().open == 1
                await held.aread()
            assert answers == [b"two"]
            stats = transport.statistics()
            assert stats.per_origin == {two.url: OriginStatistics(open=1, idle=1, in_use=0)}
            assert stats.connections_opened == 2
        assert one.connections == two.connections == 1


async def test_lifo_reuse_keeps_the_most_recent_connection_warm(kit: SimpleNamespace) -> None:
    async with echo_server(kit) as server:
        transport = HafsTransport(max_connections=4)
        async with httpx.AsyncClient(base_url=server.url, transport=transport) as client:
            async with trio.open_nursery() as nursery:  # open four connections
                for _ in range(4):
                    nursery.start_soon(client.get, "/")
            assert transport.statistics().idle == 4
            for _ in range(10):  # sequential requests all land on the same, last-used one
                await client.get("/")
        used = [r.connection for r in server.requests[4:]]
        assert len(set(used)) == 1
