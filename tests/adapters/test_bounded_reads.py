"""Bounded reads against hostile servers on real loopback sockets, on both transports: a huge
body, a gzip bomb, an unterminated SSE event, a huge NDJSON line, a huge error body, absurdly
nested JSON and invalid UTF-8 each end as a typed error of the request, and the read stops
early (the server counts what it managed to send before the client closed)."""

from __future__ import annotations

import json
import struct
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from typing import Any

import pytest
import trio

from hafs_actors.adapters import AdapterSettings, OllamaAdapter, OpenAIAdapter
from hafs_actors.adapters.http import HttpAdapter
from hafs_actors.errors import (
    BadRequestError,
    OverloadedError,
    ProtocolError,
    ResponseTooLarge,
    ServerError,
    StreamInterruptedError,
)
from hafs_actors.types import GenerateRequest, Message, TextDelta

KEY = "sk-test-SECRETKEY0123456789"
REQ = GenerateRequest(model="m", messages=(Message(role="user", content="Hi"),), max_tokens=5)
MiB = 1 << 20
#: What loopback socket buffers can hold between the server's writes and the client's reads:
#: a server that sent less than this plus the limit was stopped early.
BUFFERS = 24 * MiB
COMPLETION = json.dumps(
    {"choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}]}
).encode()

Send = Callable[[bytes], Awaitable[None]]
Script = Callable[[Send], Awaitable[None]]


class Hostile:
    """A one-script HTTP server: reads a request, then runs the script, counting the bytes
    it managed to send before the client went away."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.sent = 0
        self.url = ""

    async def serve(self, stream: trio.SocketStream) -> None:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            data = await stream.receive_some(65536)
            if not data:
                return
            buffer += data
        head, _, body = buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += await stream.receive_some(65536)

        async def send(data: bytes) -> None:
            await stream.send_all(data)
            self.sent += len(data)

        try:
            await self.script(send)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client closed: what we wanted to see
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()


async def serve_tcp(
    handler: Callable[[trio.SocketStream], Awaitable[None]],
    *,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    await trio.serve_tcp(handler, 0, host="127.0.0.1", task_status=task_status)


@pytest.fixture
async def serve(nursery: trio.Nursery) -> Callable[[Script], Awaitable[Hostile]]:
    async def start(script: Script) -> Hostile:
        server = Hostile(script)
        listeners = await nursery.start(serve_tcp, server.serve)
        server.url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
        return server

    return start


@pytest.fixture(params=["hafs", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def adapters() -> AsyncIterator[list[HttpAdapter]]:
    made: list[HttpAdapter] = []
    yield made
    for adapter in made:
        await adapter.aclose()


def make(
    made: list[HttpAdapter], cls: type[HttpAdapter], server: Hostile, transport: str, **kw: Any
) -> Any:
    settings = AdapterSettings(
        base_url=server.url, api_key=KEY, transport=transport, default_model="m", **kw
    )
    adapter = cls(settings, provider=cls.__name__)
    made.append(adapter)
    return adapter


def head(status: int = 200, *, length: int | None = None, **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    lines.append("transfer-encoding: chunked" if length is None else f"content-length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def framed(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def respond(status: int, body: bytes, **headers: str) -> Script:
    async def script(send: Send) -> None:
        await send(head(status, length=len(body), **headers) + body)

    return script


def endless(status: int, first: bytes, piece: bytes, *, total: int = 1 << 30, **hd: str) -> Script:
    """A body announced as ``total`` bytes (or chunked when streamed) that starts with ``first``
    and repeats ``piece``: sent until the client closes (or ``total``, for a failing test)."""

    async def script(send: Send) -> None:
        chunked = "content_type" in hd and hd["content_type"] != "application/json"
        await send(head(status, length=None if chunked else total, **hd))
        sent = 0
        data = first
        while sent < total:
            await send(framed(data) if chunked else data)
            sent += len(data)
            data = piece

    return script


async def stream_texts(adapter: Any) -> list[str]:
    async with adapter.stream(REQ) as events:
        return [event.text async for event in events if isinstance(event, TextDelta)]


# --- sizes ------------------------------------------------------------------------------------


async def test_huge_body_stops_at_max_response_bytes(
    serve: Any, adapters: Any, transport: str
) -> None:
    server = await serve(endless(200, b'{"x": "', b"a" * 65536, content_type="application/json"))
    adapter = make(adapters, OpenAIAdapter, server, transport, max_response_bytes=MiB)
    with pytest.raises(ResponseTooLarge) as caught:
        await adapter.generate(REQ)
    error = caught.value
    assert (error.setting, error.limit, error.retryable) == ("max_response_bytes", MiB, False)
    assert "max_response_bytes" in str(error)
    assert "1048576" in str(error)
    await trio.sleep(0.05)
    assert server.sent < MiB + BUFFERS  # of the 1 GiB announced


@cache
def bomb(mib: int) -> bytes:
    """A valid gzip body of ``mib`` MiB of zeros, about a thousandth of that long: one
    independent deflate block (after a full flush) repeated, then the gzip trailer."""
    zeros = bytes(MiB)
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    first = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    final = b"\x03\x00"  # an empty last block
    return first + block * (mib - 1) + final + struct.pack("<II", crc, (mib * MiB) & 0xFFFFFFFF)


async def test_gzip_bomb_is_inflated_only_up_to_the_limit(
    serve: Any, adapters: Any, transport: str
) -> None:
    body = bomb(512)
    assert len(body) < MiB
    assert len(zlib.decompress(bomb(2), wbits=31)) == 2 * MiB  # a real gzip body
    server = await serve(respond(200, body, content_encoding="gzip"))
    adapter = make(adapters, OpenAIAdapter, server, transport, max_response_bytes=4 * MiB)
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge, match="max_response_bytes"):
            await adapter.generate(REQ)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * MiB  # decoded pieces counted as produced, not 512 MiB inflated


async def test_gzip_and_deflate_bodies_are_decoded(
    serve: Any, adapters: Any, transport: str
) -> None:
    gzipped = zlib.compressobj(wbits=zlib.MAX_WBITS | 16)
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    for encoding, body in (
        ("gzip", gzipped.compress(COMPLETION) + gzipped.flush()),
        ("deflate", zlib.compress(COMPLETION)),
        ("deflate", raw.compress(COMPLETION) + raw.flush()),  # raw deflate, no zlib header
    ):
        server = await serve(respond(200, body, content_encoding=encoding))
        adapter = make(adapters, OpenAIAdapter, server, transport)
        assert (await adapter.generate(REQ)).content == "ok"


async def test_unasked_content_encoding_is_a_protocol_error(
    serve: Any, adapters: Any, transport: str
) -> None:
    server = await serve(respond(200, b"\x0b\x02\x80ok\x03", content_encoding="br"))
    adapter = make(adapters, OpenAIAdapter, server, transport)
    with pytest.raises(ProtocolError, match="content-encoding 'br'"):
        await adapter.generate(REQ)


async def test_unterminated_sse_event_stops_at_max_event_bytes(
    serve: Any, adapters: Any, transport: str
) -> None:
    server = await serve(endless(200, b"data: {", b"a" * 65536, content_type="text/event-stream"))
    adapter = make(adapters, OpenAIAdapter, server, transport, max_event_bytes=MiB)
    with pytest.raises(ResponseTooLarge) as caught:
        await stream_texts(adapter)
    assert caught.value.setting == "max_event_bytes"
    assert "stream event" in str(caught.value)
    await trio.sleep(0.05)
    assert server.sent < MiB + BUFFERS


async def test_events_after_output_then_a_huge_event(
    serve: Any, adapters: Any, transport: str
) -> None:
    """Complete events before the oversized one are delivered; the failure then carries them
    (StreamInterruptedError, as any failure after output), caused by ResponseTooLarge."""
    first = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\ndata: {'
    server = await serve(endless(200, first, b"a" * 65536, content_type="text/event-stream"))
    adapter = make(adapters, OpenAIAdapter, server, transport, max_event_bytes=MiB)
    seen: list[str] = []

    async def read() -> None:
        async with adapter.stream(REQ) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    seen.append(event.text)

    with pytest.raises(StreamInterruptedError) as caught:
        await read()
    assert seen == ["hi"]
    assert caught.value.partial_text == "hi"
    assert isinstance(caught.value.cause, ResponseTooLarge)


async def test_many_small_events_pass_the_event_limit(
    serve: Any, adapters: Any, transport: str
) -> None:
    event = b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\r\n\r\n'
    done = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'

    async def script(send: Send) -> None:
        await send(head(200, content_type="text/event-stream"))
        for _ in range(64):
            await send(framed(event * 50))
        await send(framed(done) + b"0\r\n\r\n")

    server = await serve(script)
    adapter = make(adapters, OpenAIAdapter, server, transport, max_event_bytes=len(event) * 2)
    assert "".join(await stream_texts(adapter)) == "x" * 64 * 50


async def test_huge_ndjson_line_stops_at_max_event_bytes(
    serve: Any, adapters: Any, transport: str
) -> None:
    server = await serve(
        endless(200, b'{"message":{"content":"', b"a" * 65536, content_type="application/x-ndjson")
    )
    adapter = make(adapters, OllamaAdapter, server, transport, max_event_bytes=MiB)
    with pytest.raises(ResponseTooLarge) as caught:
        await stream_texts(adapter)
    assert caught.value.setting == "max_event_bytes"
    assert "stream line" in str(caught.value)
    await trio.sleep(0.05)
    assert server.sent < MiB + BUFFERS


async def test_50_mb_error_body_is_cut_and_not_read_whole(
    serve: Any, adapters: Any, transport: str
) -> None:
    server = await serve(endless(500, b"x", b"x" * 65536, total=50 * 10**6))
    adapter = make(adapters, OpenAIAdapter, server, transport)
    with trio.fail_after(5):
        with pytest.raises(ServerError) as caught:
            await adapter.generate(REQ)
    assert caught.value.status == 500
    assert len(str(caught.value)) < 4608
    await trio.sleep(0.05)
    assert server.sent < 64 * 1024 + BUFFERS  # max_error_bytes read, then the socket closed


async def test_long_error_message_is_cut_and_marked(
    serve: Any, adapters: Any, transport: str
) -> None:
    body = json.dumps({"error": {"message": "y" * 50_000, "type": "server_error"}}).encode()
    server = await serve(respond(500, body, content_type="application/json"))
    adapter = make(adapters, OpenAIAdapter, server, transport)
    with pytest.raises(ServerError) as caught:
        await adapter.generate(REQ)
    message = caught.value.message
    assert message.endswith("... [cut: 50014 characters]")
    assert len(message) < 4200


async def test_error_body_on_a_stream_is_bounded_too(
    serve: Any, adapters: Any, transport: str
) -> None:
    server = await serve(endless(503, b"z", b"z" * 65536, total=50 * 10**6))
    adapter = make(adapters, OpenAIAdapter, server, transport)
    with pytest.raises(OverloadedError) as caught:  # 503 without an envelope
        await stream_texts(adapter)
    assert len(str(caught.value)) < 4608
    await trio.sleep(0.05)
    assert server.sent < 64 * 1024 + BUFFERS


# --- bodies that do not parse -----------------------------------------------------------------

NESTED = b"[" * 200_000


async def test_deeply_nested_body_is_a_protocol_error(
    serve: Any, adapters: Any, transport: str
) -> None:
    server = await serve(respond(200, NESTED, content_type="application/json"))
    adapter = make(adapters, OpenAIAdapter, server, transport)
    with pytest.raises(ProtocolError, match="nested too deeply"):
        await adapter.generate(REQ)


async def test_deeply_nested_error_body_is_the_status_error(
    serve: Any, adapters: Any, transport: str
) -> None:
    server = await serve(respond(400, NESTED, content_type="application/json"))
    adapter = make(adapters, OpenAIAdapter, server, transport)
    with pytest.raises(BadRequestError, match="nested too deeply"):
        await adapter.generate(REQ)


async def test_deeply_nested_sse_event_is_a_protocol_error(
    serve: Any, adapters: Any, transport: str
) -> None:
    body = b"data: " + NESTED + b"\n\n"
    server = await serve(respond(200, body, content_type="text/event-stream"))
    adapter = make(adapters, OpenAIAdapter, server, transport)
    with pytest.raises(ProtocolError, match="malformed JSON"):
        await stream_texts(adapter)


async def test_deeply_nested_ndjson_line_is_a_protocol_error(
    serve: Any, adapters: Any, transport: str
) -> None:
    server = await serve(respond(200, NESTED + b"\n", content_type="application/x-ndjson"))
    adapter = make(adapters, OllamaAdapter, server, transport)
    with pytest.raises(ProtocolError, match="nested too deeply"):
        await stream_texts(adapter)


async def test_deeply_nested_tool_arguments_are_a_protocol_error(
    serve: Any, adapters: Any, transport: str
) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[" * 100_000}}
    body = json.dumps(
        {"choices": [{"index": 0, "message": {"tool_calls": [call]}, "finish_reason": "tool"}]}
    ).encode()
    server = await serve(respond(200, body, content_type="application/json"))
    adapter = make(adapters, OpenAIAdapter, server, transport)
    with pytest.raises(ProtocolError, match="not valid JSON"):
        await adapter.generate(REQ)


async def test_invalid_utf8_is_a_protocol_error(serve: Any, adapters: Any, transport: str) -> None:
    server = await serve(respond(200, b'{"a": "\xff\xfe"}', content_type="application/json"))
    adapter = make(adapters, OpenAIAdapter, server, transport)
    with pytest.raises(ProtocolError, match="not JSON"):
        await adapter.generate(REQ)
    body = b'data: {"choices": [{"delta": {"content": "\xff"}}]}\n\n'
    server = await serve(respond(200, body, content_type="text/event-stream"))
    adapter = make(adapters, OpenAIAdapter, server, transport)
    with pytest.raises(ProtocolError, match="UTF-8"):
        await stream_texts(adapter)
    server = await serve(respond(200, b'{"message": "\xff"}\n', content_type="x-ndjson"))
    adapter = make(adapters, OllamaAdapter, server, transport)
    with pytest.raises(ProtocolError, match="malformed JSON"):
        await stream_texts(adapter)
