"""Point the orchestrator at the built-in emulators: zero configuration, no keys, no network.

``async with open_emulated_orchestrator() as (orch, emulators):`` starts the five emulators
in-process on random loopback ports and an orchestrator whose providers are exactly those
emulators. Used by ``hafs demo``, the ``--emulate`` flag of the CLI, examples and tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from .._groups import unwrap_single_exception
from ..config import HafsConfig
from ..orchestrator import UnifiedOrchestrator
from .emulators import Emulator, EmulatorConfig, open_emulators

__all__ = ["emulated_config", "emulator_base_url", "open_emulated_orchestrator"]

#: Path prefixes the adapters expect in a provider's base URL (as the official SDKs do).
_API_PREFIX = {"openai": "/v1", "gemini": "/v1beta"}


def emulator_base_url(provider: str, server_url: str) -> str:
    """The base URL a provider adapter needs for an emulator serving at ``server_url``."""
    return server_url.rstrip("/") + _API_PREFIX.get(provider, "")


def emulated_config(emulators: Mapping[str, Emulator], **kwargs: Any) -> HafsConfig:
    """A configuration whose providers are exactly ``emulators`` (others disabled).

    ``kwargs`` go to :class:`~hafs_actors.config.HafsConfig` (``routes=``, ``timeouts=``...).
    """
    keys = {emu.api_key for emu in emulators.values()}
    key = keys.pop() if len(keys) == 1 else next(iter(emulators.values())).api_key
    urls = {name: emulator_base_url(name, emu.base_url) for name, emu in emulators.items()}
    return HafsConfig.for_emulators(urls, api_key=key, **kwargs)


@asynccontextmanager
async def open_emulated_orchestrator(
    providers: Iterable[str] | None = None,
    *,
    configs: Mapping[str, EmulatorConfig] | None = None,
    config: EmulatorConfig | None = None,
    orchestrator_kwargs: Mapping[str, Any] | None = None,
    **config_kwargs: Any,
) -> AsyncIterator[tuple[UnifiedOrchestrator, dict[str, Emulator]]]:
    """Start emulators (all five by default) and an orchestrator routed to them."""
    async with (
        unwrap_single_exception(),
        open_emulators(providers, configs=configs, config=config) as emulators,
    ):
        hafs_config = emulated_config(emulators, **config_kwargs)
        async with UnifiedOrchestrator(hafs_config, **(orchestrator_kwargs or {})) as orch:
            yield orch, dict(emulators)
