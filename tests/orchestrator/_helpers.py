"""The harness shared by the orchestrator and provider-actor tests.

Emulators run in-process on loopback sockets; the orchestrator is configured for them with short,
test-sized timeouts and supervision delays (every test runs under ``MockClock``, so the numbers
are virtual seconds). Replies carry a ``[provider/model]`` prefix, so a test can tell from the
text alone which emulator served it. ``assert_quiescent`` is the leak check: once nothing is in
flight every counter that holds a permit (mailboxes, actor slots, limiter slots and waiters,
breaker probes, pooled connections) must be back to zero.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from hafs_actors import (
    EmbeddingResult,
    EmbedRequest,
    GenerateRequest,
    GenerateResult,
    HafsConfig,
    HealthStatus,
    OrchestratorStatus,
    UnifiedOrchestrator,
)
from hafs_actors.adapters.custom import NativeAdapter
from hafs_actors.config import (
    ProviderConfig,
    RequestTimeouts,
    RetrySettings,
    SupervisionSettings,
)
from hafs_actors.testing.emulators import Emulator, EmulatorConfig, open_emulators
from tests._paths import USAGE  # docs/usage.md, whose examples must run as written

PREFIX = "[{provider}/{model}] "

#: Test-sized timings (virtual seconds under MockClock).
TIMEOUTS = RequestTimeouts(
    request_deadline=30.0,
    attempt_timeout=10.0,
    stream_ttft_timeout=5.0,
    stream_idle_timeout=5.0,
    shutdown_grace=2.0,
)
#: No same-candidate retries unless a test asks for them: fallbacks are then easy to count.
NO_RETRIES = RetrySettings(max_retries_per_candidate=0)
SUPERVISION = SupervisionSettings(
    intensity=3, period=30.0, backoff_min=0.1, backoff_max=0.5, health_probe_interval=5.0
)


def usage_blocks(language: str) -> list[str]:
    """docs/usage.md's fenced code blocks in ``language``, in order."""
    text = USAGE.read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def emulator_urls(emulators: Mapping[str, Emulator]) -> dict[str, str]:
    """Base URLs as the adapters expect them (OpenAI's includes ``/v1``)."""
    return {
        name: emu.base_url + ("/v1" if name == "openai" else "") for name, emu in emulators.items()
    }


def make_config(
    emulators: Mapping[str, Emulator],
    *,
    providers: Mapping[str, Mapping[str, Any]] | None = None,
    **kwargs: Any,
) -> HafsConfig:
    """``HafsConfig.for_emulators`` with test timings.

    ``providers`` changes provider configs by name; a name the emulators do not serve becomes a
    new ``ProviderConfig`` (e.g. ``kind="custom"`` for an adapter registered in code).
    """
    kwargs.setdefault("timeouts", TIMEOUTS)
    kwargs.setdefault("retry", NO_RETRIES)
    kwargs.setdefault("supervision", SUPERVISION)
    config = HafsConfig.for_emulators(emulator_urls(emulators), **kwargs)
    if providers:
        changed: dict[str, ProviderConfig] = dict(config.providers)
        for name, changes in providers.items():
            if name in changed:
                changed[name] = attrs.evolve(changed[name], **changes)
            else:
                changed[name] = ProviderConfig(name=name, **changes)
        config = attrs.evolve(config, providers=changed)
    return config


def emulator_config(**kwargs: Any) -> EmulatorConfig:
    kwargs.setdefault("reply_prefix", PREFIX)
    return EmulatorConfig(**kwargs)


@asynccontextmanager
async def running(
    providers: Sequence[str] = ("gemini", "openai"),
    *,
    emulators: Mapping[str, EmulatorConfig] | None = None,
    provider_changes: Mapping[str, Mapping[str, Any]] | None = None,
    custom: Mapping[str, object] | None = None,
    shutdown_grace: float | None = None,
    **config: Any,
) -> AsyncIterator[tuple[UnifiedOrchestrator, dict[str, Emulator]]]:
    """Emulators for ``providers`` and an orchestrator configured for exactly them.

    ``custom`` adapters are registered (under their key) before the orchestrator starts.
    """
    configs = {name: (emulators or {}).get(name, emulator_config()) for name in providers}
    async with open_emulators(providers, configs=configs) as emus:
        cfg = make_config(emus, providers=provider_changes, **config)
        orch = UnifiedOrchestrator(cfg, shutdown_grace=shutdown_grace)
        for name, adapter in (custom or {}).items():
            orch.register_adapter(name, adapter)
        async with orch:
            yield orch, emus


def served_by(result: GenerateResult) -> str:
    """``provider/model`` as the emulator wrote it into the reply."""
    assert result.content.startswith("["), result.content
    return result.content[1 : result.content.index("]")]


def leaks(status: OrchestratorStatus) -> list[str]:
    """Every counter that still holds something although nothing should be in flight."""
    found: list[str] = []
    if status.router.in_flight:
        found.append(f"router in_flight={status.router.in_flight}")
    for name, p in status.providers.items():
        if p.in_flight:
            found.append(f"{name}: actor in_flight={p.in_flight}")
        if p.mailbox_depth:
            found.append(f"{name}: mailbox_depth={p.mailbox_depth}")
        if p.breaker.half_open_in_flight:
            found.append(f"{name}: breaker half_open_in_flight={p.breaker.half_open_in_flight}")
        for key, lim in p.limiters.items():
            if lim.in_flight or lim.waiters:
                found.append(f"{name}[{key}]: limiter in_flight={lim.in_flight} w={lim.waiters}")
        conns = p.connections
        if conns is not None and (conns.in_use or conns.waiting):
            found.append(f"{name}: connections in_use={conns.in_use} waiting={conns.waiting}")
    return found


async def assert_quiescent(orch: UnifiedOrchestrator, settle: float = 1.0) -> None:
    """Let cancelled work unwind (virtual time), then require every permit to be back."""
    await trio.sleep(settle)
    assert leaks(orch.status()) == []


class CountingAdapter(NativeAdapter):
    """A native custom adapter whose behaviour a test scripts per call.

    ``latency`` is virtual seconds per call; ``crash_next`` makes the next calls raise a bug
    (an exception that is not a typed error), which crashes the provider actor; ``healthy``
    is what the health probe reports. Counts calls, concurrency and client generations.
    """

    supports_embeddings = True

    def __init__(
        self, name: str = "scripted", *, latency: float = 0.0, crash_latency: float | None = None
    ) -> None:
        self.provider = name
        self.latency = latency
        self.crash_latency = latency if crash_latency is None else crash_latency
        self.crash_next = 0
        self.crash_all = False
        self.healthy = True
        self.health_delay = 0.0
        self.calls = 0
        self.active = 0
        self.peak = 0
        self.initialized = 0
        self.closed = 0
        self.client_generation = 0
        self.client_open = False

    async def initialize(self) -> None:
        self.initialized += 1
        self.client_generation += 1
        self.client_open = True

    async def aclose(self) -> None:
        self.closed += 1
        self.client_open = False

    async def health(self) -> HealthStatus:
        await trio.sleep(self.health_delay)
        return HealthStatus(ok=self.healthy, detail="scripted")

    async def _work(self) -> int:
        if not self.client_open:
            raise RuntimeError("adapter used without an open client")
        self.calls += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        generation = self.client_generation
        try:
            if self.crash_all or self.crash_next > 0:
                self.crash_next = max(0, self.crash_next - 1)
                await trio.sleep(self.crash_latency)
                raise RuntimeError("bug in the scripted adapter")
            await trio.sleep(self.latency)
        finally:
            self.active -= 1
        return generation

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        generation = await self._work()
        return GenerateResult(
            content=f"[{self.provider}/{request.model}] client {generation}",
            provider=self.provider,
            model=request.model,
        )

    async def embed(self, request: EmbedRequest) -> EmbeddingResult:
        await self._work()
        return EmbeddingResult(
            vectors=[[float(len(t)), 1.0] for t in request.texts],
            provider=self.provider,
            model=request.model,
        )


def names(attempts: Iterable[Any]) -> list[tuple[str, str]]:
    """``(provider, outcome)`` of each attempt, for compact assertions."""
    return [(a.provider, a.outcome) for a in attempts]
