"""The dynamic children API: start, terminate, restart, delete, which_children, statistics."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import supervisors as sv
from supervisors import ChildState, Restart


async def test_start_child_returns_once_the_child_has_started(autojump_clock):
    """start_child is synchronous: it waits for task_status.started and returns its value."""

    async def slow_start(*, task_status: trio.TaskStatus[str]) -> None:
        await trio.sleep(2)
        task_status.started("ready")
        await trio.sleep_forever()

    async with sv.open_supervisor() as sup:
        handle = await sup.start_child(sv.ChildSpec("s", slow_start))
        assert (handle, trio.current_time()) == ("ready", 2.0)
        [info] = sup.which_children()
        assert (info.id, info.handle, info.state) == ("s", "ready", ChildState.RUNNING)


async def test_start_child_passes_args(autojump_clock):
    """ChildSpec.args are given to start positionally, like nursery.start(fn, *args)."""

    async def echo(a: int, b: int, *, task_status: trio.TaskStatus[int]) -> None:
        task_status.started(a + b)

    async with sv.open_supervisor() as sup:
        assert await sup.start_child(sv.ChildSpec("e", echo, Restart.TEMPORARY, args=(2, 3))) == 5


async def test_failing_start_raises_with_the_cause_and_keeps_nothing(boom, events, autojump_clock):
    """A child raising before started makes start_child raise StartChildError from it."""

    async def broken(*, task_status: trio.TaskStatus[None]) -> None:
        await trio.sleep(1)
        raise boom("no database")

    async with sv.open_supervisor(observer=events) as sup:
        with pytest.raises(sv.StartChildError, match="no database") as info:
            await sup.start_child(sv.ChildSpec("db", broken))
        assert isinstance(info.value.__cause__, boom)
        assert (info.value.child_id, info.value.supervisor) == ("db", sup.name)
        assert sup.which_children() == []
        assert events.events == []
        assert await sup.start_child(sv.ChildSpec("db", noop)) is None  # the id is free again


async def noop(*, task_status: trio.TaskStatus[None]) -> None:
    task_status.started()
    await trio.sleep_forever()


async def test_child_that_never_calls_started_is_a_failed_start(autojump_clock):
    """Returning without started() is a failed start too (trio's RuntimeError as the cause)."""

    async def forgetful(*, task_status: trio.TaskStatus[None]) -> None:
        return

    async with sv.open_supervisor() as sup:
        with pytest.raises(sv.StartChildError) as info:
            await sup.start_child(sv.ChildSpec("f", forgetful))
        assert isinstance(info.value.__cause__, RuntimeError)


async def test_duplicate_id_is_refused(autojump_clock):
    """Like OTP's already_started / already_present."""
    async with sv.open_supervisor(children=[sv.ChildSpec("a", noop)]) as sup:
        with pytest.raises(sv.DuplicateChildError, match="'a'"):
            await sup.start_child(sv.ChildSpec("a", noop))
        await sup.terminate_child("a")
        with pytest.raises(ValueError, match="already has"):
            await sup.start_child(sv.ChildSpec("a", noop))
        with pytest.raises(sv.InvalidSpecError):
            await sup.start_child("a")  # type: ignore[arg-type]


async def test_terminate_restart_delete_lifecycle(worker, events, autojump_clock):
    """terminate keeps the spec; restart starts it again; delete removes a terminated spec."""
    a = worker("a")
    async with sv.open_supervisor(intensity=0, children=[a.spec()], observer=events) as sup:
        with pytest.raises(sv.ChildRunningError):
            await sup.restart_child("a")
        with pytest.raises(sv.ChildRunningError):
            await sup.delete_child("a")
        await sup.terminate_child("a")
        await sup.terminate_child("a")  # already terminated: nothing happens
        assert [(c.id, c.state, c.handle) for c in sup.which_children()] == [
            ("a", ChildState.TERMINATED, None)
        ]
        assert await sup.restart_child("a") == "a#2"
        await sup.terminate_child("a")
        assert await sup.restart_child("a") == "a#3"  # restart_child never counts: intensity=0
        await sup.terminate_child("a")
        await sup.delete_child("a")
        assert sup.which_children() == []
        assert events.summary() == [
            ("started", "a"),
            ("exited", "a", "shutdown"),
            ("started", "a"),
            ("exited", "a", "shutdown"),
            ("started", "a"),
            ("exited", "a", "shutdown"),
        ]


async def test_terminating_a_temporary_child_removes_it(worker, autojump_clock):
    t = worker("t")
    async with sv.open_supervisor(children=[t.spec(Restart.TEMPORARY)]) as sup:
        await sup.terminate_child("t")
        assert sup.which_children() == []


async def test_unknown_ids_raise_child_not_found(autojump_clock):
    """ChildNotFoundError is a KeyError with a readable message."""
    async with sv.open_supervisor() as sup:
        for op in (sup.terminate_child, sup.restart_child, sup.delete_child):
            with pytest.raises(KeyError) as info:
                await op("ghost")
            assert isinstance(info.value, sv.ChildNotFoundError)
            assert str(info.value) == f"supervisor {sup.name!r} has no child 'ghost'"
        with pytest.raises(sv.ChildNotFoundError):
            await sup.terminate_child(["unhashable"])


async def test_initial_child_failing_stops_the_started_ones_and_raises(
    boom, trace, worker, autojump_clock
):
    """Children start left to right; if one fails, those started stop and the block is skipped."""
    a, c = worker("a"), worker("c")

    async def broken(*, task_status: trio.TaskStatus[None]) -> None:
        raise boom("b cannot start")

    with pytest.raises(sv.StartChildError, match="b cannot start") as info:
        async with sv.open_supervisor(children=[a.spec(), sv.ChildSpec("b", broken), c.spec()]):
            pytest.fail("the body must not run")
    assert info.value.child_id == "b"
    assert trace == [("start", "a"), ("stop", "a")]
    assert c.starts == 0


async def test_cancelled_start_child_cancels_the_starting_child(autojump_clock):
    """If the caller of start_child is cancelled, the half-started child is cancelled too."""
    seen: list[str] = []

    async def hang(*, task_status: trio.TaskStatus[None]) -> None:
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            seen.append("cancelled")
            raise

    async with sv.open_supervisor() as sup:
        with trio.move_on_after(1):
            await sup.start_child(sv.ChildSpec("h", hang))
        assert seen == ["cancelled"]
        assert sup.which_children() == []


async def test_closed_supervisor_refuses_requests(autojump_clock):
    async with sv.open_supervisor(name="done") as sup:
        pass
    assert sup.closed
    with pytest.raises(sv.SupervisorClosedError, match="'done'"):
        await sup.start_child(sv.ChildSpec("a", noop))
    with pytest.raises(RuntimeError):
        await sup.terminate_child("a")


async def test_statistics_snapshot(worker, autojump_clock):
    a, b, t = worker("a"), worker("b"), worker("t")
    async with sv.open_supervisor(
        sv.Strategy.REST_FOR_ONE,
        intensity=4,
        period=10,
        children=[a.spec(), b.spec(), t.spec(Restart.TRANSIENT)],
        name="stats",
    ) as sup:
        t.exit()
        a.crash()
        await trio.testing.wait_all_tasks_blocked()
        stats = sup.statistics()
        assert stats == sv.SupervisorStatistics(
            name="stats",
            strategy=sv.Strategy.REST_FOR_ONE,
            intensity=4,
            period=10,
            children=3,
            running=3,
            restarting=0,
            terminated=0,
            restarts_total=1,
            restarts_in_window=1,
            closed=False,
        )
        assert "stats" in repr(sup)
    assert sup.statistics().closed
    assert sup.statistics().running == 0


async def test_start_child_works_from_inside_a_running_child(autojump_clock):
    """A started child may add siblings (after its own start completed)."""
    added = trio.Event()

    async def spawner(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await supervisor.start_child(sv.ChildSpec("late", noop))
        added.set()
        await trio.sleep_forever()

    async with sv.open_supervisor() as supervisor:
        await supervisor.start_child(sv.ChildSpec("spawner", spawner))
        await added.wait()
        assert [c.id for c in supervisor.which_children()] == ["spawner", "late"]
