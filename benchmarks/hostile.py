"""Peak memory of one request against a hostile server, with the default limits.

The parent process runs a loopback server that misbehaves in one way per case; each case runs
the adapter's one call in a fresh child process, which reports its peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and the error the call ended with. The server
counts what it managed to send before the client closed. Target: every case under 200 MB.

    .venv/bin/python benchmarks/hostile.py                   # every case, project transport
    .venv/bin/python benchmarks/hostile.py --transport httpx # through httpx's own transport

Cases: a 2 GB body; a 1 MB gzip body that inflates to 1 GiB; an SSE event that never ends; an
NDJSON line that never ends; a 50 MB error body; 200 KB of ``[``; invalid UTF-8; and a normal
answer for the baseline.
"""

from __future__ import annotations

import argparse
import json
import resource
import struct
import sys
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import trio

MiB = 1 << 20
KEY = "sk-bench-hostile-000000"
OK = json.dumps({"choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}]})

Send = Callable[[bytes], Awaitable[None]]


def bomb(mib: int) -> bytes:
    """A valid gzip body of ``mib`` MiB of zeros: one independent deflate block (after a full
    flush) repeated, then an empty last block and the trailer."""
    zeros = bytes(MiB)
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    first = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    trailer = struct.pack("<II", crc, (mib * MiB) & 0xFFFFFFFF)
    return first + block * (mib - 1) + b"\x03\x00" + trailer


def head(status: int, content_type: str, length: int | None = None, extra: str = "") -> bytes:
    framing = "transfer-encoding: chunked" if length is None else f"content-length: {length}"
    return (
        f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\n{extra}{framing}\r\n\r\n".encode()
    )


async def endless(send: Send, first: bytes, piece: bytes, total: int, chunked: bool) -> None:
    sent = 0
    data = first
    while sent < total:
        await send(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
        sent += len(data)
        data = piece


async def huge_body(send: Send) -> None:
    await send(head(200, "application/json", 2 * 10**9))
    await endless(send, b'{"x": "', b"a" * 65536, 2 * 10**9, False)


async def gzip_bomb(send: Send) -> None:
    body = bomb(1024)
    await send(head(200, "application/json", len(body), "content-encoding: gzip\r\n") + body)


async def endless_sse(send: Send) -> None:
    await send(head(200, "text/event-stream"))
    await endless(send, b"data: {", b"a" * 65536, 4 * 10**9, True)


async def endless_ndjson(send: Send) -> None:
    await send(head(200, "application/x-ndjson"))
    await endless(send, b'{"message": {"content": "', b"a" * 65536, 4 * 10**9, True)


async def error_50mb(send: Send) -> None:
    await send(head(500, "text/plain", 50 * 10**6))
    await endless(send, b"x", b"x" * 65536, 50 * 10**6, False)


async def nested(send: Send) -> None:
    body = b"[" * 200_000
    await send(head(200, "application/json", len(body)) + body)


async def bad_utf8(send: Send) -> None:
    body = b'{"choices": "\xff\xfe"}'
    await send(head(200, "application/json", len(body)) + body)


async def baseline(send: Send) -> None:
    await send(head(200, "application/json", len(OK)) + OK.encode())


#: case -> (server script, adapter kind, stream?)
CASES: dict[str, tuple[Callable[[Send], Awaitable[None]], str, bool]] = {
    "baseline": (baseline, "openai", False),
    "2 GB body": (huge_body, "openai", False),
    "gzip bomb 1 MB -> 1 GiB": (gzip_bomb, "openai", False),
    "unterminated SSE event": (endless_sse, "openai", True),
    "endless NDJSON line": (endless_ndjson, "ollama", True),
    "50 MB error body": (error_50mb, "openai", False),
    "200 KB of '['": (nested, "openai", False),
    "invalid UTF-8": (bad_utf8, "openai", False),
}


async def client(case: str, url: str, transport: str) -> dict[str, Any]:
    """The child: one call, then its error and peak RSS."""
    from hafs_actors.adapters import AdapterSettings, create_adapter
    from hafs_actors.errors import ProviderError
    from hafs_actors.types import GenerateRequest

    _, kind, streamed = CASES[case]
    settings = AdapterSettings(base_url=url, api_key=KEY, default_model="m", transport=transport)
    adapter = create_adapter(kind, settings)
    request = GenerateRequest(prompt="hi", model="m")
    outcome = "ok"
    started = trio.current_time()
    try:
        if streamed:
            async with adapter.stream(request) as events:
                async for _ in events:
                    pass
        else:
            await adapter.generate(request)
    except ProviderError as exc:
        outcome = f"{type(exc).__name__}: {str(exc)[:100]}"
    finally:
        await adapter.aclose()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "case": case,
        "outcome": outcome,
        "peak_rss_mb": round(peak_kib * 1024 / 1e6, 1),
        "seconds": round(trio.current_time() - started, 2),
    }


async def run_case(case: str, transport: str) -> dict[str, Any]:
    script = CASES[case][0]
    sent = 0

    async def serve(stream: trio.SocketStream) -> None:
        nonlocal sent
        data = b""
        while b"\r\n\r\n" not in data:
            more = await stream.receive_some(65536)
            if not more:
                return
            data += more
        request_head, _, body = data.partition(b"\r\n\r\n")
        for line in request_head.lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                while len(body) < int(line.split(b":")[1]):  # read it all: no reset on close
                    body += await stream.receive_some(65536)

        async def send(data: bytes) -> None:
            nonlocal sent
            for start in range(0, len(data), 65536):  # counted as the client takes it
                piece = data[start : start + 65536]
                await stream.send_all(piece)
                sent += len(piece)

        try:
            await script(send)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, serve, 0)
        url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
        command = [sys.executable, __file__, "--child", case, "--url", url]
        command += ["--transport", transport]
        done = await trio.run_process(command, capture_stdout=True, check=True)
        nursery.cancel_scope.cancel()
    result: dict[str, Any] = json.loads(done.stdout)
    result["server_sent_mb"] = round(sent / 1e6, 1)
    return result


async def main_async(transport: str) -> None:
    print(f"transport: {transport}; target: peak RSS < 200 MB per case")
    print(f"{'case':26} {'peak RSS':>9} {'sent':>9} {'time':>6}  outcome")
    for case in CASES:
        r = await run_case(case, transport)
        print(
            f"{r['case']:26} {r['peak_rss_mb']:>6.1f} MB {r['server_sent_mb']:>6.1f} MB"
            f" {r['seconds']:>5.2f}s  {r['outcome']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="hostile servers (see module docstring)")
    parser.add_argument("--transport", choices=("hafs", "httpx"), default="hafs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(trio.run(client, args.child, args.url, args.transport)))
    else:
        trio.run(main_async, args.transport)


if __name__ == "__main__":
    main()
