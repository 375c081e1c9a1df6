"""A scripted actor for the actor tests."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from hafs_actors.actors import Actor, Envelope
from hafs_actors.errors import BadRequestError


class Scripted(Actor[tuple[Any, ...], Any]):
    """Messages are tuples; the first item says what to do.

    ``("echo", x)`` replies x inline; ``("work", seconds, value)`` spawns work that sleeps, then
    replies value; ``("crash",)`` raises in receive; ``("crash_later", seconds)`` spawns work
    that raises after a while; ``("reject",)`` spawns work raising a HafsError; ``("hold",)``
    keeps the envelope unanswered; ``("gate",)`` blocks the receive loop until ``gate`` is set;
    ``("count",)`` (a cast) increments ``counter``.
    """

    #: Shared by every incarnation of a test, so tests can see across restarts.
    journal: list[tuple[str, Any]]

    def __init__(self, journal: list[tuple[str, Any]], gate: trio.Event | None = None) -> None:
        super().__init__()
        self.journal = journal
        self.gate = trio.Event() if gate is None else gate
        self.held: list[Envelope[tuple[Any, ...], Any]] = []
        self.counter = 0

    async def on_start(self) -> None:
        self.journal.append(("on_start", trio.current_time()))

    async def on_stop(self) -> None:
        self.journal.append(("on_stop", trio.current_time()))

    async def receive(self, envelope: Envelope[tuple[Any, ...], Any]) -> None:
        kind, *args = envelope.message
        if kind == "echo":
            envelope.reply(args[0])
        elif kind == "work":
            self.spawn(envelope, self.work, *args)
        elif kind == "crash":
            raise RuntimeError("crash in receive")
        elif kind == "crash_later":
            self.spawn(envelope, self.crash_later, *args)
        elif kind == "reject":
            self.spawn(envelope, self.reject)
        elif kind == "hold":
            self.held.append(envelope)
        elif kind == "gate":
            await self.gate.wait()
            envelope.reply("opened")
        elif kind == "count":
            self.counter += 1
        elif kind == "get_count":
            envelope.reply(self.counter)
        else:
            raise AssertionError(kind)

    async def work(self, seconds: float, value: Any) -> Any:
        try:
            await trio.sleep(seconds)
        except trio.Cancelled:
            self.journal.append(("work-cancelled", trio.current_time()))
            raise
        self.journal.append(("work-done", trio.current_time()))
        return value

    async def crash_later(self, seconds: float) -> Any:
        await trio.sleep(seconds)
        raise ValueError("crash in spawned work")

    async def reject(self) -> Any:
        await trio.lowlevel.checkpoint()
        raise BadRequestError("no such model", provider="emu")


@pytest.fixture
def journal() -> list[tuple[str, Any]]:
    return []


@pytest.fixture
def scripted() -> type[Scripted]:
    return Scripted
