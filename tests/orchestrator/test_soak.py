"""A randomized soak: thousands of requests with random faults and random caller cancellations.

A seeded generator draws each request (generate, stream or embed; its chain; when it starts;
whether and when its caller gives up) against two emulators with random 5xx, 429s, hangs, cut
and failing streams, and an in-memory provider whose adapter randomly raises typed errors and
crashes (so its actor restarts, and may be marked down and probed back). Virtual time under
MockClock; a few seconds of real time.

Checked: every request has exactly one outcome (a result, a typed error, or the caller's own
cancellation), and they add up; the router's counters agree; no task outlives the orchestrator
(trio instrumentation: every task spawned during the run has exited once it closes); no permit
is left held; mailboxes never grow past their capacity.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import attrs
import trio
from trio.testing import MockClock

from hafs_actors import (
    EmbeddingResult,
    EmbedRequest,
    GenerateRequest,
    GenerateResult,
    HafsError,
    RateLimitError,
    ServerError,
    UnifiedOrchestrator,
)
from hafs_actors.adapters.custom import NativeAdapter
from hafs_actors.config import (
    BreakerSettings,
    ProviderLimits,
    RequestTimeouts,
    RetrySettings,
    SupervisionSettings,
)
from hafs_actors.testing.emulators import Fault, FaultPlan, LatencyModel
from tests.orchestrator._helpers import emulator_config, leaks, running

REQUESTS = 2000
SEED = 20240611


class ChaosAdapter(NativeAdapter):
    """In memory: random latency, random typed errors and random crashes (bugs)."""

    supports_embeddings = True

    def __init__(self, rng: random.Random) -> None:
        self.provider = "mem"
        self.rng = rng
        self.crashes = 0

    async def _work(self, model: str) -> None:
        await trio.sleep(self.rng.choice([0.0, 0.05, 0.3, 1.0]))
        roll = self.rng.random()
        if roll < 0.01:
            self.crashes += 1
            raise RuntimeError("chaos: a bug in the adapter")
        if roll < 0.06:
            raise ServerError("chaos: 500", provider="mem", model=model, status=500)
        if roll < 0.08:
            raise RateLimitError("chaos: 429", provider="mem", model=model, retry_after=0.5)

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        await self._work(request.model)
        return GenerateResult(content="[mem] ok", provider="mem", model=request.model)

    async def embed(self, request: EmbedRequest) -> EmbeddingResult:
        await self._work(request.model)
        return EmbeddingResult(vectors=[[1.0] for _ in request.texts], provider="mem", model="m")


@attrs.frozen
class Plan:
    kind: str
    chain: tuple[tuple[str, str | None], ...]
    start: float
    cancel_after: float | None


CHAINS: Sequence[tuple[tuple[str, str | None], ...]] = (
    (("openai", "gpt-4o-mini"), ("gemini", "gemini-2.5-flash")),
    (("gemini", "gemini-2.5-flash"), ("mem", None)),
    (("mem", None), ("openai", "gpt-4o-mini")),
    (("mem", None),),
    (("openai", "gpt-4o-mini"),),
)


def plans(rng: random.Random) -> list[Plan]:
    out = []
    for _ in range(REQUESTS):
        kind = rng.choices(["generate", "stream", "embed"], weights=[70, 20, 10])[0]
        chain = rng.choice(CHAINS)
        if kind == "stream":
            chain = tuple(step for step in chain if step[0] != "mem") or CHAINS[0]
        cancel = rng.uniform(0.0, 1.5) if rng.random() < 0.15 else None
        out.append(Plan(kind, chain, rng.uniform(0.0, 20.0), cancel))
    return out


def chaos_faults(seed: int) -> FaultPlan:
    return FaultPlan(
        [
            Fault(kind="http_error", status=500, probability=0.04),
            Fault(kind="rate_limit", retry_after=1, probability=0.02),
            Fault(kind="hang", probability=0.01),
            Fault(kind="drop", probability=0.01),
            Fault(kind="stream_error", after_chunks=4, probability=0.05),
        ],
        seed=seed,
    )


class TaskLedger(trio.abc.Instrument):
    """Every task spawned while installed, and which of them are still alive."""

    def __init__(self) -> None:
        self.alive: dict[trio.lowlevel.Task, str] = {}
        self.spawned = 0
        self.exited = 0
        self.peak = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.alive[task] = task.name
        self.spawned += 1
        self.peak = max(self.peak, len(self.alive))

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        if self.alive.pop(task, None) is not None:
            self.exited += 1

    def runtime_tasks(self) -> list[str]:
        """Live tasks of the runtime itself (the emulators' are the harness's)."""
        return [
            name
            for name in self.alive.values()
            if name.startswith(("hafs_actors", "supervisors"))
            and not name.startswith("hafs_actors.testing.emulators")
        ]


async def test_soak_every_request_gets_exactly_one_outcome(autojump_clock: MockClock) -> None:
    rng = random.Random(SEED)
    batch = plans(rng)
    chaos = ChaosAdapter(random.Random(SEED + 1))
    latency = LatencyModel(ttft_median=0.2, ttft_p99=1.0, tokens_per_second=100.0)
    emulators = {
        "openai": emulator_config(latency=latency, faults=chaos_faults(1), reply_tokens=(5, 30)),
        "gemini": emulator_config(latency=latency, faults=chaos_faults(2), reply_tokens=(5, 30)),
    }
    limits: dict[str, Any] = {"limits": ProviderLimits(rpm=1200, max_concurrency=24)}
    breaker: dict[str, Any] = {"breaker": BreakerSettings(minimum_calls=10, open_duration=2.0)}
    changes: dict[str, dict[str, Any]] = {
        "openai": limits | breaker,
        "gemini": limits | breaker,
        "mem": {"kind": "custom", "mailbox_size": 64, "max_in_flight": 16} | breaker,
    }
    ledger = TaskLedger()
    trio.lowlevel.add_instrument(ledger)
    outcomes: Counter[str] = Counter()
    samples = {"router_depth": 0, "provider_depth": 0, "over_capacity": 0}

    try:
        async with running(
            ["openai", "gemini"],
            emulators=emulators,
            custom={"mem": chaos},
            provider_changes=changes,
            timeouts=RequestTimeouts(
                request_deadline=6.0,
                attempt_timeout=2.0,
                stream_ttft_timeout=2.0,
                stream_idle_timeout=2.0,
                shutdown_grace=1.0,
            ),
            retry=RetrySettings(max_retries_per_candidate=1, base_delay=0.1, max_delay=0.5),
            supervision=SupervisionSettings(
                intensity=3,
                period=10.0,
                backoff_min=0.05,
                backoff_max=0.2,
                health_probe_interval=2.0,
            ),
        ) as (orch, _):

            async def request(plan: Plan) -> None:
                await trio.sleep(plan.start)
                finished = False
                with trio.CancelScope() as scope:
                    if plan.cancel_after is not None:
                        scope.deadline = trio.current_time() + plan.cancel_after
                    try:
                        await run(orch, plan)
                    except HafsError as exc:
                        outcomes["error"] += 1
                        outcomes[f"error:{type(exc).__name__}"] += 1
                    else:
                        outcomes["ok"] += 1
                    finished = True
                if not finished:
                    outcomes["cancelled"] += 1

            async def monitor() -> None:
                while True:
                    status = orch.status()
                    router = status.router
                    samples["router_depth"] = max(samples["router_depth"], router.mailbox_depth)
                    for stats in status.providers.values():
                        depth = stats.mailbox_depth
                        samples["provider_depth"] = max(samples["provider_depth"], depth)
                        if depth > stats.mailbox_capacity:
                            samples["over_capacity"] += 1
                    if router.mailbox_depth > router.mailbox_capacity:
                        samples["over_capacity"] += 1
                    await trio.sleep(0.1)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(monitor)
                async with trio.open_nursery() as callers:
                    for plan in batch:
                        callers.start_soon(request, plan)
                nursery.cancel_scope.cancel()

            await trio.sleep(3.0)  # let cancelled attempts unwind and restarts settle
            final = orch.status()
            assert leaks(final) == []
        # the orchestrator is closed: none of its tasks may still run
        await trio.sleep(0.5)
        assert ledger.runtime_tasks() == []
    finally:
        trio.lowlevel.remove_instrument(ledger)

    # every request: exactly one outcome
    assert outcomes["ok"] + outcomes["error"] + outcomes["cancelled"] == REQUESTS
    assert outcomes["ok"] > REQUESTS // 2
    assert outcomes["error"] > 0
    assert outcomes["cancelled"] > 0
    assert set(k for k in outcomes if k.startswith("error:")) <= {
        "error:AllProvidersFailed",
        "error:StreamInterruptedError",
    }
    router = final.router
    assert router.in_flight == 0
    assert router.succeeded == outcomes["ok"]
    assert router.failed == outcomes["error"]
    assert router.requests == REQUESTS - cancelled_before_routing(outcomes, router.requests)
    # the chaos really happened
    assert chaos.crashes > 0
    assert final.providers["mem"].crashes == chaos.crashes
    assert final.providers["openai"].breaker.failures > 0
    # no task leaked, and memory stayed bounded
    assert ledger.alive == {}  # emulators closed too: everything spawned has exited
    assert ledger.spawned == ledger.exited
    assert samples["over_capacity"] == 0
    # beyond the callers themselves, the runtime's tasks stay in proportion to what is in flight
    assert ledger.peak - REQUESTS < 600


def cancelled_before_routing(outcomes: Counter[str], routed: int) -> int:
    """Requests whose caller left before the router saw them (at most the cancelled ones)."""
    missing = REQUESTS - routed
    assert 0 <= missing <= outcomes["cancelled"]
    return missing


async def run(orch: UnifiedOrchestrator, plan: Plan) -> None:
    if plan.kind == "generate":
        await orch.generate("soak", fallback_providers=plan.chain)
    elif plan.kind == "embed":
        chain = tuple((p, None) for p, _ in plan.chain)  # each provider's embedding model
        await orch.embed(text="soak", fallback_providers=chain)
    else:
        async with orch.stream("soak", fallback_providers=plan.chain) as stream:
            async for _ in stream:
                pass
