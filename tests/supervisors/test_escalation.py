"""Giving up: stop everything in reverse order, then raise to the parent supervisor or the user."""

from __future__ import annotations

import sys

import pytest
import trio
import trio.testing

import supervisors as sv

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup


async def test_give_up_stops_all_children_in_reverse_then_raises(
    worker, trace, events, boom, autojump_clock
):
    """The failing child's error is chained; the body is cancelled; siblings stop right to left."""
    a, b, c = worker("a"), worker("b"), worker("c")
    reached_after_sleep = False

    async def run() -> None:
        nonlocal reached_after_sleep
        async with sv.open_supervisor(
            intensity=0, children=[a.spec(), b.spec(), c.spec()], observer=events, name="top"
        ):
            trace.clear()
            b.crash()
            await trio.sleep_forever()
            reached_after_sleep = True

    with pytest.raises(sv.RestartIntensityExceeded) as info:
        await run()
    assert not reached_after_sleep
    exc = info.value
    assert (exc.supervisor, exc.child_id, exc.intensity, exc.period) == ("top", "b", 0, 5.0)
    assert isinstance(exc.error, boom)
    assert exc.__cause__ is exc.error
    assert "top" in str(exc)
    assert "'b'" in str(exc)
    assert "b crashed" in str(exc)
    assert trace == [("stop", "b"), ("stop", "c"), ("stop", "a")]
    assert events.summary()[-4:] == [
        ("exited", "b", "error"),
        ("gave_up", "b"),
        ("exited", "c", "shutdown"),
        ("exited", "a", "shutdown"),
    ]
    gave_up = next(e for e in events.events if isinstance(e, sv.GaveUp))
    assert gave_up.restarts == 0
    assert gave_up.error is exc.error


async def test_escalates_into_the_users_nursery(worker, autojump_clock):
    """A supervisor run as a task of the user's nursery fails that nursery with one exception."""
    a = worker("a")

    async def run_tree(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with sv.open_supervisor(intensity=0, children=[a.spec()]):
            task_status.started()
            await trio.sleep_forever()

    sibling_cancelled = False

    async def sibling() -> None:
        nonlocal sibling_cancelled
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            sibling_cancelled = True
            raise

    async def users_code() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sibling)
            await nursery.start(run_tree)
            a.crash()

    with pytest.raises(ExceptionGroup) as info:
        await users_code()
    assert info.group_contains(sv.RestartIntensityExceeded, depth=1)
    assert len(info.value.exceptions) == 1
    assert sibling_cancelled


async def test_nested_supervisor_giving_up_is_restarted_by_its_parent(
    worker, events, boom, autojump_clock
):
    """The child supervisor's RestartIntensityExceeded is an abnormal exit for the parent."""
    g = worker("g")
    inner_events: list[sv.SupervisorEvent] = []
    nested = sv.supervisor_child_spec(
        "inner", intensity=0, children=[g.spec()], observer=inner_events.append
    )
    async with sv.open_supervisor(intensity=3, children=[nested], observer=events) as top:
        [info] = top.which_children()
        first = info.handle
        assert isinstance(first, sv.Supervisor)
        assert first.name == "inner"
        assert info.type is sv.ChildType.SUPERVISOR
        assert info.shutdown is sv.Shutdown.INFINITY
        events.clear()
        g.crash()
        await trio.testing.wait_all_tasks_blocked()
        assert events.summary() == [("exited", "inner", "error"), ("restarted", "inner")]
        exited = events.events[0]
        assert isinstance(exited, sv.ChildExited)
        assert isinstance(exited.error, sv.RestartIntensityExceeded)
        assert isinstance(exited.error.__cause__, boom)
        [info] = top.which_children()
        assert info.handle is not first
        assert first.closed
        assert not info.handle.closed
        assert g.starts == 2
        assert any(isinstance(e, sv.GaveUp) for e in inner_events)


async def test_escalation_through_two_levels_reaches_the_user(worker, boom, autojump_clock):
    """Parent with intensity 0: the whole tree stops and the chain of causes is kept."""
    g = worker("g")
    nested = sv.supervisor_child_spec("inner", intensity=0, children=[g.spec()])

    async def run() -> None:
        async with sv.open_supervisor(intensity=0, children=[nested], name="outer"):
            g.crash()
            await trio.sleep_forever()

    with pytest.raises(sv.RestartIntensityExceeded) as info:
        await run()
    outer = info.value
    assert (outer.supervisor, outer.child_id) == ("outer", "inner")
    assert isinstance(outer.error, sv.RestartIntensityExceeded)
    assert outer.error.supervisor == "inner"
    assert isinstance(outer.error.error, boom)


async def test_leaving_the_parent_stops_the_nested_tree_depth_first_in_reverse(
    worker, trace, autojump_clock
):
    """Stop order for [x, inner[g1, g2], y] is y, g2, g1, x."""
    x, g1, g2, y = worker("x"), worker("g1"), worker("g2"), worker("y")
    nested = sv.supervisor_child_spec("inner", children=[g1.spec(), g2.spec()])
    async with sv.open_supervisor(children=[x.spec(), nested, y.spec()]):
        assert trace == [("start", "x"), ("start", "g1"), ("start", "g2"), ("start", "y")]
        trace.clear()
    assert trace == [("stop", "y"), ("stop", "g2"), ("stop", "g1"), ("stop", "x")]


async def test_nested_supervisor_failing_to_start_fails_the_parent_start(boom, autojump_clock):
    async def broken(*, task_status: trio.TaskStatus[None]) -> None:
        raise boom("grandchild cannot start")

    nested = sv.supervisor_child_spec("inner", children=[sv.ChildSpec("gc", broken)])
    with pytest.raises(sv.StartChildError) as info:
        async with sv.open_supervisor(children=[nested]):
            pytest.fail("the body must not run")
    assert info.value.child_id == "inner"
    assert isinstance(info.value.__cause__, sv.StartChildError)
    assert isinstance(info.value.__cause__.__cause__, boom)


async def test_nested_supervisor_can_be_terminated_and_restarted(worker, trace, autojump_clock):
    g = worker("g")
    async with sv.open_supervisor(
        children=[sv.supervisor_child_spec("inner", children=[g.spec()])]
    ) as top:
        await top.terminate_child("inner")
        assert trace == [("start", "g"), ("stop", "g")]
        inner = await top.restart_child("inner")
        assert isinstance(inner, sv.Supervisor)
        assert [c.handle for c in inner.which_children()] == ["g#2"]


async def test_supervisor_child_spec_runs_standalone_too(worker, autojump_clock):
    """Outside any supervisor the nested supervisor runs until cancelled."""
    g = worker("g")
    spec = sv.supervisor_child_spec("solo", children=[g.spec()])
    async with trio.open_nursery() as nursery:
        inner = await nursery.start(spec.start)
        assert [c.handle for c in inner.which_children()] == ["g#1"]
        nursery.cancel_scope.cancel()
