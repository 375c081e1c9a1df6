"""Callers cancelled at random points never leak a limiter slot, a breaker permit or a connection.

Hypothesis draws a batch of requests (generate, stream, embed), each started at some time and
cancelled at some later time (or never), against emulators with latency, random 5xx and hangs,
a tight rate limit (so some callers are cancelled while waiting for the limiter) and a breaker
that trips and probes. Once everything has ended, every counter that holds a permit must be back
to zero: actor in-flight and mailbox, limiter in-flight and waiters, breaker half-open probes,
and the connections of each adapter's pool.
"""

from __future__ import annotations

from collections import Counter

import attrs
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from hafs_actors import HafsError
from hafs_actors.config import BreakerSettings, ProviderLimits, RequestTimeouts
from hafs_actors.testing.emulators import Fault, FaultPlan, LatencyModel
from tests.orchestrator._helpers import emulator_config, leaks, running


@attrs.frozen
class Call:
    kind: str  # "generate", "stream" or "embed"
    provider: str
    start: float
    cancel_after: float | None  # None: never cancelled


calls = st.builds(
    Call,
    kind=st.sampled_from(["generate", "generate", "stream", "embed"]),
    provider=st.sampled_from(["openai", "gemini"]),
    start=st.floats(0.0, 3.0),
    cancel_after=st.one_of(st.none(), st.floats(0.0, 4.0)),
)

FAULTS = FaultPlan(
    [
        Fault(kind="hang", probability=0.03),
        Fault(kind="http_error", status=500, probability=0.15),
        Fault(kind="stream_error", after_chunks=3, probability=0.1),
    ],
    seed=7,
)
LATENCY = LatencyModel(ttft_median=0.4, ttft_p99=1.5, tokens_per_second=25.0)
BREAKER = BreakerSettings(minimum_calls=4, window=10.0, open_duration=0.5, half_open_max_calls=3)
TIMEOUTS = RequestTimeouts(request_deadline=20.0, attempt_timeout=3.0, shutdown_grace=1.0)


async def run_batch(batch: list[Call]) -> Counter[str]:
    emulators = {
        name: emulator_config(latency=LATENCY, faults=FAULTS, reply_tokens=(20, 40))
        for name in ("openai", "gemini")
    }
    changes = {
        name: {"limits": ProviderLimits(rpm=40, max_concurrency=3), "breaker": BREAKER}
        for name in ("openai", "gemini")
    }
    outcomes: Counter[str] = Counter()
    async with running(
        ["openai", "gemini"], emulators=emulators, provider_changes=changes, timeouts=TIMEOUTS
    ) as (orch, _):

        async def one(call: Call) -> None:
            await trio.sleep(call.start)
            done = False
            with trio.CancelScope() as scope:
                if call.cancel_after is not None:
                    scope.deadline = trio.current_time() + call.cancel_after
                try:
                    if call.kind == "generate":
                        await orch.generate("hello", provider=call.provider, timeout=20.0)
                    elif call.kind == "embed":
                        await orch.embed(text="hello", provider=call.provider, timeout=20.0)
                    else:
                        async with orch.stream("hello", provider=call.provider, timeout=20.0) as s:
                            async for _ in s:
                                pass
                except HafsError:
                    outcomes["error"] += 1
                else:
                    outcomes["ok"] += 1
                done = True
            if not done:
                assert scope.cancelled_caught
                outcomes["cancelled"] += 1

        async with trio.open_nursery() as nursery:
            for call in batch:
                nursery.start_soon(one, call)
        await trio.sleep(2.0)  # let cancelled attempts unwind
        status = orch.status()
        found = leaks(status)
        assert not found, found
        for stats in status.providers.values():
            outcomes["breaker_cancelled"] += stats.breaker.cancelled
            outcomes["limiter_cancelled"] += sum(lim.cancelled for lim in stats.limiters.values())
    assert outcomes["ok"] + outcomes["error"] + outcomes["cancelled"] == len(batch)
    return outcomes


@settings(max_examples=40)
@given(st.lists(calls, min_size=1, max_size=30))
def test_random_cancellation_leaks_no_permit(batch: list[Call]) -> None:
    trio.run(run_batch, batch, clock=trio.testing.MockClock(autojump_threshold=0))


def test_the_scenario_really_cancels_at_every_stage() -> None:
    """A fixed dense batch: callers are cancelled while queued, waiting, mid-call and mid-stream."""
    batch = [
        Call(kind=kind, provider=provider, start=i * 0.01, cancel_after=(i % 5) * 0.4)
        for i, (kind, provider) in enumerate(
            [("generate", "openai"), ("stream", "gemini"), ("embed", "gemini")] * 20
        )
    ]
    outcomes = trio.run(run_batch, batch, clock=trio.testing.MockClock(autojump_threshold=0))
    assert outcomes["cancelled"] > 10
    assert outcomes["ok"] >= 3
    assert outcomes["limiter_cancelled"] > 0  # some were cancelled while waiting for a slot
    assert outcomes["breaker_cancelled"] > 0  # some were cancelled holding a breaker permit
