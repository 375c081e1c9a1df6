"""Observer events, and proof from trio's instrumentation that no task outlives a supervisor."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

import supervisors as sv


class TaskTracker(trio.abc.Instrument):
    """Tracks every task trio spawns and reaps while installed."""

    def __init__(self) -> None:
        self.spawned = 0
        self.live: set[trio.lowlevel.Task] = set()

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned += 1
        self.live.add(task)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.live.discard(task)


@asynccontextmanager
async def tracked() -> AsyncIterator[TaskTracker]:
    tracker = TaskTracker()
    nurseries_before = list(trio.lowlevel.current_task().child_nurseries)
    trio.lowlevel.add_instrument(tracker)
    try:
        yield tracker
    finally:
        trio.lowlevel.remove_instrument(tracker)
    assert tracker.spawned > 0, "the scenario spawned nothing: the check would prove nothing"
    assert tracker.live == set(), f"tasks outlived the supervisor: {tracker.live}"
    assert trio.lowlevel.current_task().child_nurseries == nurseries_before


async def forever(*, task_status: trio.TaskStatus[None]) -> None:
    """A child that also runs helper tasks of its own, which must die with it."""
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(trio.sleep_forever)
        task_status.started()
        await trio.sleep_forever()


def tree() -> list[sv.ChildSpec]:
    return [
        sv.ChildSpec("a", forever),
        sv.supervisor_child_spec(
            "inner",
            children=[sv.ChildSpec("b", forever), sv.ChildSpec("c", forever, shutdown=1.0)],
        ),
        sv.ChildSpec("d", forever, shutdown=sv.Shutdown.BRUTAL_KILL),
    ]


async def test_no_task_survives_a_normal_exit(autojump_clock):
    async with tracked(), sv.open_supervisor(children=tree()) as sup:
        await sup.start_child(sv.ChildSpec("e", forever))


async def test_no_task_survives_a_body_exception(autojump_clock):
    async with tracked():
        with pytest.raises(ZeroDivisionError):
            async with sv.open_supervisor(children=tree()):
                _ = 1 / 0


async def test_no_task_survives_cancellation(autojump_clock):
    async with tracked():
        with trio.move_on_after(3):
            async with sv.open_supervisor(children=tree()):
                await trio.sleep_forever()


async def test_no_task_survives_giving_up(autojump_clock):
    async def crash(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await trio.sleep(1)
        raise RuntimeError("crash")

    async with tracked():
        with pytest.raises(sv.RestartIntensityExceeded):
            async with sv.open_supervisor(children=[*tree(), sv.ChildSpec("x", crash)]):
                await trio.sleep_forever()


async def test_no_task_survives_a_pending_backoff(autojump_clock):
    async def crash(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        raise RuntimeError("crash")

    async with (
        tracked(),
        sv.open_supervisor(
            children=[*tree(), sv.ChildSpec("x", crash)], backoff=sv.Backoff(min=100.0, max=100.0)
        ) as sup,
    ):
        await trio.sleep(1)
        assert sup.statistics().restarting == 1


async def test_observer_events_carry_supervisor_child_and_clock_time(events, autojump_clock):
    async def quick(*, task_status: trio.TaskStatus[str]) -> None:
        task_status.started("h")
        await trio.sleep(2)
        raise RuntimeError("once")

    async with sv.open_supervisor(
        intensity=5, children=[sv.ChildSpec("q", quick)], observer=events, name="obs"
    ):
        await trio.sleep(3)
    started, exited, restarted = events.events[:3]
    assert started == sv.ChildStarted("obs", "q", "h", 0.0)
    assert isinstance(exited, sv.ChildExited)
    assert (exited.child_id, exited.reason, exited.time) == ("q", sv.ExitReason.ERROR, 2.0)
    assert isinstance(exited.error, RuntimeError)
    assert restarted == sv.ChildRestarted("obs", "q", "h", 2.0)


async def test_observer_failures_are_logged_not_propagated(caplog, autojump_clock):
    def broken(event: sv.SupervisorEvent) -> None:
        raise ValueError("observer bug")

    async def quick(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await trio.sleep(1)
        raise RuntimeError("once")

    with caplog.at_level(logging.ERROR, logger="supervisors"):
        async with sv.open_supervisor(
            intensity=5, children=[sv.ChildSpec("q", quick)], observer=broken, name="obs"
        ) as sup:
            await trio.sleep(1.5)
            assert sup.statistics().restarts_total == 1
    assert "observer failed" in caplog.text
    assert "observer bug" in caplog.text
