"""Callers cancelled at random points never leak a limiter slot, a breaker permit or a connection.

Hypothesis draws a batch of requests (generate, stream, embed), each started at some time and
cancelled at some later time (or never), against emulators with latency, random 5xx and hangs,
a tight rate limit (so some callers are cancelled while waiting for the limiter) and a breaker
that trips and probes. Once everything has ended, every counter that holds a permit must be back
to zero: actor in-flight and mailbox, limiter in-flight and waiters, breaker half-open probes,
and the connections of each adapter's pool.
"""

from __future__ import annotations

import attrs
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from hafs_actors import HafsError
from hafs_actors.config import BreakerSettings, ProviderLimits
from hafs_actors.emulator import Fault, FaultPlan, LatencyModel
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
        Fault(kind="hang", probability=0.05),
        Fault(kind="http_error", status=500, probability=0.25),
        Fault(kind="stream_error", after_chunks=3, probability=0.2),
    ],
    seed=7,
)
LATENCY = LatencyModel(ttft_median=0.4, ttft_p99=1.5, tokens_per_second=25.0)
BREAKER = BreakerSettings(minimum_calls=4, window=10.0, open_duration=1.0, half_open_max_calls=2)


async def run_batch(batch: list[Call]) -> dict[str, int]:
    emulators = {
        name: emulator_config(latency=LATENCY, faults=FAULTS, reply_tokens=(20, 40))
        for name in ("openai", "gemini")
    }
    changes = {
        name: {"limits": ProviderLimits(rpm=12), "breaker": BREAKER}
        for name in ("openai", "gemini")
    }
    outcomes = {"ok": 0, "error": 0, "cancelled": 0}
    async with running(
        ["openai", "gemini"], emulators=emulators, provider_changes=changes
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
        assert leaks(orch.status()) == []
    assert sum(outcomes.values()) == len(batch)
    return outcomes


@settings(max_examples=30)
@given(st.lists(calls, min_size=1, max_size=30))
def test_random_cancellation_leaks_no_permit(batch: list[Call]) -> None:
    trio.run(run_batch, batch, clock=trio.testing.MockClock(autojump_threshold=0))


def test_the_scenario_really_cancels_at_every_stage() -> None:
    """A fixed dense batch: callers are cancelled while queued, waiting, mid-call and mid-stream."""
    batch = [
        Call(kind=kind, provider=provider, start=i * 0.05, cancel_after=(i % 7) * 0.3)
        for i, (kind, provider) in enumerate(
            [("generate", "openai"), ("stream", "gemini"), ("embed", "gemini")] * 20
        )
    ]
    outcomes = trio.run(run_batch, batch, clock=trio.testing.MockClock(autojump_threshold=0))
    assert outcomes["cancelled"] > 10
    assert outcomes["ok"] > 3
