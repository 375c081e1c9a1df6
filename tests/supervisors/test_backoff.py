"""Restart backoff under MockClock: delays, reset, jitter, counting, and failed restarts."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import supervisors as sv
from supervisors import Backoff, ChildState


class Crash(Exception):
    pass


def crash_after(run_for: list[float]):
    """A child whose n-th incarnation crashes after run_for[n] seconds (then runs forever)."""
    incarnation = 0

    async def start(*, task_status: trio.TaskStatus[int]) -> None:
        nonlocal incarnation
        incarnation += 1
        task_status.started(incarnation)
        if incarnation <= len(run_for):
            await trio.sleep(run_for[incarnation - 1])
            raise Crash(f"incarnation {incarnation}")
        await trio.sleep_forever()

    return start


def restart_times(events) -> list[float]:
    return [e.time for e in events.events if isinstance(e, sv.ChildRestarted)]


async def test_delays_double_up_to_max(events, autojump_clock):
    """min=1, max=4: restarts 1, 2, 4, 4 seconds after each immediate crash."""
    async with sv.open_supervisor(
        intensity=10,
        period=100,
        children=[sv.ChildSpec("c", crash_after([0, 0, 0, 0]))],
        backoff=Backoff(min=1.0, max=4.0, random_factor=0),
        observer=events,
    ):
        await trio.sleep(50)
    assert restart_times(events) == [1.0, 3.0, 7.0, 11.0]


async def test_a_child_that_ran_long_enough_starts_again_from_min(events, autojump_clock):
    """reset_after: after running >= reset_after seconds the next delay is min again."""
    async with sv.open_supervisor(
        intensity=10,
        period=100,
        children=[sv.ChildSpec("c", crash_after([0, 0, 10, 0]))],
        backoff=Backoff(min=1.0, max=8.0, random_factor=0, reset_after=5.0),
        observer=events,
    ):
        await trio.sleep(50)
    # crash 0 -> +1 = 1; crash 1 -> +2 = 3; ran 10 s, crash 13 -> +1 = 14; crash 14 -> +2 = 16
    assert restart_times(events) == [1.0, 3.0, 14.0, 16.0]


async def test_jitter_stays_within_random_factor(events, autojump_clock):
    async with sv.open_supervisor(
        intensity=10,
        period=100,
        children=[sv.ChildSpec("c", crash_after([0, 0, 0]))],
        backoff=Backoff(min=1.0, max=10.0, random_factor=0.5),
        observer=events,
    ):
        await trio.sleep(60)
    times = restart_times(events)
    delays = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    for delay, base in zip(delays, [1.0, 2.0, 4.0], strict=True):
        assert base <= delay <= base * 1.5


async def test_restarts_count_when_they_happen_not_when_the_child_crashed(events, autojump_clock):
    """intensity=1, period=5, backoff 4 s: crashes at 0 and 4 restart at 4 and 8, and
    [4, 8] is two restarts within 5 s: the give-up comes at t=8, not at t=4."""
    with pytest.raises(sv.RestartIntensityExceeded):
        async with sv.open_supervisor(
            intensity=1,
            period=5.0,
            children=[sv.ChildSpec("c", crash_after([0, 0]))],
            backoff=Backoff(min=4.0, max=4.0, random_factor=0),
            observer=events,
        ):
            await trio.sleep_forever()
    [gave_up] = [e for e in events.events if isinstance(e, sv.GaveUp)]
    assert gave_up.time == 8.0
    assert restart_times(events) == [4.0]


async def test_waiting_child_shows_restarting_and_can_be_terminated(events, autojump_clock):
    async with sv.open_supervisor(
        children=[sv.ChildSpec("c", crash_after([1]))],
        backoff=Backoff(min=10.0, max=10.0, random_factor=0),
        observer=events,
    ) as sup:
        await trio.sleep(2)
        [info] = sup.which_children()
        assert (info.state, info.handle) == (ChildState.RESTARTING, None)
        assert sup.statistics().restarting == 1
        with pytest.raises(sv.ChildRunningError, match="restarting"):
            await sup.delete_child("c")
        await sup.terminate_child("c")
        await trio.sleep(30)
        assert sup.which_children()[0].state is ChildState.TERMINATED
    assert restart_times(events) == []


async def test_restart_child_during_backoff_starts_it_now(events, autojump_clock):
    async with sv.open_supervisor(
        children=[sv.ChildSpec("c", crash_after([1]))],
        backoff=Backoff(min=10.0, max=10.0, random_factor=0),
        observer=events,
    ) as sup:
        await trio.sleep(2)
        assert await sup.restart_child("c") == 2
        await trio.sleep(30)
        assert [c.handle for c in sup.which_children()] == [2]
    assert restart_times(events) == []


async def test_one_childs_backoff_does_not_delay_another(events, autojump_clock):
    """Backoff is per child: a long wait for one does not hold up its siblings' restarts."""
    async with sv.open_supervisor(
        intensity=10,
        period=100,
        children=[
            sv.ChildSpec("slow", crash_after([0, 0, 0])),
            sv.ChildSpec("fast", crash_after([5])),
        ],
        backoff=Backoff(min=4.0, max=30.0, random_factor=0),
        observer=events,
    ):
        await trio.sleep(40)
    restarted = [(e.child_id, e.time) for e in events.events if isinstance(e, sv.ChildRestarted)]
    assert restarted == [("slow", 4.0), ("fast", 9.0), ("slow", 12.0), ("slow", 28.0)]


async def test_one_for_all_stops_the_group_at_once_and_restarts_after_the_delay(
    worker, events, trace, autojump_clock
):
    a, b = worker("a"), worker("b")
    async with sv.open_supervisor(
        sv.Strategy.ONE_FOR_ALL,
        children=[a.spec(), b.spec()],
        backoff=Backoff(min=3.0, max=3.0, random_factor=0),
        observer=events,
    ) as sup:
        trace.clear()
        events.clear()
        await trio.sleep(1)
        a.crash()
        await trio.testing.wait_all_tasks_blocked()
        assert trace == [("stop", "a"), ("stop", "b")]
        assert {c.state for c in sup.which_children()} == {ChildState.RESTARTING}
        await trio.sleep(5)
        assert trace[2:] == [("start", "a"), ("start", "b")]
    assert [(e.child_id, e.time) for e in events.events if isinstance(e, sv.ChildRestarted)] == [
        ("a", 4.0),
        ("b", 4.0),
    ]


async def test_failed_restart_is_retried_and_counted_like_otp(events, autojump_clock):
    """OTP try_again_restart: a restart whose start fails is retried, each try counted."""
    attempts = 0

    async def fails_after_first(*, task_status: trio.TaskStatus[None]) -> None:
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            raise Crash(f"start {attempts} failed")
        task_status.started()
        raise Crash("first run crashed")

    with pytest.raises(sv.RestartIntensityExceeded) as info:
        async with sv.open_supervisor(
            intensity=3, children=[sv.ChildSpec("c", fails_after_first)], observer=events
        ):
            await trio.sleep_forever()
    # crash -> restart 1 fails -> retry 2 fails -> retry 3 fails -> retry 4 exceeds intensity 3
    assert attempts == 4
    assert isinstance(info.value.error, sv.StartChildError)
    assert "start 4 failed" in str(info.value.error)


async def test_failed_restart_waits_for_the_backoff_before_retrying(autojump_clock):
    attempts: list[float] = []

    async def flaky_start(*, task_status: trio.TaskStatus[None]) -> None:
        attempts.append(trio.current_time())
        if len(attempts) in (2, 3):
            raise Crash("cannot start now")
        task_status.started()
        if len(attempts) == 1:
            raise Crash("first run crashed")
        await trio.sleep_forever()

    async with sv.open_supervisor(
        intensity=5,
        period=100,
        children=[sv.ChildSpec("c", flaky_start)],
        backoff=Backoff(min=1.0, max=10.0, random_factor=0),
    ) as sup:
        await trio.sleep(30)
        assert sup.which_children()[0].state is ChildState.RUNNING
    assert attempts == [0.0, 1.0, 3.0, 7.0]
