"""Per-model behaviour of an emulated provider: latency and capabilities.

A :class:`LatencyModel` says how long the first token takes (a lognormal distribution given by
its median and 99th percentile, so a test or a demo can ask for "usually 400 ms, sometimes 2 s")
and how fast tokens follow. The emulator only *plans* delays from it; the server sleeps on its
own clock, so in-process tests run under trio's ``MockClock``.
"""

from __future__ import annotations

import math
import random
from typing import Literal

import attrs

__all__ = [
    "PROVIDERS",
    "LatencyModel",
    "ModelKind",
    "ModelProfile",
    "ProviderName",
    "default_profiles",
]

ProviderName = Literal["openai", "anthropic", "gemini", "ollama", "llamacpp"]
PROVIDERS: tuple[ProviderName, ...] = ("openai", "anthropic", "gemini", "ollama", "llamacpp")

ModelKind = Literal["chat", "embedding"]

# The standard normal quantile at 0.99: p99 = median * exp(Z99 * sigma) for a lognormal.
_Z99 = 2.3263478740408408


def _non_negative(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0 or math.isnan(value):
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class LatencyModel:
    """Time to first token (lognormal from median and p99) and streaming speed.

    ``ttft_p99=None`` means no spread (always the median). ``tokens_per_second=None`` means
    tokens follow the first one with no delay. :meth:`zero` is the throughput mode.
    """

    ttft_median: float = attrs.field(default=0.0, validator=_non_negative)
    ttft_p99: float | None = None
    tokens_per_second: float | None = None

    def __attrs_post_init__(self) -> None:
        if self.ttft_p99 is not None and self.ttft_p99 < self.ttft_median:
            raise ValueError(
                f"ttft_p99 ({self.ttft_p99}) must be >= ttft_median ({self.ttft_median})"
            )
        if self.tokens_per_second is not None and not self.tokens_per_second > 0:
            raise ValueError(f"tokens_per_second must be > 0, got {self.tokens_per_second!r}")

    @classmethod
    def zero(cls) -> LatencyModel:
        """No delays at all: for throughput runs and most tests."""
        return cls()

    @property
    def is_zero(self) -> bool:
        return self.ttft_median == 0.0 and self.tokens_per_second is None

    @property
    def sigma(self) -> float:
        """The lognormal shape parameter implied by median and p99."""
        if self.ttft_p99 is None or self.ttft_median <= 0.0 or self.ttft_p99 == self.ttft_median:
            return 0.0
        return math.log(self.ttft_p99 / self.ttft_median) / _Z99

    @property
    def token_interval(self) -> float:
        """Seconds between two streamed tokens."""
        return 0.0 if self.tokens_per_second is None else 1.0 / self.tokens_per_second

    def sample_ttft(self, rng: random.Random) -> float:
        """One draw of the time to first token."""
        if self.ttft_median <= 0.0:
            return 0.0
        sigma = self.sigma
        if sigma == 0.0:
            return self.ttft_median
        return rng.lognormvariate(math.log(self.ttft_median), sigma)

    def generation_time(self, output_tokens: int) -> float:
        """Time to produce ``output_tokens`` after the first token (non-streamed replies)."""
        return max(0, output_tokens - 1) * self.token_interval


@attrs.frozen
class ModelProfile:
    """One model an emulator serves: name, kind, limits and its realistic latency.

    The latency here is used when the emulator runs with ``latency="realistic"``; in the default
    zero mode it only feeds the nominal durations reported by Ollama and llama.cpp bodies.
    """

    name: str
    kind: ModelKind = "chat"
    latency: LatencyModel = attrs.field(factory=LatencyModel)
    context_window: int = 128_000
    max_output_tokens: int = 8_192
    embedding_dimensions: int = 768
    display_name: str | None = None


def _chat(
    name: str, ttft: float, p99: float, tps: float, context: int, max_out: int
) -> ModelProfile:
    return ModelProfile(
        name=name,
        kind="chat",
        latency=LatencyModel(ttft_median=ttft, ttft_p99=p99, tokens_per_second=tps),
        context_window=context,
        max_output_tokens=max_out,
    )


def _embed(name: str, dims: int, ttft: float = 0.05, context: int = 8_192) -> ModelProfile:
    return ModelProfile(
        name=name,
        kind="embedding",
        latency=LatencyModel(ttft_median=ttft, ttft_p99=ttft * 4),
        context_window=context,
        max_output_tokens=0,
        embedding_dimensions=dims,
    )


# Realistic defaults (orders of magnitude from public latency dashboards; used by the demo).
_DEFAULTS: dict[str, tuple[ModelProfile, ...]] = {
    "openai": (
        _chat("gpt-5.2-mini", 0.35, 1.5, 90.0, 400_000, 128_000),
        _chat("gpt-5.2", 0.6, 3.0, 60.0, 400_000, 128_000),
        _chat("gpt-4o-mini", 0.3, 1.2, 100.0, 128_000, 16_384),
        _chat("gpt-4o", 0.45, 2.0, 80.0, 128_000, 16_384),
        _chat("gpt-4.1-mini", 0.3, 1.2, 110.0, 1_047_576, 32_768),
        _embed("text-embedding-3-small", 1536),
        _embed("text-embedding-3-large", 3072),
        _embed("text-embedding-ada-002", 1536),
    ),
    "anthropic": (
        _chat("claude-opus-4-5-20251101", 1.2, 4.0, 45.0, 200_000, 64_000),
        _chat("claude-opus-4-5", 1.2, 4.0, 45.0, 200_000, 64_000),
        _chat("claude-sonnet-4-20250514", 0.8, 3.0, 70.0, 200_000, 64_000),
        _chat("claude-sonnet-4", 0.8, 3.0, 70.0, 200_000, 64_000),
        _chat("claude-sonnet-4-5", 0.8, 3.0, 70.0, 200_000, 64_000),
        _chat("claude-haiku-4-5", 0.4, 1.5, 140.0, 200_000, 64_000),
        _chat("claude-3-5-haiku-latest", 0.4, 1.5, 120.0, 200_000, 8_192),
    ),
    "gemini": (
        _chat("gemini-3-pro-preview", 1.5, 6.0, 60.0, 1_048_576, 65_536),
        _chat("gemini-3-flash-preview", 0.45, 2.0, 180.0, 1_048_576, 65_536),
        _chat("gemini-2.5-pro", 1.5, 6.0, 70.0, 1_048_576, 65_536),
        _chat("gemini-2.5-flash", 0.45, 2.0, 200.0, 1_048_576, 65_536),
        _chat("gemini-2.0-flash", 0.35, 1.5, 220.0, 1_048_576, 8_192),
        _embed("text-embedding-004", 768, context=2_048),
        _embed("gemini-embedding-001", 3072, context=2_048),
    ),
    "ollama": (
        _chat("qwen2.5-coder:14b", 0.25, 1.0, 30.0, 32_768, 8_192),
        _chat("qwen2.5-coder:7b", 0.2, 0.8, 50.0, 32_768, 8_192),
        _chat("llama3.2", 0.15, 0.6, 60.0, 131_072, 8_192),
        _chat("gemma3", 0.2, 0.8, 45.0, 131_072, 8_192),
        _embed("nomic-embed-text", 768, ttft=0.02),
        _embed("mxbai-embed-large", 1024, ttft=0.03),
        _embed("all-minilm", 384, ttft=0.01),
    ),
    "llamacpp": (_chat("llama-3.2-3b-instruct", 0.1, 0.5, 40.0, 8_192, 4_096),),
}


def default_profiles(provider: str) -> tuple[ModelProfile, ...]:
    """The models an emulator of ``provider`` serves unless configured otherwise."""
    try:
        return _DEFAULTS[provider]
    except KeyError:
        raise ValueError(f"unknown provider {provider!r}; expected one of {PROVIDERS}") from None
