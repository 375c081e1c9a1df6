"""What each model can do, so routing can skip candidates that cannot serve a request.

Built-in values are matched by model-name prefix (longest prefix wins) and are deliberately
approximate: they exist to catch requests that clearly do not fit (a 300k-token prompt on a 128k
model), not to meter tokens exactly. Anything can be overridden per provider and model in the
configuration (``[providers.NAME.models."MODEL"]``; a key ending in ``*`` is a prefix).

No cloud prices are built in: list prices change often and a stale price would silently produce
wrong costs and wrong ``max_cost_per_request`` decisions. Local providers (Ollama, llama.cpp)
cost nothing. Configure prices to get costs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from .._validation import at_least, number_at_least
from ..types import Usage

__all__ = [
    "DEFAULT_CAPABILITIES",
    "LOCAL_KINDS",
    "CapabilityOverride",
    "CapabilityTable",
    "ModelCapabilities",
    "builtin_capabilities",
    "estimate_cost",
    "usage_cost",
]

#: Provider kinds that run on the user's machine: free, and their model names say nothing about
#: the window the server was started with.
LOCAL_KINDS: frozenset[str] = frozenset({"ollama", "llamacpp"})


@attrs.frozen
class ModelCapabilities:
    """Limits, features and prices of one model. Prices are USD per million tokens; ``None``
    is unknown. ``cached_input_price`` / ``cache_write_price`` apply to the input tokens read
    from / written to the provider's prompt cache (``input_price`` when unset)."""

    context_window: int
    max_output_tokens: int
    supports_streaming: bool = True
    supports_embeddings: bool = False  # True for embedding models
    input_price: float | None = None
    output_price: float | None = None
    supports_vision: bool = False  # images in messages
    supports_reasoning: bool = False  # reasoning_effort (a thinking budget or level)
    cached_input_price: float | None = None
    cache_write_price: float | None = None

    def lacks(self, params: Iterable[str]) -> tuple[str, ...]:
        """The request features (``GenerateRequest.params()`` names) this model cannot serve,
        sorted: routing skips it for them with a reason."""
        missing = []
        if not self.supports_vision:
            missing.append("images")
        if not self.supports_reasoning:
            missing.append("reasoning_effort")
        return tuple(sorted(set(missing).intersection(params)))


@attrs.frozen
class CapabilityOverride:
    """A partial :class:`ModelCapabilities` from configuration; ``None`` keeps the built-in."""

    context_window: int | None = attrs.field(default=None, validator=at_least(1))
    max_output_tokens: int | None = attrs.field(default=None, validator=at_least(0))
    supports_streaming: bool | None = None
    supports_embeddings: bool | None = None
    input_price: float | None = attrs.field(default=None, validator=number_at_least(0))
    output_price: float | None = attrs.field(default=None, validator=number_at_least(0))
    supports_vision: bool | None = None
    supports_reasoning: bool | None = None
    cached_input_price: float | None = attrs.field(default=None, validator=number_at_least(0))
    cache_write_price: float | None = attrs.field(default=None, validator=number_at_least(0))

    def apply(self, base: ModelCapabilities) -> ModelCapabilities:
        changes = {k: v for k, v in attrs.asdict(self).items() if v is not None}
        return attrs.evolve(base, **changes)


#: The capabilities of a model nothing is known about: small enough to be safe almost anywhere.
DEFAULT_CAPABILITIES = ModelCapabilities(context_window=8_192, max_output_tokens=4_096)


def _caps(
    window: int,
    output: int,
    *,
    embeddings: bool = False,
    vision: bool = False,
    reasoning: bool = False,
) -> ModelCapabilities:
    return ModelCapabilities(
        context_window=window,
        max_output_tokens=output,
        supports_embeddings=embeddings,
        supports_streaming=not embeddings,
        supports_vision=vision,
        supports_reasoning=reasoning,
    )


# Model-name prefix -> capabilities. Longest matching prefix wins, so specific entries
# ("gpt-4o") beat general ones ("gpt-4"). Figures from the providers' model pages, rounded.
_BUILTIN: Mapping[str, ModelCapabilities] = {
    # Anthropic: every Claude 3+ model takes images; extended thinking from 3.7 Sonnet
    "claude": _caps(200_000, 8_192, vision=True),
    "claude-3-": _caps(200_000, 4_096, vision=True),
    "claude-3-5-": _caps(200_000, 8_192, vision=True),
    "claude-3-7-sonnet": _caps(200_000, 64_000, vision=True, reasoning=True),
    "claude-sonnet-4": _caps(200_000, 64_000, vision=True, reasoning=True),
    "claude-haiku-4": _caps(200_000, 64_000, vision=True, reasoning=True),
    "claude-opus-4": _caps(200_000, 32_000, vision=True, reasoning=True),
    "claude-opus-4-5": _caps(200_000, 64_000, vision=True, reasoning=True),
    # Gemini: all multimodal; thinking from 2.5
    "gemini": _caps(1_048_576, 8_192, vision=True),
    "gemini-1.5-pro": _caps(2_097_152, 8_192, vision=True),
    "gemini-2.5": _caps(1_048_576, 65_536, vision=True, reasoning=True),
    "gemini-3": _caps(1_048_576, 65_536, vision=True, reasoning=True),
    "text-embedding-004": _caps(2_048, 0, embeddings=True),
    "gemini-embedding": _caps(2_048, 0, embeddings=True),
    # OpenAI: images from GPT-4 Turbo on; reasoning_effort on o-series and GPT-5
    "gpt-3.5-turbo": _caps(16_385, 4_096),
    "gpt-4": _caps(8_192, 8_192),
    "gpt-4-turbo": _caps(128_000, 4_096, vision=True),
    "gpt-4o": _caps(128_000, 16_384, vision=True),
    "gpt-4.1": _caps(1_047_576, 32_768, vision=True),
    "gpt-5": _caps(400_000, 128_000, vision=True, reasoning=True),
    "o1": _caps(200_000, 100_000, vision=True, reasoning=True),
    "o3": _caps(200_000, 100_000, vision=True, reasoning=True),
    "o4-mini": _caps(200_000, 100_000, vision=True, reasoning=True),
    "text-embedding-3": _caps(8_191, 0, embeddings=True),
    "text-embedding-ada-002": _caps(8_191, 0, embeddings=True),
    # Open models (Ollama tags, GGUF names)
    "qwen2.5": _caps(32_768, 8_192),
    "qwen2.5-coder": _caps(32_768, 8_192),
    "qwen2.5vl": _caps(128_000, 8_192, vision=True),
    "qwen3": _caps(40_960, 8_192, reasoning=True),
    "llama3": _caps(8_192, 4_096),
    "llama3.1": _caps(131_072, 8_192),
    "llama3.2": _caps(131_072, 8_192),
    "llama3.2-vision": _caps(131_072, 8_192, vision=True),
    "llama3.3": _caps(131_072, 8_192),
    "llava": _caps(4_096, 4_096, vision=True),
    "mistral": _caps(32_768, 8_192),
    "gemma2": _caps(8_192, 4_096),
    "gemma3": _caps(131_072, 8_192, vision=True),
    "deepseek-r1": _caps(131_072, 8_192, reasoning=True),
    "gpt-oss": _caps(131_072, 32_768, reasoning=True),
    "nomic-embed-text": _caps(8_192, 0, embeddings=True),
    "mxbai-embed-large": _caps(512, 0, embeddings=True),
}

# Per-kind fallbacks when no prefix matches. llama.cpp's window is whatever ``--ctx-size`` the
# server was started with; 8k is a common setting, and the model name tells nothing (nor
# whether it was started with a vision projector: configure ``supports_vision``).
_KIND_DEFAULTS: Mapping[str, ModelCapabilities] = {
    "anthropic": _caps(200_000, 8_192, vision=True),
    "gemini": _caps(1_048_576, 8_192, vision=True),
    "openai": _caps(128_000, 16_384, vision=True),
    "ollama": DEFAULT_CAPABILITIES,
    "llamacpp": DEFAULT_CAPABILITIES,
}


def _normalize_model(model: str) -> str:
    # "models/gemini-2.5-pro" (Gemini resource names) and "org/model" (gateways, GGUF repos).
    return model.rsplit("/", 1)[-1].lower()


def _longest_prefix(name: str, table: Iterable[str]) -> str | None:
    best: str | None = None
    for prefix in table:
        if name.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return best


def builtin_capabilities(model: str, kind: str | None = None) -> ModelCapabilities:
    """Built-in capabilities of ``model`` served by a provider of ``kind`` (e.g. ``"openai"``).

    llama.cpp ignores the model name, so its kind default always applies. Local kinds are free.
    """
    if kind == "llamacpp":
        caps = _KIND_DEFAULTS["llamacpp"]
    else:
        prefix = _longest_prefix(_normalize_model(model), _BUILTIN)
        if prefix is not None:
            caps = _BUILTIN[prefix]
        else:
            caps = _KIND_DEFAULTS.get(kind or "", DEFAULT_CAPABILITIES)
    if kind in LOCAL_KINDS:
        caps = attrs.evolve(caps, input_price=0.0, output_price=0.0)
    return caps


@attrs.frozen
class CapabilityTable:
    """Capability lookup for one provider: built-ins for its kind plus configured overrides.

    Override keys are exact model names, or prefixes ending in ``*`` (the longest one wins; an
    exact key beats any prefix).
    """

    kind: str | None = None
    overrides: Mapping[str, CapabilityOverride] = attrs.field(factory=dict)
    #: Memo of lookups: routing asks for the same few models on every request.
    _memo: dict[str, ModelCapabilities] = attrs.field(
        factory=dict, init=False, eq=False, repr=False, hash=False
    )

    def lookup(self, model: str) -> ModelCapabilities:
        caps = self._memo.get(model)
        if caps is None:
            if len(self._memo) >= 1024:  # bounded, whatever names callers send
                self._memo.clear()
            caps = self._memo[model] = self._compute(model)
        return caps

    def _compute(self, model: str) -> ModelCapabilities:
        caps = builtin_capabilities(model, self.kind)
        override = self.overrides.get(model)
        if override is None:
            prefixes = [k[:-1] for k in self.overrides if k.endswith("*")]
            best = _longest_prefix(model, prefixes)
            if best is not None:
                override = self.overrides[best + "*"]
        return override.apply(caps) if override is not None else caps


def estimate_cost(
    caps: ModelCapabilities, input_tokens: int, output_tokens: int = 0
) -> float | None:
    """Cost in USD of that many tokens, or ``None`` when a needed price is unknown."""
    if caps.input_price is None:
        return None
    cost = input_tokens * caps.input_price
    if output_tokens:
        if caps.output_price is None:
            return None
        cost += output_tokens * caps.output_price
    return cost / 1_000_000


def usage_cost(caps: ModelCapabilities, usage: Usage) -> float | None:
    """Cost of a completed call from its reported usage; ``None`` if usage or a price is unknown.

    ``usage.input_tokens`` includes the cached tokens (docs/providers.md): those read from the
    cache cost ``cached_input_price``, those written ``cache_write_price``, where configured.
    """
    if usage.input_tokens is None and usage.output_tokens is None:
        return None
    cost = estimate_cost(caps, usage.input_tokens or 0, usage.output_tokens or 0)
    if cost is None or caps.input_price is None:
        return cost
    for tokens, price in (
        (usage.cache_read_tokens, caps.cached_input_price),
        (usage.cache_write_tokens, caps.cache_write_price),
    ):
        if tokens and price is not None:
            cost += tokens * (price - caps.input_price) / 1_000_000
    return cost
