"""The emulator as a granian RSGI application, for benchmark runs in a separate process.

granian (an optional, benchmark-only dependency: the ``bench`` extra) does HTTP in Rust and
coalesces writes, which docs/benchmarks.md measured as the fastest standalone server for SSE. It
runs applications on an asyncio loop, so this module (and only this module) uses asyncio, and
only inside that separate process: the same :class:`EmulatorCore` decides every answer, and the
plan's delays are slept with the loop's own clock.

Run by ``hafs emulate --server granian``: ``python -m hafs_actors.testing.emulators.rsgi
--provider P --host H --port N`` with the :class:`LaunchSpec` in ``HAFS_EMULATOR_SPEC``.
SIGHUP makes granian restart its worker, which re-reads the fault file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from .core import EmulatorCore
from .launch import SPEC_ENV, LaunchSpec
from .profiles import PROVIDERS
from .wire import HttpRequest

__all__ = ["RSGIEmulator", "app_from_env", "main"]


class RSGIEmulator:
    """An RSGI app serving one :class:`EmulatorCore`."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        body = await protocol()
        request = HttpRequest(
            method=scope.method,
            path=unquote(scope.path),
            query=scope.query_string,
            headers={name.lower(): value for name, value in scope.headers.items()},
            body=body,
        )
        reply = self.core.handle(request, time.monotonic())
        if reply.ending == "hang":
            await protocol.client_disconnect()
            return
        if reply.delay > 0:
            await asyncio.sleep(reply.delay)
        headers = list(reply.headers)
        pieces = reply.pieces
        if reply.ending == "complete" and not reply.chunked and all(p.delay == 0 for p in pieces):
            protocol.response_bytes(reply.status, headers, reply.body)
            return
        if not reply.chunked or reply.ending == "drop":
            # A declared length longer than what is sent makes granian cut the connection, which
            # is the only way an RSGI app can (a failing stream is ended cleanly instead).
            length = reply.content_length
            if length is None:
                length = sum(len(p.data) for p in pieces) + (1 if reply.ending == "drop" else 0)
            headers.append(("content-length", str(length)))
        transport = protocol.response_stream(reply.status, headers)
        for piece in pieces:
            if piece.delay > 0:
                await asyncio.sleep(piece.delay)
            if piece.data:
                await transport.send_bytes(piece.data)


def app_from_env() -> RSGIEmulator:
    """granian's factory target: build the app from ``HAFS_EMULATOR_SPEC`` and the provider."""
    spec = LaunchSpec.from_json(os.environ[SPEC_ENV])
    provider = os.environ["HAFS_EMULATOR_PROVIDER"]
    return RSGIEmulator(EmulatorCore(provider, spec.config(), now=time.monotonic()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hafs_actors.testing.emulators.rsgi")
    parser.add_argument("--provider", required=True, choices=PROVIDERS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if SPEC_ENV not in os.environ:
        os.environ[SPEC_ENV] = LaunchSpec().to_json()
    os.environ["HAFS_EMULATOR_PROVIDER"] = args.provider
    from granian.constants import Interfaces
    from granian.server import Server

    server = Server(
        "hafs_actors.testing.emulators.rsgi:app_from_env",
        address=args.host,
        port=args.port,
        interface=Interfaces.RSGI,
        workers=1,
        runtime_threads=1,
        websockets=False,
        backlog=4096,
        factory=True,
        log_level="warning",  # type: ignore[arg-type]
    )
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
