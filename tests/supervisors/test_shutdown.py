"""Stopping children: trap_exit, grace periods, brutal kill, infinity, reverse order, owner
cancellation, and what stops cost in (virtual) time."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import supervisors as sv
from supervisors import ExitReason, Shutdown


def graceful(log: list[tuple[str, float]], name: str, cleanup: float):
    """A child that, when asked to stop, cleans up for ``cleanup`` seconds and returns."""

    async def start(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        context = sv.current_child()
        assert context is not None
        try:
            await context.wait_stop_requested()
            log.append((f"{name}:stop-requested", trio.current_time()))
            await trio.sleep(cleanup)
            log.append((f"{name}:clean", trio.current_time()))
        except trio.Cancelled:
            log.append((f"{name}:cancelled", trio.current_time()))
            raise

    return start


def stubborn(log: list[tuple[str, float]], name: str):
    """A child that ignores stop requests."""

    async def start(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            log.append((f"{name}:cancelled", trio.current_time()))
            raise

    return start


async def test_graceful_stop_within_the_timeout(events, autojump_clock):
    """The child sees the stop request, cleans up for 2 s and returns: no cancellation."""
    log: list[tuple[str, float]] = []
    async with sv.open_supervisor(
        children=[sv.ChildSpec("g", graceful(log, "g", 2.0), shutdown=5.0)], observer=events
    ) as sup:
        await trio.sleep(1)
        await sup.terminate_child("g")
        assert trio.current_time() == 3.0
    assert log == [("g:stop-requested", 1.0), ("g:clean", 3.0)]
    assert events.summary()[-1] == ("exited", "g", "shutdown")


async def test_cancelled_when_the_timeout_ends(autojump_clock):
    """A trapping child that does not finish in time is cancelled when its grace period ends."""
    log: list[tuple[str, float]] = []
    async with sv.open_supervisor(
        children=[
            sv.ChildSpec("slow", graceful(log, "slow", 10.0), shutdown=3.0),
            sv.ChildSpec("deaf", stubborn(log, "deaf"), shutdown=1.5, trap_exit=True),
        ]
    ) as sup:
        await sup.terminate_child("slow")
        assert trio.current_time() == 3.0
        await sup.terminate_child("deaf")
        assert trio.current_time() == 4.5
    assert log == [("slow:stop-requested", 0.0), ("slow:cancelled", 3.0), ("deaf:cancelled", 4.5)]


@pytest.mark.parametrize("shutdown", [Shutdown(5.0), Shutdown.INFINITY])
async def test_a_child_that_does_not_trap_exits_is_cancelled_at_once(
    shutdown, events, autojump_clock
):
    """OTP: the shutdown signal kills a worker that does not trap exits, whatever its timeout."""
    log: list[tuple[str, float]] = []
    async with sv.open_supervisor(
        children=[sv.ChildSpec("d", stubborn(log, "d"), shutdown=shutdown)], observer=events
    ) as sup:
        await trio.sleep(1)
        await sup.terminate_child("d")
        assert trio.current_time() == 1.0
    assert log == [("d:cancelled", 1.0)]
    assert events.summary()[-1] == ("exited", "d", "shutdown")


def polling(steps: list[tuple[bool, float]]):
    """A child that works in 2 s steps, checking stop_requested between them (never awaits it)."""

    async def start(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        context = sv.current_child()
        assert context is not None
        try:
            while not context.stop_requested:
                await trio.sleep(2)
                steps.append((context.stop_requested, trio.current_time()))
        except trio.Cancelled:
            steps.append((context.stop_requested, -trio.current_time()))
            raise

    return start


@pytest.mark.parametrize(
    ("trap_exit", "stopped_at", "steps"),
    [(True, 2.0, [(True, 2.0)]), (False, 1.0, [(True, -1.0)])],
)
async def test_trap_exit_gives_a_child_its_stop_request_and_grace_period(
    trap_exit, stopped_at, steps, events, autojump_clock
):
    """Trapping, the child finishes its step and returns; not trapping, it is cancelled at once."""
    seen: list[tuple[bool, float]] = []
    spec = sv.ChildSpec("p", polling(seen), shutdown=5.0, trap_exit=trap_exit)
    async with sv.open_supervisor(children=[spec], observer=events) as sup:
        await trio.sleep(1)
        await sup.terminate_child("p")
        assert trio.current_time() == stopped_at
    assert seen == steps
    assert events.summary()[-1] == ("exited", "p", "shutdown")


async def test_a_trapping_child_that_ignores_its_stop_request_is_cancelled_after_t(
    autojump_clock,
):
    """trap_exit=True buys the grace period, not immunity: cancelled 5 s after the request."""
    log: list[tuple[str, float]] = []
    async with sv.open_supervisor(
        children=[sv.ChildSpec("t", stubborn(log, "t"), shutdown=5.0, trap_exit=True)]
    ) as sup:
        await trio.sleep(1)
        await sup.terminate_child("t")
        assert trio.current_time() == 6.0
    assert log == [("t:cancelled", 6.0)]


async def test_awaiting_the_stop_request_traps_exits(autojump_clock):
    """A worker spec (trap_exit=False) whose task awaits wait_stop_requested() gets its grace."""
    log: list[tuple[str, float]] = []
    contexts: list[sv.ChildContext] = []

    async def drains(*, task_status: trio.TaskStatus[None]) -> None:
        context = sv.current_child()
        assert context is not None
        contexts.append(context)
        async with trio.open_nursery() as nursery:

            async def drain() -> None:
                await sv.wait_stop_requested()
                await trio.sleep(2)
                log.append(("drained", trio.current_time()))
                nursery.cancel_scope.cancel()

            assert not context.trap_exit
            nursery.start_soon(drain)
            task_status.started()
            await trio.sleep_forever()

    async with sv.open_supervisor(children=[sv.ChildSpec("d", drains, shutdown=5.0)]) as sup:
        await trio.sleep(1)
        assert contexts[0].trap_exit
        await sup.terminate_child("d")
        assert trio.current_time() == 3.0
    assert log == [("drained", 3.0)]


async def test_stopping_children_that_do_not_trap_exits_takes_no_time(autojump_clock):
    """Three 5 s workers that ignore their stop request: leaving costs 0 s (it cost 15 s)."""
    log: list[tuple[str, float]] = []
    specs = [sv.ChildSpec(n, stubborn(log, n), shutdown=5.0) for n in ("a", "b", "c")]
    async with sv.open_supervisor(children=specs):
        await trio.sleep(1)
    assert trio.current_time() == 1.0
    assert log == [("c:cancelled", 1.0), ("b:cancelled", 1.0), ("a:cancelled", 1.0)]


@pytest.mark.parametrize("strategy", [sv.Strategy.ONE_FOR_ALL, sv.Strategy.REST_FOR_ONE])
async def test_restarting_siblings_that_do_not_trap_exits_takes_no_time(
    strategy, worker, events, trace, autojump_clock
):
    """Restarting after a crash stops two 5 s workers that ignore the request: 0 s (was 10 s)."""
    a, b, c = worker("a"), worker("b"), worker("c")
    specs = [w.spec(shutdown=5.0) for w in (a, b, c)]
    async with sv.open_supervisor(strategy, children=specs, observer=events):
        await trio.sleep(1)
        trace.clear()
        a.crash()
        await trio.sleep(1)
    assert trace[:6] == [("stop", "a"), ("stop", "c"), ("stop", "b")] + [
        ("start", n) for n in ("a", "b", "c")
    ]
    restarted = [e for e in events.events if isinstance(e, sv.ChildRestarted)]
    assert [(e.child_id, e.time) for e in restarted] == [("a", 1.0), ("b", 1.0), ("c", 1.0)]
    assert trio.current_time() == 2.0


async def test_brutal_kill_cancels_at_once(autojump_clock):
    """BRUTAL_KILL: no grace period, the child is cancelled immediately, trapping or not."""
    log: list[tuple[str, float]] = []
    async with sv.open_supervisor(
        children=[
            sv.ChildSpec(
                "b", graceful(log, "b", 2.0), shutdown=Shutdown.BRUTAL_KILL, trap_exit=True
            )
        ]
    ) as sup:
        await trio.sleep(1)
        await sup.terminate_child("b")
        assert trio.current_time() == 1.0
    assert log == [("b:cancelled", 1.0)]


async def test_infinity_waits_as_long_as_the_child_needs(autojump_clock):
    """INFINITY: the supervisor waits for the child to return, however long."""
    log: list[tuple[str, float]] = []
    async with sv.open_supervisor(
        children=[sv.ChildSpec("i", graceful(log, "i", 1000.0), shutdown=Shutdown.INFINITY)]
    ) as sup:
        await sup.terminate_child("i")
    assert log == [("i:stop-requested", 0.0), ("i:clean", 1000.0)]


async def test_leaving_the_block_stops_children_in_reverse_start_order(events, autojump_clock):
    """Each child gets its own grace period, one after the other, right to left."""
    log: list[tuple[str, float]] = []
    specs = [sv.ChildSpec(n, graceful(log, n, 1.0), shutdown=5.0) for n in ("a", "b", "c")]
    async with sv.open_supervisor(children=specs, observer=events):
        pass
    assert [entry for entry in log if entry[0].endswith("clean")] == [
        ("c:clean", 1.0),
        ("b:clean", 2.0),
        ("a:clean", 3.0),
    ]
    assert events.summary()[-3:] == [
        ("exited", "c", "shutdown"),
        ("exited", "b", "shutdown"),
        ("exited", "a", "shutdown"),
    ]


async def test_body_exception_stops_children_gracefully_and_propagates_unwrapped(autojump_clock):
    """The body's own exception comes out as itself, after an orderly stop."""
    log: list[tuple[str, float]] = []
    with pytest.raises(KeyError, match="from the body"):
        async with sv.open_supervisor(
            children=[
                sv.ChildSpec("a", graceful(log, "a", 1.0)),
                sv.ChildSpec("b", graceful(log, "b", 1.0)),
            ]
        ):
            raise KeyError("from the body")
    assert [name for name, _ in log] == [
        "b:stop-requested",
        "b:clean",
        "a:stop-requested",
        "a:clean",
    ]


async def test_owner_cancellation_cancels_children_without_waiting(autojump_clock):
    """Cancelling the block cancels the children too; no grace period is waited for."""
    log: list[tuple[str, float]] = []
    with trio.move_on_after(2):
        async with sv.open_supervisor(
            children=[
                sv.ChildSpec("i", stubborn(log, "i"), shutdown=Shutdown.INFINITY),
                sv.ChildSpec("t", stubborn(log, "t"), shutdown=60.0),
            ]
        ):
            await trio.sleep_forever()
    assert trio.current_time() == 2.0
    assert sorted(log) == [("i:cancelled", 2.0), ("t:cancelled", 2.0)]


async def test_child_context_describes_the_run(autojump_clock):
    """current_child() gives the id, supervisor and shutdown; None outside any child."""
    seen: list[sv.ChildContext | None] = []

    async def look(*, task_status: trio.TaskStatus[None]) -> None:
        seen.append(sv.current_child())
        task_status.started()
        await trio.sleep_forever()

    assert sv.current_child() is None
    async with sv.open_supervisor(
        children=[sv.ChildSpec("x", look, shutdown=2.0)], name="top"
    ) as sup:
        context = seen[0]
        assert context is not None
        assert (context.id, context.supervisor, context.shutdown) == ("x", "top", 2.0)
        assert not context.stop_requested
        await sup.terminate_child("x")
        assert context.stop_requested
        assert "stop_requested=True" in repr(context)


async def test_a_child_raising_while_stopping_is_reported_not_restarted(events, autojump_clock):
    """An error during shutdown is an ERROR exit in the events, but never a restart."""

    async def messy(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        context = sv.current_child()
        assert context is not None
        await context.wait_stop_requested()
        raise RuntimeError("cleanup failed")

    async with sv.open_supervisor(
        intensity=0, children=[sv.ChildSpec("m", messy)], observer=events
    ) as sup:
        await sup.terminate_child("m")
        assert [c.state for c in sup.which_children()] == [sv.ChildState.TERMINATED]
    exited = [e for e in events.events if isinstance(e, sv.ChildExited)]
    assert exited[-1].reason is ExitReason.ERROR
    assert isinstance(exited[-1].error, RuntimeError)


async def test_wait_stop_requested_makes_a_graceful_stop_prompt(autojump_clock):
    """A child parked in wait_stop_requested() returns at once instead of using its grace."""
    returned: list[float] = []

    async def parked(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await sv.wait_stop_requested()
        returned.append(trio.current_time())

    async with sv.open_supervisor(children=[sv.ChildSpec("p", parked, shutdown=30.0)]) as sup:
        await trio.sleep(1)
        await sup.terminate_child("p")
        assert trio.current_time() == 1.0
    assert returned == [1.0]
    with trio.move_on_after(5):
        await sv.wait_stop_requested()  # outside any child: waits until cancelled
    assert trio.current_time() == 6.0
