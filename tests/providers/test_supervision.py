"""Provider actor crashes: pending callers fail at once, restarts, marking down, health probes."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

import supervisors
from hafs_actors import AllProvidersFailed, GenerateRequest, GenerateResult
from hafs_actors.adapters import AdapterSettings, create_adapter
from hafs_actors.adapters.custom import NativeAdapter
from hafs_actors.config import RequestTimeouts, SupervisionSettings
from hafs_actors.testing.emulators import Emulator
from tests.orchestrator._helpers import (
    CountingAdapter,
    assert_quiescent,
    emulator_urls,
    names,
    running,
    served_by,
)

SCRIPTED = {"scripted": {"kind": "custom", "max_in_flight": 2, "mailbox_size": 8}}


async def test_crash_fails_every_pending_caller_at_once_then_restarts(
    autojump_clock: MockClock,
) -> None:
    adapter = CountingAdapter(latency=10.0, crash_latency=1.0)
    adapter.crash_next = 1
    async with running(custom={"scripted": adapter}, provider_changes=SCRIPTED) as (orch, _):
        failures: list[tuple[float, AllProvidersFailed]] = []

        async def call() -> None:
            try:
                await orch.generate("hi", provider="scripted", allow_fallback=False)
            except AllProvidersFailed as exc:
                failures.append((trio.current_time(), exc))

        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(call)
            await trio.sleep(0.5)
            stats = orch.status().providers["scripted"]
            # two attempts run (max_in_flight=2), one waits for a slot, two wait in the mailbox
            assert adapter.active == 2
            assert stats.in_flight == 3
            assert stats.mailbox_depth == 2

        assert len(failures) == 5
        # the crash happened at start + 1; nobody waited for the in-flight call's 10 seconds
        assert {t - start for t, _ in failures} == {1.0}
        for _, exc in failures:
            assert names(exc.attempts) == [("scripted", "ActorCrashed")]
        assert adapter.calls == 2  # the queued requests never reached the broken incarnation

        await trio.sleep(1.0)  # restart backoff (0.1 s .. 0.5 s)
        stats = orch.status().providers["scripted"]
        assert (stats.crashes, stats.restarts, stats.down) == (1, 1, False)
        # a registered instance outlives its incarnations: never closed at a restart
        assert (adapter.closed, adapter.initialized) == (0, 1)
        adapter.latency = 0.0
        result = await orch.generate("again", provider="scripted", allow_fallback=False)
        assert result.content == "[scripted/] client 1"
        await assert_quiescent(orch)
    assert adapter.closed == 1  # once, at the final shutdown


async def test_intensity_exceeded_marks_down_and_health_probe_brings_it_back(
    autojump_clock: MockClock,
) -> None:
    adapter = CountingAdapter()
    adapter.crash_all = True
    adapter.healthy = False
    supervision = SupervisionSettings(
        intensity=2, period=60.0, backoff_min=0.1, backoff_max=0.5, health_probe_interval=5.0
    )
    async with running(["gemini"], custom={"scripted": adapter}, supervision=supervision) as (
        orch,
        _,
    ):
        outcomes: list[str] = []
        for _ in range(20):
            if orch.status().providers["scripted"].down:
                break
            try:
                await orch.generate("x", provider="scripted", allow_fallback=False)
            except AllProvidersFailed as exc:
                outcomes.append(exc.attempts[-1].outcome)
            await trio.sleep(1.0)
        status = orch.status()
        assert status.down == ("scripted",)
        assert status.providers["scripted"].down
        assert outcomes.count("ActorCrashed") == 3  # intensity 2: the third crash gives up
        assert status.providers["scripted"].crashes == 3
        assert status.running  # the orchestrator itself is unaffected

        # routing skips it, saying why; the rest of the chain serves the request
        result = await orch.generate("y", provider="scripted", tier="fast")
        assert served_by(result) == "gemini/gemini-3-flash-preview"
        assert result.attempts[0].outcome == "skipped"
        assert result.attempts[0].error == "marked down"
        with pytest.raises(AllProvidersFailed) as info:
            await orch.generate("z", provider="scripted", allow_fallback=False)
        assert [(a.provider, a.outcome, a.error) for a in info.value.attempts] == [
            ("scripted", "skipped", "marked down")
        ]

        calls = adapter.calls
        await trio.sleep(12.0)  # probes run but the provider is still unhealthy
        assert orch.status().providers["scripted"].down
        assert adapter.calls == calls  # probes use health(), not requests

        adapter.crash_all = False
        adapter.healthy = True
        for _ in range(60):
            if not orch.status().providers["scripted"].down:
                break
            await trio.sleep(1.0)
        assert orch.status().down == ()
        result = await orch.generate("back", provider="scripted", allow_fallback=False)
        assert served_by(result) == "scripted/"
        await assert_quiescent(orch)


class FlakyHttpAdapter(NativeAdapter):
    """A real OpenAI adapter (its own httpx client per incarnation) with a bug on command."""

    def __init__(self, settings: AdapterSettings) -> None:
        self.settings = settings
        self.provider = "flaky"
        self.break_on_call: set[int] = set()
        self.calls = 0
        self.clients: list[int] = []
        self._inner = create_adapter("openai", settings)

    async def initialize(self) -> None:
        self._inner = create_adapter("openai", self.settings)
        await self._inner.initialize()
        self.clients.append(id(self._inner))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        self.calls += 1
        result = await self._inner.generate(request)
        if self.calls in self.break_on_call:
            raise KeyError("an unexpected bug after the HTTP call")
        return result


async def test_unexpected_adapter_exception_crashes_restarts_and_falls_back(
    autojump_clock: MockClock,
) -> None:
    async with running(["openai", "gemini"]) as (orch, emus):
        url = emulator_urls(emus)["openai"]
        flaky = FlakyHttpAdapter(
            AdapterSettings(base_url=url, api_key="emulator-key", default_model="gpt-4o-mini")
        )
        flaky.break_on_call = {2}
        # a factory: each incarnation gets its own adapter object (here the same one, whose
        # initialize() builds a fresh client), so a restart starts from a fresh client
        orch.register_adapter("flaky", lambda: flaky)
        chain = [("flaky", "gpt-4o-mini"), ("gemini", "gemini-2.5-flash")]
        results = [await orch.generate("q", fallback_providers=chain) for _ in range(3)]
        await trio.sleep(1.0)
        results += [await orch.generate("q", fallback_providers=chain) for _ in range(2)]

    served = [served_by(r) for r in results]
    assert served[0] == "openai/gpt-4o-mini"
    assert served[1] == "gemini/gemini-2.5-flash"
    assert names(results[1].attempts) == [("flaky", "ActorCrashed"), ("gemini", "ok")]
    assert results[1].fallback_used
    # right after the crash the actor is restarting: the chain moves on without waiting
    assert served[2] == "gemini/gemini-2.5-flash"
    assert names(results[2].attempts)[0] == ("flaky", "ActorStopped")
    assert served[3:] == ["openai/gpt-4o-mini"] * 2
    assert len(set(flaky.clients)) == 2  # the restart built a fresh client
    restarts = [
        e
        for _, p, e in orch.supervisor_events
        if p == "flaky" and isinstance(e, supervisors.ChildRestarted)
    ]
    assert len(restarts) == 1


def _total_requests(emu: Emulator) -> int:
    return emu.stats().count()


async def test_actor_statistics_snapshot_is_frozen_and_complete(autojump_clock: MockClock) -> None:
    async with running(["openai"]) as (orch, emus):
        await orch.generate("hello", provider="openai", model="gpt-4o-mini")
        stats = orch.status().providers["openai"]
        with pytest.raises(AttributeError):
            stats.requests = 0  # type: ignore[misc]
        assert stats.ready
        assert not stats.down
        assert (stats.requests, stats.successes, stats.failures) == (1, 1, 0)
        assert stats.input_tokens > 0
        assert stats.output_tokens > 0
        assert stats.breaker.state.value == "closed"
        assert "gpt-4o-mini" in stats.limiters  # OpenAI meters per model
        assert stats.connections is not None
        assert stats.connections.idle == 1
        assert stats.mailbox_capacity == 1024
        assert _total_requests(emus["openai"]) == 1


async def test_a_slow_health_check_counts_as_unhealthy(autojump_clock: MockClock) -> None:
    adapter = CountingAdapter()
    adapter.crash_all = True
    supervision = SupervisionSettings(
        intensity=0, period=60.0, backoff_min=0.1, backoff_max=0.5, health_probe_interval=5.0
    )
    timeouts = RequestTimeouts(health_check_timeout=2.0)
    async with running(
        ["gemini"], custom={"scripted": adapter}, supervision=supervision, timeouts=timeouts
    ) as (orch, _):
        with pytest.raises(AllProvidersFailed):
            await orch.generate("x", provider="scripted", allow_fallback=False)
        await trio.sleep(1.0)
        assert orch.status().down == ("scripted",)
        adapter.crash_all = False
        adapter.health_delay = 3.0  # healthy, but slower than the configured check timeout
        await trio.sleep(40.0)
        assert orch.status().down == ("scripted",)
        adapter.health_delay = 1.0
        await trio.sleep(70.0)  # the probe interval has doubled meanwhile
        assert orch.status().down == ()
