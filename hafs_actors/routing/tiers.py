"""Provider and tier names, and the built-in routes between them.

The seed's two string enums plus the default routing tables. Custom providers and tiers are
plain strings everywhere: every function here accepts ``str | Provider`` (or ``str | TaskTier``)
and normalizes to the plain value, so ``Provider.GEMINI`` and ``"gemini"`` are interchangeable.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TypeAlias

__all__ = [
    "BUILTIN_PROVIDERS",
    "DEFAULT_EMBED_MODELS",
    "DEFAULT_EMBED_ROUTE",
    "DEFAULT_MODELS",
    "DEFAULT_TIER",
    "DEFAULT_TIER_ROUTES",
    "Provider",
    "Route",
    "RouteEntry",
    "TaskTier",
    "format_route_entry",
    "name_of",
    "parse_rotation",
    "parse_route_entry",
]


class Provider(str, enum.Enum):
    """The built-in providers (the seed's members exactly). Custom providers are plain strings."""

    GEMINI = "gemini"
    ANTHROPIC = "anthropic"
    OPENAI = "openai"
    OLLAMA = "ollama"
    LLAMACPP = "llamacpp"

    def __str__(self) -> str:
        return self.value


class TaskTier(str, enum.Enum):
    """Route requests by task complexity (the seed's members exactly). Custom tiers are strings."""

    REASONING = "reasoning"  # Complex analysis, planning
    FAST = "fast"  # Quick responses, simple tasks
    CODING = "coding"  # Code generation, review
    RESEARCH = "research"  # Information gathering
    CREATIVE = "creative"  # Writing, ideation

    def __str__(self) -> str:
        return self.value


#: One route step: a provider and a model; ``None`` means the provider's default model.
RouteEntry: TypeAlias = tuple[str, str | None]
#: An ordered chain of route steps, tried first to last.
Route: TypeAlias = tuple[RouteEntry, ...]

BUILTIN_PROVIDERS: tuple[str, ...] = tuple(p.value for p in Provider)

#: The tier used when a request names neither a tier nor a provider.
DEFAULT_TIER: str = TaskTier.FAST.value

#: Tier routes: REASONING, FAST and CODING are the seed's ``TIER_ROUTES`` verbatim; RESEARCH and
#: CREATIVE use models the seed names (strong long-context models first for research, the
#: writing-oriented Claude model first for creative work).
DEFAULT_TIER_ROUTES: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        TaskTier.REASONING.value: (
            ("gemini", "gemini-3-pro-preview"),
            ("anthropic", "claude-opus-4-5-20251101"),
        ),
        TaskTier.FAST.value: (
            ("gemini", "gemini-3-flash-preview"),
            ("openai", "gpt-5.2-mini"),
        ),
        TaskTier.CODING.value: (
            ("gemini", "gemini-3-flash-preview"),
            ("ollama", "qwen2.5-coder:14b"),
        ),
        TaskTier.RESEARCH.value: (
            ("gemini", "gemini-3-pro-preview"),
            ("anthropic", "claude-sonnet-4-20250514"),
            ("openai", "gpt-5.2-mini"),
        ),
        TaskTier.CREATIVE.value: (
            ("anthropic", "claude-sonnet-4-20250514"),
            ("gemini", "gemini-3-pro-preview"),
        ),
    }
)

#: A provider's model when a request or route names the provider but no model (the seed's
#: config file values; llama.cpp serves whatever model it loaded, whatever the name).
DEFAULT_MODELS: Mapping[str, str] = MappingProxyType(
    {
        "gemini": "gemini-3-flash-preview",
        "anthropic": "claude-sonnet-4-20250514",
        "openai": "gpt-5.2-mini",
        "ollama": "qwen2.5-coder:14b",
        "llamacpp": "default",
    }
)

#: Embedding model per provider. Anthropic has no embeddings API, so it has no entry.
DEFAULT_EMBED_MODELS: Mapping[str, str] = MappingProxyType(
    {
        "gemini": "text-embedding-004",
        "openai": "text-embedding-3-small",
        "ollama": "nomic-embed-text",
        "llamacpp": "default",
    }
)

#: The route of ``embed()`` when it names neither a tier nor a provider.
DEFAULT_EMBED_ROUTE: tuple[tuple[str, str], ...] = tuple(DEFAULT_EMBED_MODELS.items())


def name_of(value: str | enum.Enum) -> str:
    """The plain string name of a provider or tier given as an enum member or a string."""
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def parse_route_entry(text: str) -> RouteEntry:
    """Parse ``"provider:model"``, ``"provider/model"`` or a bare ``"provider"``.

    The split is at the FIRST ``:`` or ``/``: provider names have neither, while model names may
    (``"ollama:qwen2.5-coder:14b"``, ``"openrouter/meta-llama/llama-3"``). Raises ValueError
    saying what was expected when the text is not of that shape.
    """
    text = text.strip()
    cut = min((i for i in (text.find(":"), text.find("/")) if i >= 0), default=-1)
    provider, sep, model = (text, "", "") if cut < 0 else (text[:cut], text[cut], text[cut + 1 :])
    provider = provider.strip()
    model = model.strip()
    if not provider:
        raise ValueError(
            f"expected 'provider:model', 'provider/model' or 'provider', found {text!r}"
            " (no provider)"
        )
    if sep and not model:
        raise ValueError(
            f"expected 'provider:model', 'provider/model' or 'provider', found {text!r}"
            " (empty model)"
        )
    return (provider, model or None)


def parse_rotation(text: str | Iterable[str]) -> Route:
    """Parse a rotation: a comma-separated string (``HAFS_MODEL_ROTATION``) or a list of items.

    Blank items (a trailing comma, extra spaces) are ignored.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(parse_route_entry(item) for item in items if item.strip())


def format_route_entry(entry: RouteEntry) -> str:
    """The inverse of :func:`parse_route_entry`."""
    provider, model = entry
    return provider if model is None else f"{provider}:{model}"
