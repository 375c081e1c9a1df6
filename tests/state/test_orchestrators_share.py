"""Two orchestrators configured with one ``[state] redis_url`` share a provider's quota end to
end: the emulator counts what reaches it."""

from __future__ import annotations

import trio

from hafs_actors import UnifiedOrchestrator
from hafs_actors.config import HafsConfig, ProviderLimits
from hafs_actors.state import StateSettings
from hafs_actors.testing import emulated_config
from hafs_actors.testing.emulators import EmulatorConfig, open_emulators

from .conftest import RedisServer

RPM = 120  # 2 per second
SECONDS = 3.0


async def _served(redis_url: str | None) -> int:
    """Requests the emulator answered while two orchestrators pushed for SECONDS."""
    async with open_emulators(["openai"], config=EmulatorConfig()) as emus:
        base = emulated_config(emus)
        openai = base.providers["openai"]
        config = HafsConfig(
            providers={**base.providers, "openai": _limited(openai)},
            state=StateSettings(redis_url=redis_url, share=2),
        )
        async with UnifiedOrchestrator(config) as a, UnifiedOrchestrator(config) as b:
            with trio.move_on_after(SECONDS):
                async with trio.open_nursery() as nursery:
                    for orch in (a, b):
                        for _ in range(8):
                            nursery.start_soon(_push, orch)
        return emus["openai"].stats().count(status=200)


def _limited(provider: object) -> object:
    import attrs

    return attrs.evolve(provider, limits=ProviderLimits(rpm=RPM))  # type: ignore[misc]


async def _push(orch: UnifiedOrchestrator) -> None:
    while True:
        await orch.generate("q", provider="openai", model="gpt-4o-mini", allow_fallback=False)


async def test_two_orchestrators_share_one_quota_on_redis(redis: RedisServer) -> None:
    shared = await _served(redis.url)
    alone = await _served(None)
    per_process = RPM / 60 * SECONDS  # each process alone may send this many (plus its burst)
    assert shared <= per_process + 2, shared
    assert alone > shared, (alone, shared)  # without Redis each process takes the full quota
