"""Each strategy restarts exactly the right children, in the right order, by OTP's restart rules."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import supervisors as sv
from supervisors import ChildState, Restart, Strategy


async def settle() -> None:
    """Let the supervisor handle whatever just happened (no clock time passes)."""
    await trio.testing.wait_all_tasks_blocked()


def states(sup: sv.Supervisor) -> dict[object, tuple[str, object]]:
    return {c.id: (c.state.value, c.handle) for c in sup.which_children()}


async def test_one_for_one_restarts_only_the_failed_child(worker, events, trace, autojump_clock):
    """The siblings keep their incarnation; the failed child gets a new one."""
    a, b, c = worker("a"), worker("b"), worker("c")
    async with sv.open_supervisor(
        Strategy.ONE_FOR_ONE, intensity=3, children=[a.spec(), b.spec(), c.spec()], observer=events
    ) as sup:
        await settle()
        events.clear()
        trace.clear()
        b.crash()
        await settle()
        assert events.summary() == [("exited", "b", "error"), ("restarted", "b")]
        assert trace == [("stop", "b"), ("start", "b")]
        assert states(sup) == {
            "a": ("running", "a#1"),
            "b": ("running", "b#2"),
            "c": ("running", "c#1"),
        }
        assert sup.statistics().restarts_total == 1


async def test_one_for_all_stops_others_in_reverse_then_restarts_all_in_order(
    worker, events, trace, autojump_clock
):
    """OTP one_for_all: terminate the others right to left, then start everyone left to right."""
    a, b, c = worker("a"), worker("b"), worker("c")
    async with sv.open_supervisor(
        Strategy.ONE_FOR_ALL, intensity=3, children=[a.spec(), b.spec(), c.spec()], observer=events
    ) as sup:
        events.clear()
        trace.clear()
        b.crash()
        await settle()
        assert events.summary() == [
            ("exited", "b", "error"),
            ("exited", "c", "shutdown"),
            ("exited", "a", "shutdown"),
            ("restarted", "a"),
            ("restarted", "b"),
            ("restarted", "c"),
        ]
        assert trace == [
            ("stop", "b"),
            ("stop", "c"),
            ("stop", "a"),
            ("start", "a"),
            ("start", "b"),
            ("start", "c"),
        ]
        assert [h for _, h in states(sup).values()] == ["a#2", "b#2", "c#2"]
        assert sup.statistics().restarts_total == 1


async def test_rest_for_one_restarts_the_failed_child_and_those_after_it(
    worker, events, trace, autojump_clock
):
    """Children before the failed one are untouched."""
    a, b, c, d = worker("a"), worker("b"), worker("c"), worker("d")
    specs = [a.spec(), b.spec(), c.spec(), d.spec()]
    async with sv.open_supervisor(
        Strategy.REST_FOR_ONE, intensity=3, children=specs, observer=events
    ) as sup:
        events.clear()
        trace.clear()
        b.crash()
        await settle()
        assert events.summary() == [
            ("exited", "b", "error"),
            ("exited", "d", "shutdown"),
            ("exited", "c", "shutdown"),
            ("restarted", "b"),
            ("restarted", "c"),
            ("restarted", "d"),
        ]
        assert [h for _, h in states(sup).values()] == ["a#1", "b#2", "c#2", "d#2"]
        events.clear()
        d.crash()
        await settle()
        assert events.summary() == [("exited", "d", "error"), ("restarted", "d")]


@pytest.mark.parametrize("strategy", list(Strategy))
async def test_transient_child_is_restarted_only_after_an_abnormal_exit(
    strategy, worker, events, autojump_clock
):
    """Returning is a normal exit: the spec is kept, nothing restarts, no restart is counted."""
    a, t = worker("a"), worker("t")
    async with sv.open_supervisor(
        strategy, intensity=1, children=[a.spec(), t.spec(Restart.TRANSIENT)], observer=events
    ) as sup:
        events.clear()
        t.crash()
        await settle()
        assert events.summary()[0] == ("exited", "t", "error")
        assert ("restarted", "t") in events.summary()
        events.clear()
        t.exit()
        await settle()
        assert events.summary() == [("exited", "t", "normal")]
        assert states(sup)["t"] == ("terminated", None)
        assert sup.statistics().restarts_total == 1


@pytest.mark.parametrize("strategy", list(Strategy))
async def test_temporary_child_is_never_restarted_and_its_spec_removed(
    strategy, worker, events, autojump_clock
):
    """Whether it raises or returns, a temporary child is gone afterwards."""
    a, t1, t2 = worker("a"), worker("t1"), worker("t2")
    specs = [a.spec(), t1.spec(Restart.TEMPORARY), t2.spec(Restart.TEMPORARY)]
    async with sv.open_supervisor(strategy, intensity=0, children=specs, observer=events) as sup:
        events.clear()
        t1.crash()
        t2.exit()
        await settle()
        assert sorted(events.summary()) == [("exited", "t1", "error"), ("exited", "t2", "normal")]
        assert [c.id for c in sup.which_children()] == ["a"]
        assert sup.statistics().restarts_total == 0


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
async def test_temporary_sibling_taken_down_by_a_restart_is_removed_not_restarted(
    strategy, worker, events, autojump_clock
):
    """OTP: temporary children are not restarted even when a sibling's failure stops them."""
    a, t, z = worker("a"), worker("t"), worker("z")
    specs = [a.spec(), t.spec(Restart.TEMPORARY), z.spec()]
    async with sv.open_supervisor(strategy, intensity=3, children=specs, observer=events) as sup:
        events.clear()
        a.crash()
        await settle()
        assert events.summary() == [
            ("exited", "a", "error"),
            ("exited", "z", "shutdown"),
            ("exited", "t", "shutdown"),
            ("restarted", "a"),
            ("restarted", "z"),
        ]
        assert [c.id for c in sup.which_children()] == ["a", "z"]
        assert t.starts == 1


async def test_permanent_child_returning_is_restarted_and_counted(worker, events, autojump_clock):
    """A permanent child is restarted even after a normal exit; intensity=0 then gives up."""
    a = worker("a")

    async def run() -> None:
        async with sv.open_supervisor(intensity=0, children=[a.spec()], observer=events):
            a.exit()
            await trio.sleep_forever()

    with pytest.raises(sv.RestartIntensityExceeded) as info:
        await run()
    assert info.value.child_id == "a"
    assert info.value.error is None
    assert events.summary()[-2:] == [("exited", "a", "normal"), ("gave_up", "a")]


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
async def test_group_restart_also_starts_terminated_siblings_as_otp_does(
    strategy, worker, events, autojump_clock
):
    """OTP restarts every non-temporary child in the group, even one that was not running."""
    a, t, z = worker("a"), worker("t"), worker("z")
    specs = [a.spec(), t.spec(Restart.TRANSIENT), z.spec()]
    async with sv.open_supervisor(strategy, intensity=3, children=specs, observer=events) as sup:
        t.exit()
        await settle()
        assert states(sup)["t"] == ("terminated", None)
        await sup.terminate_child("z")
        assert states(sup)["z"] == ("terminated", None)
        a.crash()
        await settle()
        assert [(cid, st) for cid, (st, _) in states(sup).items()] == [
            ("a", "running"),
            ("t", "running"),
            ("z", "running"),
        ]
        assert (t.starts, z.starts) == (2, 2)


async def test_many_simultaneous_exits_are_each_handled(worker, events, autojump_clock):
    """Exits that arrive together are handled one at a time; each restart counts."""
    kids = [worker(f"k{i}") for i in range(5)]
    async with sv.open_supervisor(
        intensity=5, children=[k.spec() for k in kids], observer=events
    ) as sup:
        for k in kids:
            k.crash()
        await settle()
        assert sup.statistics().restarts_total == 5
        assert all(c.state is ChildState.RUNNING for c in sup.which_children())
        assert [k.starts for k in kids] == [2] * 5
