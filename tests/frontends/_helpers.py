"""The upstream of the front-end tests: emulators served by trio in a thread of the test process.

A front end runs the orchestrator in a runtime thread of its own, so the emulators cannot share
its trio run: they get one of their own in a test thread, and the test reads their counters
through trio's portal. Being in-process also lets a test see, with psutil, whether the server
side of an upstream connection is still open: the emulator's view of a disconnect.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psutil
import trio

from hafs_actors import HafsConfig
from hafs_actors.config import RequestTimeouts, RetrySettings
from hafs_actors.testing import emulated_config
from hafs_actors.testing.emulators import (
    Emulator,
    EmulatorConfig,
    EmulatorStats,
    Fault,
    FaultPlan,
    LatencyModel,
    open_emulators,
)

__all__ = [
    "HANG",
    "EmulatorConfig",
    "Fault",
    "FaultPlan",
    "LatencyModel",
    "Upstream",
    "eventually",
    "eventually_async",
    "runtime_threads",
    "upstream",
]

T = TypeVar("T")

#: Real seconds, short enough for a test, long enough for a loaded CI machine.
TIMEOUTS = RequestTimeouts(
    request_deadline=20.0,
    attempt_timeout=20.0,
    stream_ttft_timeout=20.0,
    stream_idle_timeout=20.0,
    shutdown_grace=2.0,
)
NO_RETRIES = RetrySettings(max_retries_per_candidate=0)
#: Every request to the emulator hangs (read, never answered) until the client goes away.
HANG = EmulatorConfig(faults=FaultPlan([Fault(kind="hang")]))


class Upstream:
    """Running emulators, a configuration for them, and thread-safe looks at their state."""

    def __init__(self, emulators: Mapping[str, Emulator], token: trio.lowlevel.TrioToken) -> None:
        self.emulators = dict(emulators)
        self._token = token

    def config(self, **kwargs: Any) -> HafsConfig:
        """An orchestrator configuration routed to exactly these emulators, test timings."""
        kwargs.setdefault("timeouts", TIMEOUTS)
        kwargs.setdefault("retry", NO_RETRIES)
        return emulated_config(self.emulators, **kwargs)

    def stats(self, provider: str = "openai") -> EmulatorStats:
        stats: EmulatorStats = self._in_emulators(self.emulators[provider].stats)
        return stats

    def hung(self, provider: str = "openai") -> int:
        """Requests the emulator read and is holding without an answer (``hang`` faults)."""
        return self.stats(provider).count(status=0)

    def open_connections(self, provider: str = "openai") -> int:
        """Server-side sockets of the emulator still open: 0 once it saw every client go."""
        port = self.emulators[provider].port
        return sum(
            1
            for c in psutil.Process().net_connections("tcp")
            # TIME_WAIT and FIN_WAIT belong to a socket the emulator has closed already
            if c.laddr
            and c.laddr.port == port
            and c.status in (psutil.CONN_ESTABLISHED, psutil.CONN_CLOSE_WAIT)
        )

    def _in_emulators(self, fn: Callable[[], T]) -> T:
        return trio.from_thread.run_sync(fn, trio_token=self._token)


@contextmanager
def upstream(
    providers: Sequence[str] = ("openai",),
    *,
    configs: Mapping[str, EmulatorConfig] | None = None,
    config: EmulatorConfig | None = None,
) -> Iterator[Upstream]:
    """Emulators for ``providers`` in a trio run of their own thread, for the block."""
    started = threading.Event()
    box: list[Upstream | BaseException] = []
    stop = trio.Event()

    async def serve() -> None:
        async with open_emulators(providers, configs=configs, config=config) as emulators:
            box.append(Upstream(emulators, trio.lowlevel.current_trio_token()))
            started.set()
            await stop.wait()

    def main() -> None:
        try:
            trio.run(serve)
        except BaseException as exc:
            box.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=main, name="test-emulators")
    thread.start()
    started.wait()
    up = box[0]
    if isinstance(up, BaseException):
        thread.join()
        raise up
    try:
        yield up
    finally:
        trio.from_thread.run_sync(stop.set, trio_token=up._token)
        thread.join()


def eventually(check: Callable[[], bool], *, within: float = 2.0) -> bool:
    """Poll ``check`` until it holds or ``within`` real seconds pass (a bounded wait for
    something another thread or process does)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


async def eventually_async(check: Callable[[], bool], *, within: float = 2.0) -> bool:
    """:func:`eventually` for a test running on an asyncio loop (it must not block it)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def runtime_threads() -> list[threading.Thread]:
    """The front ends' runtime threads still alive (none once every orchestrator closed)."""
    return [t for t in threading.enumerate() if t.name == "hafs-runtime"]
