"""Actor call round trip against bare trio request/reply, in microseconds per message.

Four ways for a caller to send a message to a task that answers at once and to wait for the
answer, all through a 64-message mailbox (``ActorRef``'s default capacity; a send that finds it
full waits for room, as ``Overflow.BLOCK`` does):

* ``memory channel``: the mailbox carries ``(message, reply_channel)``; a fresh one-shot
  ``open_memory_channel(1)`` per call carries the answer back;
* ``Event + slot``: the mailbox carries a slot object; the answer goes into the slot and a
  ``trio.Event`` wakes the caller (the fastest trio pattern in docs/benchmarks.md section 4);
* ``Envelope, no timeout``: the actor runtime's envelope (Event + slot, abandon, in-flight set)
  via ``ActorRef.send_envelope`` and ``Envelope.wait``, served by a real ``Actor``;
* ``ActorRef.call``: the public call, i.e. the above plus its timeout scope and bookkeeping;
* ``request skeleton``: what docs/design.md makes every orchestrator request do, and nothing
  else: ``ActorRef.ask`` to a first actor (the router) that spawns a task under a deadline
  (the chain), which asks a second actor (a provider) that spawns a task under a deadline (the
  attempt) that answers after one checkpoint (where the HTTP call would be). No routing,
  breaker, limiter or result records: the floor of the orchestrator's machinery.

With 1 caller the figure is the sequential round-trip latency; with 100 callers it is the
amortised cost per message. CPU time (``time.process_time``) per message, median of rounds
(min-max), in one process pinned to one core; compare ratios, not absolutes.

    .venv/bin/python benchmarks/actors.py            # 7 rounds, about 20 s
    .venv/bin/python benchmarks/actors.py --quick    # 3 short rounds, a few seconds
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import trio
from _harness import describe_machine, median, pin, print_table, split_cores

from hafs_actors.actors import DEFAULT_CAPACITY, Actor, ActorRef, Envelope

CALLERS = (1, 100)
Call = Callable[[int], Awaitable[int]]

# -- the four round trips ------------------------------------------------------------------------


@asynccontextmanager
async def memory_channel_server() -> Any:
    send, receive = trio.open_memory_channel[tuple[int, trio.MemorySendChannel[int]]](
        DEFAULT_CAPACITY
    )

    async def serve() -> None:
        async for message, reply in receive:
            reply.send_nowait(message)

    async def call(message: int) -> int:
        reply_send, reply_receive = trio.open_memory_channel[int](1)
        try:
            send.send_nowait((message, reply_send))
        except trio.WouldBlock:
            await send.send((message, reply_send))
        return await reply_receive.receive()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        yield call
        nursery.cancel_scope.cancel()


class _Slot:
    __slots__ = ("done", "message", "value")

    def __init__(self, message: int) -> None:
        self.message = message
        self.value = 0
        self.done = trio.Event()


@asynccontextmanager
async def event_slot_server() -> Any:
    send, receive = trio.open_memory_channel[_Slot](DEFAULT_CAPACITY)

    async def serve() -> None:
        async for slot in receive:
            slot.value = slot.message
            slot.done.set()

    async def call(message: int) -> int:
        slot = _Slot(message)
        try:
            send.send_nowait(slot)
        except trio.WouldBlock:
            await send.send(slot)
        await slot.done.wait()
        return slot.value

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        yield call
        nursery.cancel_scope.cancel()


class Echo(Actor[int, int]):
    """Answers every call at once, in its receive loop (no task per message)."""

    async def receive(self, envelope: Envelope[int, int]) -> None:
        envelope.reply(envelope.message)


@asynccontextmanager
async def _running_echo() -> Any:
    async with trio.open_nursery() as nursery:
        ref: ActorRef[int, int] = await nursery.start(Echo().run)
        yield ref
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def envelope_server() -> Any:
    async with _running_echo() as ref:

        async def call(message: int) -> int:
            envelope: Envelope[int, int] = Envelope(message)
            await ref.send_envelope(envelope)
            return await envelope.wait()

        yield call


@asynccontextmanager
async def actor_call_server() -> Any:
    async with _running_echo() as ref:

        async def call(message: int) -> int:
            answer: int = await ref.call(message, timeout=60.0)
            return answer

        yield call


class _Attempts(Actor[int, int]):
    """The provider actor's shape: a task per message, under the attempt's deadline."""

    async def receive(self, envelope: Envelope[int, int]) -> None:
        self.spawn(envelope, self._attempt, envelope.message, deadline=trio.current_time() + 60)

    async def _attempt(self, message: int) -> int:
        await trio.lowlevel.checkpoint()  # where the adapter's HTTP call would be
        return message


class _Chains(Actor[int, int]):
    """The router actor's shape: a task per message, under the request's deadline."""

    def __init__(self, provider: ActorRef[int, int]) -> None:
        super().__init__()
        self.provider = provider

    async def receive(self, envelope: Envelope[int, int]) -> None:
        self.spawn(envelope, self.provider.ask, envelope.message, deadline=trio.current_time() + 70)


@asynccontextmanager
async def request_skeleton_server() -> Any:
    async with trio.open_nursery() as nursery:
        provider: ActorRef[int, int] = await nursery.start(_Attempts().run)
        router: ActorRef[int, int] = await nursery.start(_Chains(provider).run)
        yield router.ask
        nursery.cancel_scope.cancel()


CASES: dict[str, Callable[[], AbstractAsyncContextManager[Call]]] = {
    "memory channel": memory_channel_server,
    "Event + slot": event_slot_server,
    "Envelope, no timeout": envelope_server,
    "ActorRef.call": actor_call_server,
    "request skeleton": request_skeleton_server,
}

# -- measuring -----------------------------------------------------------------------------------


async def measure(case: str, callers: int, messages: int) -> float:
    """CPU µs per message for ``messages`` round trips spread over ``callers`` tasks."""
    per_caller = messages // callers

    async def caller(call: Call) -> None:
        for i in range(per_caller):
            if await call(i) != i:
                raise AssertionError(f"{case}: wrong answer")

    async with CASES[case]() as call:
        for _ in range(min(per_caller, 100)):  # warm-up
            await call(0)
        cpu0 = time.process_time()
        async with trio.open_nursery() as nursery:
            for _ in range(callers):
                nursery.start_soon(caller, call)
        cpu = time.process_time() - cpu0
    return cpu / (per_caller * callers) * 1e6


async def run(rounds: int, messages: int) -> dict[tuple[str, int], list[float]]:
    results: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):
        for callers in CALLERS:
            for case in CASES:  # interleaved, so drift hits every case alike
                us = await measure(case, callers, messages)
                results.setdefault((case, callers), []).append(us)
    return results


def _cell(values: list[float]) -> str:
    return f"{median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def report(results: dict[tuple[str, int], list[float]]) -> None:
    headers = ["round trip", *(f"{c} caller{'s' if c > 1 else ''} µs/msg" for c in CALLERS)]
    headers += [f"/ channel ({c})" for c in CALLERS] + [f"/ Event+slot ({c})" for c in CALLERS]
    rows = []
    for case in CASES:
        row = [case, *(_cell(results[(case, c)]) for c in CALLERS)]
        for base in ("memory channel", "Event + slot"):
            for c in CALLERS:
                row.append(f"{median(results[(case, c)]) / median(results[(base, c)]):.2f}x")
        rows.append(row)
    print("\nCPU µs per message, median of rounds (min-max); ratios of medians")
    print_table(headers, rows)
    for c in CALLERS:
        call = median(results[("ActorRef.call", c)])
        envelope = median(results[("Envelope, no timeout", c)])
        slot = median(results[("Event + slot", c)])
        print(
            f"  {c:>3} caller(s): ActorRef.call costs {call - slot:+.1f} µs over Event + slot, "
            f"of which the call's timeout scope and bookkeeping {call - envelope:+.1f} µs"
        )
    skeleton = median(results[("request skeleton", max(CALLERS))])
    print(
        f"  request skeleton (two hops, a spawned task under a deadline at each), "
        f"{max(CALLERS)} callers: {skeleton:.1f} µs per request:\n  the floor of the "
        "orchestrator's machinery under docs/design.md (benchmarks.md, overhead)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="actor round trip (see module docstring)")
    parser.add_argument("--quick", action="store_true", help="3 short rounds")
    parser.add_argument("--rounds", type=int, default=None, help="default 7; quick 3")
    parser.add_argument("--messages", type=int, default=None, help="per case and round")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 7)
    messages = args.messages or (5_000 if args.quick else 20_000)
    _server_cpu, client_cpu = split_cores()
    pin(client_cpu)
    print(describe_machine(None, client_cpu, server=False))
    print(
        f"{messages:,} messages per case and round, {rounds} rounds; mailbox capacity "
        f"{DEFAULT_CAPACITY}"
    )
    report(trio.run(run, rounds, messages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
