"""The FastAPI example of docs/frontends.md, as written, served by uvicorn on loopback.

The code block is read from the document and run, so the document and this test cannot drift
apart. 200 concurrent HTTP clients; a client that disconnects mid-stream must cancel the
upstream request (the emulator sees its connection close).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from ._helpers import (
    HANG,
    EmulatorConfig,
    LatencyModel,
    eventually_async,
    runtime_threads,
    upstream,
)

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

DOC = Path(__file__).resolve().parents[2] / "docs" / "frontends.md"
CLIENTS = 200
#: Each request waits this long upstream, so that the clients' requests overlap.
UPSTREAM_LATENCY = 1.0
#: One TLS context for all clients (the app is plain HTTP; each client would load the CA file).
TLS = ssl.create_default_context()


def example_app_factory() -> Callable[..., Any]:
    """``create_app`` from the document's FastAPI block, run as a module would run it."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- example: fastapi .*?-->\n```python\n(.*?)```", text, re.DOTALL)
    assert match, "docs/frontends.md lost its FastAPI example block"
    namespace: dict[str, Any] = {"__name__": "frontends_fastapi_example"}
    exec(compile(match.group(1), f"{DOC}:fastapi-example", "exec"), namespace)
    factory: Callable[..., Any] = namespace["create_app"]
    return factory


@asynccontextmanager
async def serving(app: Any, loop: str) -> AsyncIterator[str]:
    """``app`` under uvicorn on a free loopback port, lifespan included; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="on", loop=loop, ws="none", log_level="warning", backlog=4096
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        assert await eventually_async(lambda: server.started, within=10.0)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def run_on(loop: str, main: Callable[[], Any]) -> None:
    before = set(threading.enumerate())
    if loop == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        uvloop.run(main())
    else:
        asyncio.run(main())
    assert runtime_threads() == []
    assert set(threading.enumerate()) <= before


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_fastapi_app_serves_200_concurrent_clients(loop: str) -> None:
    slow = EmulatorConfig(latency=LatencyModel(ttft_median=UPSTREAM_LATENCY))
    with upstream(config=slow) as up:
        app = example_app_factory()(config=up.config())

        ready = asyncio.Semaphore(0)
        go = asyncio.Event()

        async def one_client(url: str, index: int) -> dict[str, Any]:
            async with httpx.AsyncClient(base_url=url, timeout=30.0, verify=TLS) as client:
                await client.get("/openapi.json")  # connected before the requests start
                ready.release()
                await go.wait()  # all clients connected first: their requests overlap upstream
                response = await client.post("/generate", json={"prompt": f"client {index}"})
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()
                return body

        async def main() -> None:
            async with serving(app, loop) as url:
                peak = 0
                clients = asyncio.gather(*(one_client(url, i) for i in range(CLIENTS)))
                for _ in range(CLIENTS):
                    await ready.acquire()
                go.set()
                while not clients.done():  # sample how many requests the runtime holds at once
                    peak = max(peak, (await app.state.orch.status()).router.in_flight)
                    await asyncio.wait([clients], timeout=0.02)
                answers = await clients
                async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
                    streamed = await client.get("/stream", params={"prompt": "a story"})
            assert [a["provider"] for a in answers] == ["openai"] * CLIENTS
            assert all(a["content"] for a in answers)
            assert peak >= 100, f"only {peak} requests were in flight at once"
            assert streamed.status_code == 200
            assert streamed.text

        run_on(loop, main)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_client_disconnect_cancels_the_upstream_request(loop: str) -> None:
    with upstream(config=HANG) as up:
        app = example_app_factory()(config=up.config())

        async def main() -> None:
            async with serving(app, loop) as url:
                client = httpx.AsyncClient(base_url=url, timeout=30.0)
                async with client.stream("GET", "/stream", params={"prompt": "hangs"}) as reply:
                    assert reply.status_code == 200
                    assert await eventually_async(lambda: up.hung() == 1, within=5.0)
                    assert up.open_connections() == 1
                await client.aclose()  # the client goes away mid-stream
                assert await eventually_async(lambda: up.open_connections() == 0, within=2.0)
                assert (await app.state.orch.status()).router.in_flight == 0

        run_on(loop, main)
