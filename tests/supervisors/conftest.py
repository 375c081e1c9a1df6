"""Scripted children and an event recorder for the supervisor tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio

import supervisors as sv


class Boom(Exception):
    """The failure scripted children raise."""


class EventLog:
    """An observer that keeps every event, plus a compact summary for assertions."""

    def __init__(self) -> None:
        self.events: list[sv.SupervisorEvent] = []

    def __call__(self, event: sv.SupervisorEvent) -> None:
        self.events.append(event)

    def summary(self) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for e in self.events:
            if isinstance(e, sv.ChildStarted):
                out.append(("started", e.child_id))
            elif isinstance(e, sv.ChildRestarted):
                out.append(("restarted", e.child_id))
            elif isinstance(e, sv.ChildExited):
                out.append(("exited", e.child_id, e.reason.value))
            else:
                out.append(("gave_up", e.child_id))
        return out

    def clear(self) -> None:
        self.events.clear()


class Worker:
    """A child whose running incarnation exits or crashes on command.

    Its handle is ``"<id>#<incarnation>"``; ``trace`` records ``("start", id)`` and
    ``("stop", id)`` from inside the child, so the order the children really ran in is visible.
    """

    def __init__(self, child_id: str, trace: list[tuple[str, str]]) -> None:
        self.id = child_id
        self.trace = trace
        self.starts = 0
        self._command: trio.MemorySendChannel[str] | None = None

    async def __call__(self, *, task_status: trio.TaskStatus[str]) -> None:
        self.starts += 1
        send, receive = trio.open_memory_channel[str](1)
        self._command = send
        self.trace.append(("start", self.id))
        task_status.started(f"{self.id}#{self.starts}")
        try:
            command = await receive.receive()
            if command == "crash":
                raise Boom(f"{self.id} crashed")
        finally:
            self.trace.append(("stop", self.id))

    def crash(self) -> None:
        assert self._command is not None
        self._command.send_nowait("crash")

    def exit(self) -> None:
        assert self._command is not None
        self._command.send_nowait("exit")

    def spec(self, restart: sv.Restart = sv.Restart.PERMANENT, **kw: Any) -> sv.ChildSpec:
        kw.setdefault("shutdown", sv.Shutdown.BRUTAL_KILL)
        return sv.ChildSpec(self.id, self, restart, **kw)


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def trace() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def worker(trace: list[tuple[str, str]]) -> Callable[[str], Worker]:
    return lambda child_id: Worker(child_id, trace)


@pytest.fixture
def boom() -> type[Boom]:
    return Boom
