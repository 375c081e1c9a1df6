"""Running emulators in-process: :func:`open_emulator` and :func:`open_emulators`.

Each emulator listens on a real loopback socket and is served by tasks in a nursery that lives
inside the ``async with`` block, so it stops (connections included) when the block exits and a
crash surfaces in the caller. Delays use trio's clock: under ``MockClock(autojump_threshold=0)``
a test with realistic latency runs instantly and still observes the planned timings.
"""

from __future__ import annotations

import errno
import random
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

import trio

from ..._groups import unwrap_single_exception
from .config import EmulatorConfig
from .core import EmulatorCore
from .faults import FaultPlan
from .profiles import PROVIDERS
from .server import serve_listeners
from .stats import EmulatorStats

__all__ = ["Emulator", "open_emulator", "open_emulators", "provider_env"]

_BACKLOG = 1024


class Emulator:
    """A running emulator: where it listens, what key it takes, its faults and counters."""

    def __init__(self, core: EmulatorCore, host: str, port: int) -> None:
        self._core = core
        self.provider = core.provider
        self.host = host
        self.port = port
        url_host = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{url_host}:{port}"

    def __repr__(self) -> str:
        return f"<Emulator {self.provider} at {self.base_url}>"

    @property
    def config(self) -> EmulatorConfig:
        return self._core.config

    @property
    def api_key(self) -> str:
        """The key this emulator accepts (a dummy; never a real provider key)."""
        return self._core.config.api_key

    @property
    def faults(self) -> FaultPlan:
        return self._core.faults

    def set_faults(self, plan: FaultPlan) -> None:
        """Replace the fault plan (and quota) at run time; counters of the old plan are dropped."""
        self._core.set_faults(plan)

    def stats(self) -> EmulatorStats:
        return self._core.stats.snapshot()

    def reset_stats(self) -> None:
        self._core.stats.reset()

    def env(self) -> dict[str, str]:
        """Environment variables that point the provider's SDK (and hafs) at this emulator."""
        require_auth = self._core.protocol.settings.require_auth
        return provider_env(self.provider, self.base_url, self.api_key, require_auth)


def provider_env(provider: str, url: str, key: str, require_auth: bool) -> dict[str, str]:
    """The SDKs' environment variables for an emulator at ``url`` (OpenAI's includes ``/v1``)."""
    if provider == "openai":
        return {"OPENAI_BASE_URL": f"{url}/v1", "OPENAI_API_KEY": key}
    if provider == "anthropic":
        return {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": key}
    if provider == "gemini":
        return {
            "GEMINI_BASE_URL": url,
            "GOOGLE_GEMINI_BASE_URL": url,
            "GEMINI_API_KEY": key,
            "GOOGLE_API_KEY": key,
        }
    if provider == "ollama":
        return {"OLLAMA_HOST": url}
    env = {"LLAMACPP_BASE_URL": url}
    if require_auth:
        env["LLAMACPP_API_KEY"] = key
    return env


def _check_providers(providers: Iterable[str] | None) -> list[str]:
    names: list[str] = list(PROVIDERS) if providers is None else list(providers)
    unknown = [name for name in names if name not in PROVIDERS]
    if unknown:
        raise ValueError(f"unknown provider(s) {unknown}; expected some of {', '.join(PROVIDERS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"each provider may appear once, got {names}")
    return names


async def _close_all(listener_lists: Iterable[list[trio.SocketListener]]) -> None:
    for listeners in listener_lists:
        for listener in listeners:
            await trio.aclose_forcefully(listener)


async def _bind(count: int, host: str, port: int | None) -> list[list[trio.SocketListener]]:
    """Listeners for ``count`` emulators: ports ``port..port+count-1``, any free ports (0), or
    (None) a free range of consecutive ports."""
    if port is not None:
        bound: list[list[trio.SocketListener]] = []
        try:
            for index in range(count):
                bound.append(
                    await trio.open_tcp_listeners(
                        port + index if port else 0, host=host, backlog=_BACKLOG
                    )
                )
        except BaseException:
            await _close_all(bound)
            raise
        return bound
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 60_000 - count)
        bound = []
        try:
            for index in range(count):
                bound.append(
                    await trio.open_tcp_listeners(base + index, host=host, backlog=_BACKLOG)
                )
        except OSError as exc:
            await _close_all(bound)
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        except BaseException:
            await _close_all(bound)
            raise
        return bound
    raise OSError(errno.EADDRINUSE, f"no free range of {count} consecutive ports on {host}")


@asynccontextmanager
async def open_emulators(
    providers: Iterable[str] | None = None,
    *,
    configs: Mapping[str, EmulatorConfig] | None = None,
    config: EmulatorConfig | None = None,
    host: str = "127.0.0.1",
    port: int | None = 0,
) -> AsyncIterator[dict[str, Emulator]]:
    """Serve several emulators (all five by default) for the duration of the block.

    ``configs`` gives a config per provider, ``config`` the default for the rest. ``port=0``
    picks free ports, ``port=P`` uses ``P, P+1, ...`` in order, ``port=None`` a free range of
    consecutive ports.
    """
    names = _check_providers(providers)
    configs = dict(configs or {})
    stray = set(configs) - set(names)
    if stray:
        raise ValueError(f"configs given for providers not started: {sorted(stray)}")
    now = trio.current_time()
    cores = [EmulatorCore(n, configs.get(n, config or EmulatorConfig()), now=now) for n in names]
    listener_lists = await _bind(len(names), host, port)
    emulators: dict[str, Emulator] = {}
    # The nursery is an implementation detail: the caller's own exception leaves unwrapped.
    async with unwrap_single_exception(), trio.open_nursery() as nursery:
        for name, core, listeners in zip(names, cores, listener_lists, strict=True):
            # serve_listeners owns (and closes) the listeners from here on.
            await nursery.start(serve_listeners, core, listeners)
            bound_port = listeners[0].socket.getsockname()[1]
            emulators[name] = Emulator(core, host, bound_port)
        try:
            yield emulators
        finally:
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def open_emulator(
    provider: str,
    *,
    config: EmulatorConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[Emulator]:
    """Serve one emulated provider on ``host:port`` (``port=0``: a free port) during the block."""
    async with open_emulators(
        [provider], configs={provider: config or EmulatorConfig()}, host=host, port=port
    ) as emulators:
        yield emulators[provider]
