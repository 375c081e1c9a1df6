"""Actors under a supervisor: calls, casts, crashes, timeouts, cancellation, backpressure, stops."""

from __future__ import annotations

import contextlib
import math

import pytest
import trio
import trio.testing

import supervisors as sv
from hafs_actors.actors import ActorRef, Envelope, Overflow, actor_child_spec
from hafs_actors.errors import (
    ActorCrashed,
    ActorStopped,
    BadRequestError,
    CallTimeout,
    MailboxFull,
)


def supervised(ref, factory, **kw):
    kw.setdefault("intensity", 10)
    shutdown = kw.pop("shutdown", 5.0)
    return sv.open_supervisor(
        children=[actor_child_spec(ref.name, factory, ref, shutdown=shutdown)], **kw
    )


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


async def test_call_and_cast_round_trip(journal, scripted, autojump_clock):
    ref = ActorRef("w")
    async with supervised(ref, lambda: scripted(journal)) as sup:
        assert sup.which_children()[0].handle is ref
        assert await ref.call(("echo", 42), timeout=1) == 42
        assert await ref.call(("work", 2, "done"), timeout=5) == "done"
        await ref.cast(("count",))
        ref.cast_nowait(("count",))
        assert await ref.call(("get_count",), timeout=1) == 2
        stats = ref.statistics()
        assert (stats.calls, stats.casts, stats.in_flight, stats.crashes) == (3, 2, 0, 0)
        assert stats.running
        assert stats.incarnation == 1
        assert stats.restarts == 0


async def test_crash_fails_queued_and_in_flight_calls_at_once(journal, scripted, autojump_clock):
    """In flight, queued behind a blocked loop, or waiting for room: all get ActorCrashed at t=1."""
    ref = ActorRef("w", capacity=2)
    outcomes: list[tuple[str, float]] = []
    errors: list[ActorCrashed] = []

    async def caller(message: tuple, timeout: float = 100) -> None:
        try:
            await ref.call(message, timeout=timeout)
            outcomes.append(("ok", trio.current_time()))
        except ActorCrashed as exc:
            errors.append(exc)
            outcomes.append(("crashed", trio.current_time()))

    async with supervised(ref, lambda: scripted(journal)):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(caller, ("work", 50, "x"))
            nursery.start_soon(caller, ("work", 60, "y"))
            await settle()
            nursery.start_soon(caller, ("crash_later", 1))
            await settle()
            await ref.cast(("gate",))  # the loop now waits: later calls stay queued
            nursery.start_soon(caller, ("echo", 1))
            nursery.start_soon(caller, ("echo", 2))
            nursery.start_soon(caller, ("echo", 3))
            await settle()
            stats = ref.statistics()
            assert (stats.mailbox_depth, stats.blocked_senders, stats.in_flight) == (2, 1, 3)
        assert outcomes == [("crashed", 1.0)] * 6
        for exc in errors:
            assert exc.actor == "w"
            assert isinstance(exc.cause, ValueError)
            assert exc.__cause__ is exc.cause
            assert "crashed: ValueError: crash in spawned work" in str(exc)
        assert len({id(exc) for exc in errors}) == 6  # one error object per caller
        assert ref.statistics().crashes == 1
        await settle()  # the supervisor restarts the actor
        assert await ref.call(("echo", "back"), timeout=1) == "back"
        assert ref.statistics().incarnation == 2
        assert ("work-cancelled", 1.0) in journal


async def test_crash_in_receive_crashes_the_actor_and_it_is_restarted(
    journal, scripted, autojump_clock
):
    ref = ActorRef("w")
    seen: list[sv.SupervisorEvent] = []
    async with supervised(ref, lambda: scripted(journal), observer=seen.append):
        with pytest.raises(ActorCrashed, match="crash in receive"):
            await ref.call(("crash",), timeout=1)
        await settle()
        assert await ref.call(("echo", 1), timeout=1) == 1
    exits = [e for e in seen if isinstance(e, sv.ChildExited) and e.reason is sv.ExitReason.ERROR]
    assert isinstance(exits[0].error, RuntimeError)  # the supervisor sees the bare exception
    assert [name for name, _ in journal].count("on_start") == 2
    assert [name for name, _ in journal].count("on_stop") == 2  # after the crash and at the end


async def test_ref_refuses_calls_while_no_incarnation_runs(journal, scripted, autojump_clock):
    ref = ActorRef("w")
    with pytest.raises(ActorStopped, match="'w' is not running"):
        await ref.call(("echo", 1), timeout=1)
    with pytest.raises(ActorStopped):
        ref.cast_nowait(("count",))
    async with supervised(
        ref, lambda: scripted(journal), backoff=sv.Backoff(min=10, max=10, random_factor=0)
    ):
        with pytest.raises(ActorCrashed):
            await ref.call(("crash",), timeout=1)
        with pytest.raises(ActorStopped):  # waiting for the backoff: fail fast, don't queue
            await ref.call(("echo", 1), timeout=1)
        assert not ref.statistics().running
        await trio.sleep(11)
        assert await ref.call(("echo", 1), timeout=1) == 1
    with pytest.raises(ActorStopped):
        await ref.cast(("count",))


async def test_late_reply_is_dropped_without_harm(journal, scripted, autojump_clock):
    ref = ActorRef("w")
    actors = []

    def factory():
        actors.append(scripted(journal))
        return actors[-1]

    async with supervised(ref, factory):
        with pytest.raises(CallTimeout, match="'w' did not reply within 2s"):
            await ref.call(("hold",), timeout=2)
        assert trio.current_time() == 2.0
        [envelope] = actors[0].held
        assert envelope.abandoned
        assert not envelope.answered
        assert ref.statistics().in_flight == 0
        envelope.reply("too late")
        envelope.fail(RuntimeError("also too late"))
        assert not envelope.answered
        assert await ref.call(("echo", "fine"), timeout=1) == "fine"
        assert ref.statistics().crashes == 0


async def test_cancelled_caller_cancels_the_bound_work_and_leaves_the_actor_healthy(
    journal, scripted, autojump_clock
):
    ref = ActorRef("w")
    async with supervised(ref, lambda: scripted(journal)):
        with trio.move_on_after(1):
            await ref.call(("work", 100, "never"), timeout=1000)
        await settle()
        assert journal[-1] == ("work-cancelled", 1.0)
        assert ref.statistics().in_flight == 0
        assert await ref.call(("work", 1, "ok"), timeout=5) == "ok"
        assert ref.statistics().crashes == 0


async def test_timeout_cancels_the_bound_work_too(journal, scripted, autojump_clock):
    ref = ActorRef("w")
    async with supervised(ref, lambda: scripted(journal)):
        with pytest.raises(CallTimeout):
            await ref.call(("work", 100, "never"), timeout=3)
        await settle()
        assert journal[-1] == ("work-cancelled", 3.0)


async def test_caller_gone_before_the_actor_got_to_it_skips_the_work(
    journal, scripted, autojump_clock
):
    """An envelope abandoned while queued is never handed to receive()."""
    ref = ActorRef("w")
    gate = trio.Event()
    async with supervised(ref, lambda: scripted(journal, gate)):
        await ref.cast(("gate",))
        with pytest.raises(CallTimeout):
            await ref.call(("work", 1, "x"), timeout=1)
        gate.set()
        assert await ref.call(("echo", 1), timeout=5) == 1
        await trio.sleep(5)
        assert not any(name.startswith("work") for name, _ in journal)


async def test_full_mailbox_blocks_under_block_policy(journal, scripted, autojump_clock):
    """Backpressure: the third sender waits for room, and its wait counts toward its timeout."""
    ref = ActorRef("w", capacity=2, overflow=Overflow.BLOCK)
    gate = trio.Event()
    results: list[object] = []
    async with supervised(ref, lambda: scripted(journal, gate)):
        await ref.cast(("gate",))
        await settle()
        async with trio.open_nursery() as nursery:
            for i in range(3):
                nursery.start_soon(lambda i=i: _record(results, ref.call(("echo", i), timeout=10)))
            await settle()
            stats = ref.statistics()
            assert (stats.mailbox_depth, stats.blocked_senders) == (2, 1)
            with pytest.raises(CallTimeout):
                await ref.call(("echo", "late"), timeout=1)
            gate.set()
        assert sorted(results) == [0, 1, 2]


async def _record(results: list[object], call) -> None:
    results.append(await call)


async def test_full_mailbox_raises_under_fail_policy(journal, scripted, autojump_clock):
    ref = ActorRef("w", capacity=1, overflow=Overflow.FAIL)
    gate = trio.Event()
    async with supervised(ref, lambda: scripted(journal, gate)):
        await ref.cast(("gate",))
        await settle()
        await ref.cast(("count",))
        with pytest.raises(MailboxFull, match="mailbox full"):
            await ref.call(("echo", 1), timeout=10)
        with pytest.raises(MailboxFull):
            await ref.cast(("count",))
        with pytest.raises(MailboxFull):
            ref.cast_nowait(("count",))
        assert trio.current_time() == 0.0  # nothing waited
        gate.set()
        await settle()
        assert await ref.call(("get_count",), timeout=1) == 1


async def test_cast_nowait_raises_when_full_even_under_block(journal, scripted, autojump_clock):
    """With capacity 0 a message is handed over only to a loop waiting in receive."""
    ref = ActorRef("w", capacity=0)
    gate = trio.Event()
    async with supervised(ref, lambda: scripted(journal, gate)):
        await settle()
        ref.cast_nowait(("gate",))  # the loop was waiting: handed over at once
        await settle()
        with pytest.raises(MailboxFull):
            ref.cast_nowait(("count",))  # the loop is busy and there is no buffer
        gate.set()
        assert await ref.call(("get_count",), timeout=1) == 0


async def test_hafs_error_from_work_goes_to_the_caller(journal, scripted, autojump_clock):
    ref = ActorRef("w")
    async with supervised(ref, lambda: scripted(journal)):
        with pytest.raises(BadRequestError, match="no such model"):
            await ref.call(("reject",), timeout=1)
        await ref.cast(("reject",))  # nobody to tell: logged, not a crash
        await settle()
        assert ref.statistics().crashes == 0
        assert await ref.call(("echo", 1), timeout=1) == 1


async def test_graceful_stop_lets_in_flight_work_finish_and_fails_the_queue(
    journal, scripted, autojump_clock
):
    """Leaving the supervisor: stop accepting, queued calls fail at once, in-flight finishes."""
    ref = ActorRef("w", capacity=8)
    gate = trio.Event()
    outcomes: dict[str, object] = {}

    async def caller(key: str, message: tuple) -> None:
        try:
            outcomes[key] = await ref.call(message, timeout=100)
        except ActorStopped as exc:
            outcomes[key] = (type(exc).__name__, trio.current_time())

    # the gate never opens: the gated call is in flight and is cancelled at the timeout
    async with (
        trio.open_nursery() as nursery,
        supervised(ref, lambda: scripted(journal, gate), shutdown=10.0),
    ):
        nursery.start_soon(caller, "in_flight", ("work", 3, "finished"))
        await settle()
        nursery.start_soon(caller, "gated", ("gate",))
        await settle()
        nursery.start_soon(caller, "queued", ("echo", 1))
        await settle()
        stopped_at = trio.current_time()
    assert outcomes["in_flight"] == "finished"
    assert outcomes["queued"] == ("ActorStopped", stopped_at)
    assert outcomes["gated"] == ("ActorStopped", stopped_at + 10.0)
    assert journal[-1] == ("on_stop", stopped_at + 10.0)
    assert not ref.running


async def test_brutal_kill_fails_in_flight_calls_with_actor_stopped(
    journal, scripted, autojump_clock
):
    ref = ActorRef("w")
    outcome: list[object] = []

    async def caller() -> None:
        with pytest.raises(ActorStopped) as info:
            await ref.call(("work", 100, "x"), timeout=1000)
        outcome.append((type(info.value), trio.current_time()))

    async with (
        trio.open_nursery() as nursery,
        supervised(ref, lambda: scripted(journal), shutdown=sv.Shutdown.BRUTAL_KILL),
    ):
        nursery.start_soon(caller)
        await trio.sleep(1)
    assert outcome == [(ActorStopped, 1.0)]


async def test_on_start_failure_is_a_failed_start(journal, scripted, autojump_clock):
    class Broken(scripted):
        async def on_start(self) -> None:
            raise OSError("cannot open client")

    ref = ActorRef("w")
    with pytest.raises(sv.StartChildError) as info:
        async with supervised(ref, lambda: Broken(journal)):
            pytest.fail("must not start")
    assert isinstance(info.value.__cause__, OSError)
    assert not ref.running


async def test_low_level_envelope_abandon_after_reply_stops_a_producer(autojump_clock):
    """The stream pattern: reply with a channel, keep producing under the bound scope."""
    from hafs_actors.actors import Actor

    produced: list[int] = []

    class Streamer(Actor[int, trio.MemoryReceiveChannel[int]]):
        async def receive(self, envelope: Envelope[int, trio.MemoryReceiveChannel[int]]) -> None:
            send, receive = trio.open_memory_channel[int](0)
            envelope.reply(receive)
            self.nursery.start_soon(self.produce, envelope, send)

        async def produce(self, envelope, send) -> None:
            with trio.CancelScope() as scope:
                envelope.bind_scope(scope)
                async with send:
                    for i in range(1000):
                        await send.send(i)
                        produced.append(i)
                        await trio.sleep(1)

    ref: ActorRef[int, trio.MemoryReceiveChannel[int]] = ActorRef("stream")
    async with sv.open_supervisor(children=[actor_child_spec("s", Streamer, ref)]):
        envelope: Envelope[int, trio.MemoryReceiveChannel[int]] = Envelope(3)
        await ref.send_envelope(envelope)
        with trio.fail_after(1):
            channel = await envelope.wait()
        assert [await channel.receive() for _ in range(3)] == [0, 1, 2]
        envelope.abandon()
        await trio.sleep(10)
        assert produced == [0, 1, 2]


async def test_standalone_actor_without_supervisor(journal, scripted, autojump_clock):
    """run() works under a plain nursery; cancelling it fails pending calls with ActorStopped."""
    actor = scripted(journal)
    async with trio.open_nursery() as nursery:
        ref = await nursery.start(actor.run)
        assert ref is actor.ref
        assert ref.name == "Scripted"
        assert await ref.call(("echo", 5), timeout=1) == 5
        nursery.start_soon(lambda: _expect_stopped(ref))
        await settle()
        nursery.cancel_scope.cancel()
    with pytest.raises(RuntimeError, match="runs once"):
        await actor.run()
    with pytest.raises(RuntimeError, match="already run"):
        actor.attach(ActorRef("other"))
    with pytest.raises(RuntimeError, match="not running"):
        _ = actor.nursery


async def _expect_stopped(ref: ActorRef) -> None:
    with pytest.raises(ActorStopped):
        await ref.call(("hold",), timeout=100)


@pytest.mark.parametrize("timeout", [0, -1, math.nan])
async def test_call_timeout_must_be_positive(timeout, journal, scripted):
    ref = ActorRef("w")
    with pytest.raises(ValueError, match="timeout"):
        await ref.call(("echo", 1), timeout=timeout)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, "name"),
        ({"name": "x", "capacity": -1}, "capacity"),
        ({"name": "x", "overflow": "block"}, "overflow"),
    ],
)
def test_ref_validates_its_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ActorRef(**kwargs)


async def test_two_incarnations_cannot_bind_one_ref(journal, scripted, autojump_clock):
    ref = ActorRef("w")
    async with trio.open_nursery() as nursery:
        first = scripted(journal)
        first.attach(ref)
        await nursery.start(first.run)
        second = scripted(journal)
        second.attach(ref)
        with pytest.raises(RuntimeError, match="already has a running incarnation"):
            await nursery.start(second.run)
        nursery.cancel_scope.cancel()


class _Tracker(trio.abc.Instrument):
    def __init__(self) -> None:
        self.spawned = 0
        self.live: set[trio.lowlevel.Task] = set()

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned += 1
        self.live.add(task)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.live.discard(task)


@pytest.mark.parametrize("ending", ["normal", "crash_then_exit", "cancel"])
async def test_no_actor_task_outlives_its_supervisor(ending, journal, scripted, autojump_clock):
    """Spawned work, watchers and receive loops all end with the tree (trio instrumentation)."""
    tracker = _Tracker()
    trio.lowlevel.add_instrument(tracker)
    ref = ActorRef("w")
    try:
        with trio.move_on_after(50):
            async with trio.open_nursery() as nursery, supervised(ref, lambda: scripted(journal)):
                for _ in range(3):
                    nursery.start_soon(_ignore_errors, ref.call(("work", 1000, "x"), timeout=999))
                await settle()
                if ending == "crash_then_exit":
                    await ref.cast(("crash_later", 1))
                    await trio.sleep(2)
                elif ending == "cancel":
                    await trio.sleep_forever()
    finally:
        trio.lowlevel.remove_instrument(tracker)
    assert tracker.spawned >= 5
    assert tracker.live == set()


async def _ignore_errors(call) -> None:
    with contextlib.suppress(ActorStopped):
        await call
