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
    """Limits and prices of one model. Prices are USD per million tokens; ``None`` is unknown."""

    context_window: int
    max_output_tokens: int
    supports_streaming: bool = True
    supports_embeddings: bool = False  # True for embedding models
    input_price: float | None = None
    output_price: float | None = None


@attrs.frozen
class CapabilityOverride:
    """A partial :class:`ModelCapabilities` from configuration; ``None`` keeps the built-in."""

    context_window: int | None = attrs.field(default=None, validator=at_least(1))
    max_output_tokens: int | None = attrs.field(default=None, validator=at_least(0))
    supports_streaming: bool | None = None
    supports_embeddings: bool | None = None
    input_price: float | None = attrs.field(default=None, validator=number_at_least(0))
    output_price: float | None = attrs.field(default=None, validator=number_at_least(0))

    def apply(self, base: ModelCapabilities) -> ModelCapabilities:
        changes = {k: v for k, v in attrs.asdict(self).items() if v is not None}
        return attrs.evolve(base, **changes)


#: The capabilities of a model nothing is known about: small enough to be safe almost anywhere.
DEFAULT_CAPABILITIES = ModelCapabilities(context_window=8_192, max_output_tokens=4_096)


def _caps(window: int, output: int, *, embeddings: bool = False) -> ModelCapabilities:
    return ModelCapabilities(
        context_window=window,
        max_output_tokens=output,
        supports_embeddings=embeddings,
        supports_streaming=not embeddings,
    )


# Model-name prefix -> capabilities. Longest matching prefix wins, so specific entries
# ("gpt-4o") beat general ones ("gpt-4"). Figures from the providers' model pages, rounded.
_BUILTIN: Mapping[str, ModelCapabilities] = {
    # Anthropic
    "claude": _caps(200_000, 8_192),
    "claude-3-": _caps(200_000, 4_096),
    "claude-3-5-": _caps(200_000, 8_192),
    "claude-3-7-sonnet": _caps(200_000, 64_000),
    "claude-sonnet-4": _caps(200_000, 64_000),
    "claude-haiku-4": _caps(200_000, 64_000),
    "claude-opus-4": _caps(200_000, 32_000),
    "claude-opus-4-5": _caps(200_000, 64_000),
    # Gemini
    "gemini": _caps(1_048_576, 8_192),
    "gemini-1.5-pro": _caps(2_097_152, 8_192),
    "gemini-2.5": _caps(1_048_576, 65_536),
    "gemini-3": _caps(1_048_576, 65_536),
    "text-embedding-004": _caps(2_048, 0, embeddings=True),
    "gemini-embedding": _caps(2_048, 0, embeddings=True),
    # OpenAI
    "gpt-3.5-turbo": _caps(16_385, 4_096),
    "gpt-4": _caps(8_192, 8_192),
    "gpt-4-turbo": _caps(128_000, 4_096),
    "gpt-4o": _caps(128_000, 16_384),
    "gpt-4.1": _caps(1_047_576, 32_768),
    "gpt-5": _caps(400_000, 128_000),
    "o1": _caps(200_000, 100_000),
    "o3": _caps(200_000, 100_000),
    "o4-mini": _caps(200_000, 100_000),
    "text-embedding-3": _caps(8_191, 0, embeddings=True),
    "text-embedding-ada-002": _caps(8_191, 0, embeddings=True),
    # Open models (Ollama tags, GGUF names)
    "qwen2.5": _caps(32_768, 8_192),
    "qwen2.5-coder": _caps(32_768, 8_192),
    "qwen3": _caps(40_960, 8_192),
    "llama3": _caps(8_192, 4_096),
    "llama3.1": _caps(131_072, 8_192),
    "llama3.2": _caps(131_072, 8_192),
    "llama3.3": _caps(131_072, 8_192),
    "mistral": _caps(32_768, 8_192),
    "gemma2": _caps(8_192, 4_096),
    "gemma3": _caps(131_072, 8_192),
    "deepseek-r1": _caps(131_072, 8_192),
    "nomic-embed-text": _caps(8_192, 0, embeddings=True),
    "mxbai-embed-large": _caps(512, 0, embeddings=True),
}

# Per-kind fallbacks when no prefix matches. llama.cpp's window is whatever ``--ctx-size`` the
# server was started with; 8k is a common setting, and the model name tells nothing.
_KIND_DEFAULTS: Mapping[str, ModelCapabilities] = {
    "anthropic": _caps(200_000, 8_192),
    "gemini": _caps(1_048_576, 8_192),
    "openai": _caps(128_000, 16_384),
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
    """Cost of a completed call from its reported usage; ``None`` if usage or a price is unknown."""
    if usage.input_tokens is None and usage.output_tokens is None:
        return None
    return estimate_cost(caps, usage.input_tokens or 0, usage.output_tokens or 0)
