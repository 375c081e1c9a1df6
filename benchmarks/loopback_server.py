"""A minimal OpenAI-shaped HTTP/1.1 server on raw trio sockets, for client benchmarks only.

Hand-parsed framing (the perf probe's fastest separate-process server for JSON at up to 128
connections): ``POST /v1/chat/completions`` answers a 309-byte ``chat.completion`` JSON, or,
when the body asks for ``"stream":true``, 50 ``chat.completion.chunk`` SSE events plus
``data: [DONE]`` as one chunked response written in one send (coalesced, like granian). Not a
product server: no validation beyond what the benchmark needs.

    python benchmarks/loopback_server.py --port 0 [--latency 1.0] [--cpu 0]

prints ``PORT <n>`` once listening.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import trio

_JSON_BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "mock-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the loopback server."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    },
    separators=(",", ":"),
).encode()
JSON_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    + b"content-length: %d\r\n\r\n" % len(_JSON_BODY)
    + _JSON_BODY
)


def _sse_frames(count: int = 50) -> bytes:
    frames = []
    for i in range(count):
        chunk = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "mock-model",
            "choices": [{"index": 0, "delta": {"content": f"tok{i:03d} "}, "finish_reason": None}],
        }
        event = b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
        frames.append(b"%x\r\n%s\r\n" % (len(event), event))
    done = b"data: [DONE]\n\n"
    frames.append(b"%x\r\n%s\r\n" % (len(done), done))
    frames.append(b"0\r\n\r\n")
    return b"".join(frames)


SSE_EVENTS = 51
SSE_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n" + _sse_frames()
)


def make_handler(latency: float):  # type: ignore[no-untyped-def]
    async def handle(stream: trio.SocketStream) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                while len(buf) < length:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    buf += data
                body, buf = buf[:length], buf[length:]
                if latency:
                    await trio.sleep(latency)
                streaming = b'"stream":true' in body or b'"stream": true' in body
                await stream.send_all(SSE_RESPONSE if streaming else JSON_RESPONSE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return

    return handle


async def serve(port: int, latency: float) -> None:
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1", backlog=4096)
    print(f"PORT {listeners[0].socket.getsockname()[1]}", flush=True)
    await trio.serve_listeners(make_handler(latency), listeners)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    try:
        trio.run(serve, args.port, args.latency)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
