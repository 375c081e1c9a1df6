"""Several deployments of one provider: each its own actor, balanced, failing over within the
group before the next provider; status shows each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from trio.testing import MockClock

from hafs_actors import UnifiedOrchestrator
from hafs_actors.config import DeploymentConfig, HafsConfig, ProviderConfig
from hafs_actors.testing.emulators import Emulator, Fault, FaultPlan, open_emulator
from tests.orchestrator._helpers import NO_RETRIES, TIMEOUTS, emulator_config


@asynccontextmanager
async def two_deployments(
    east_faults: FaultPlan | None = None, *, weights: tuple[float, float] = (1.0, 1.0)
) -> AsyncIterator[tuple[UnifiedOrchestrator, Emulator, Emulator, Emulator]]:
    east_config = emulator_config(faults=east_faults) if east_faults else emulator_config()
    async with (
        open_emulator("openai", config=east_config) as east,
        open_emulator("openai", config=emulator_config()) as west,
        open_emulator("gemini", config=emulator_config()) as gemini,
    ):
        openai = ProviderConfig(
            name="openai",
            api_key=east.api_key,
            deployments=[
                DeploymentConfig(name="east", base_url=east.base_url + "/v1", weight=weights[0]),
                DeploymentConfig(name="west", base_url=west.base_url + "/v1", weight=weights[1]),
            ],
        )
        other = ProviderConfig(
            name="gemini", api_key=gemini.api_key, base_url=gemini.base_url + "/v1beta"
        )
        config = HafsConfig(providers=[openai, other], timeouts=TIMEOUTS, retry=NO_RETRIES)
        async with UnifiedOrchestrator(config) as orch:
            yield orch, east, west, gemini


CHAIN = ["openai:gpt-4o-mini", "gemini:gemini-2.5-flash"]


async def test_requests_are_balanced_over_deployments(autojump_clock: MockClock) -> None:
    async with two_deployments() as (orch, east, west, _):

        async def one() -> None:
            await orch.generate("q", fallback_providers=CHAIN)

        async with trio.open_nursery() as nursery:
            for _ in range(40):
                nursery.start_soon(one)
        status = orch.status()
    assert {"openai@east", "openai@west"} <= set(status.providers)
    served = (east.stats().count(status=200), west.stats().count(status=200))
    assert sum(served) == 40
    assert min(served) >= 10, served  # both take a share (was 40 of 40 on the first)


async def test_a_failing_deployment_fails_over_within_the_group(
    autojump_clock: MockClock,
) -> None:
    down = FaultPlan([Fault(kind="http_error", status=500)])
    async with two_deployments(down, weights=(10.0, 1.0)) as (orch, _, _, gemini):
        result = await orch.generate("q", fallback_providers=CHAIN)
    # east is tried first (weight 10), fails, then west, before gemini is ever asked
    assert [(a.provider, a.deployment, a.outcome) for a in result.attempts] == [
        ("openai", "east", "ServerError"),
        ("openai", "west", "ok"),
    ]
    assert result.provider == "openai"
    assert gemini.stats().count() == 0
