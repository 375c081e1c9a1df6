"""The in-process HTTP/1.1 server on raw trio sockets: framing, keep-alive, limits, disconnects."""

from __future__ import annotations

import json

import trio

from hafs_actors.testing.emulators import EmulatorConfig, LatencyModel, open_emulator


async def _read_all(stream: trio.SocketStream) -> bytes:
    """Everything until the server closes; the client socket is closed too."""
    data = b""
    async with stream:
        while chunk := await stream.receive_some(65536):
            data += chunk
    return data


def _post(path: str, body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"POST %s HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n%s\r\n%s" % (path.encode(), len(body), extra, body)
    )


TAGS = b"GET /api/tags HTTP/1.1\r\nhost: x\r\n\r\n"


async def test_pipelined_requests_are_answered_in_order() -> None:
    embed = json.dumps({"model": "all-minilm", "input": "x"}).encode()
    async with open_emulator("ollama") as emu:
        stream = await trio.open_tcp_stream("127.0.0.1", emu.port)
        last = b"GET /api/version HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        await stream.send_all(TAGS + _post("/api/embed", embed) + last)
        data = await _read_all(stream)
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 3
    first, second, third = (
        data.index(b'{"models"'),
        data.index(b'{"model":"all-minilm"'),
        data.index(b'{"version"'),
    )
    assert first < second < third
    assert b"connection: close\r\n" in data  # only on the last answer
    assert emu.stats().connections == 1


async def test_http_1_0_closes_and_head_sends_no_body() -> None:
    async with open_emulator("ollama") as emu:
        stream = await trio.open_tcp_stream("127.0.0.1", emu.port)
        await stream.send_all(b"HEAD / HTTP/1.0\r\n\r\n")
        data = await _read_all(stream)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"content-length: 17" in head  # len("Ollama is running")
    assert body == b""


async def test_garbage_and_oversized_requests() -> None:
    config = EmulatorConfig(max_body_bytes=100)
    async with open_emulator("ollama", config=config) as emu:
        garbage = await trio.open_tcp_stream("127.0.0.1", emu.port)
        await garbage.send_all(b"NOT HTTP AT ALL\r\n\r\n")
        bad = await _read_all(garbage)
        big = await trio.open_tcp_stream("127.0.0.1", emu.port)
        await big.send_all(_post("/api/embed", b"x" * 500))
        too_large = await _read_all(big)
        ok = await trio.open_tcp_stream("127.0.0.1", emu.port)
        await ok.send_all(TAGS.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n"))
        still_serving = await _read_all(ok)
    assert bad.startswith(b"HTTP/1.1 400 ")
    assert too_large.startswith(b"HTTP/1.1 413 ")
    assert still_serving.startswith(b"HTTP/1.1 200 ")


async def test_expect_100_continue() -> None:
    body = json.dumps({"model": "llama3.2", "prompt": "hi", "stream": False}).encode()
    async with open_emulator("ollama") as emu:
        stream = await trio.open_tcp_stream("127.0.0.1", emu.port)
        head = _post("/api/generate", b"", b"expect: 100-continue\r\nconnection: close\r\n")
        head = head.replace(b"content-length: 0", b"content-length: %d" % len(body))
        await stream.send_all(head)
        interim = await stream.receive_some(65536)
        await stream.send_all(body)
        rest = await _read_all(stream)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert rest.startswith(b"HTTP/1.1 200 OK")
    assert b'"done":true' in rest


async def test_a_client_leaving_mid_stream_does_not_disturb_the_server(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = EmulatorConfig(latency=LatencyModel(ttft_median=0.1, tokens_per_second=10.0))
    body = json.dumps({"model": "llama3.2", "prompt": "hi"}).encode()
    async with open_emulator("ollama", config=config) as emu:
        leaver = await trio.open_tcp_stream("127.0.0.1", emu.port)
        await leaver.send_all(_post("/api/generate", body))
        assert (await leaver.receive_some(65536)).startswith(b"HTTP/1.1 200 OK")
        await leaver.aclose()
        await trio.sleep(10)  # the server keeps pacing into a closed socket, then gives up
        stream = await trio.open_tcp_stream("127.0.0.1", emu.port)
        await stream.send_all(TAGS.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n"))
        data = await _read_all(stream)
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert emu.stats().count("generate", 200) == 1
