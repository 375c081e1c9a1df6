"""Built-in adapters by provider name, with each provider's defaults and environment names.

The orchestrator's configuration reads the environment; these tables say which variables
belong to which provider so that every layer (config, CLI, docs) agrees.
"""

from __future__ import annotations

import httpx

from ..errors import ConfigError
from .anthropic import AnthropicAdapter
from .base import AdapterSettings, ProviderAdapter
from .gemini import GeminiAdapter
from .http import HttpAdapter
from .llamacpp import LlamaCppAdapter
from .ollama import OllamaAdapter
from .openai import OpenAIAdapter, OpenAICompatibleAdapter

__all__ = [
    "ADAPTER_CLASSES",
    "create_adapter",
]

ADAPTER_CLASSES: dict[str, type[HttpAdapter]] = {
    "openai": OpenAIAdapter,
    "openai_compatible": OpenAICompatibleAdapter,
    "anthropic": AnthropicAdapter,
    "gemini": GeminiAdapter,
    "ollama": OllamaAdapter,
    "llamacpp": LlamaCppAdapter,
}
_ALIASES = {
    "llama.cpp": "llamacpp",
    "llama_cpp": "llamacpp",
    "openai-compatible": "openai_compatible",
}


def create_adapter(
    provider: str,
    settings: AdapterSettings,
    *,
    name: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> ProviderAdapter:
    """A new (not yet initialized) built-in adapter for ``provider`` (the kind).

    ``provider`` is one of :data:`ADAPTER_CLASSES`; ``"openai_compatible"`` is the OpenAI
    adapter under that name (any server speaking the OpenAI dialect at ``settings.base_url``).
    ``name`` is the configured provider name the results and errors carry (default: the kind),
    e.g. ``"backup"`` for a second OpenAI-compatible endpoint. ``transport`` (the adapter's
    client runs on it) or ``http_client`` (a caller's client, used as is and not closed by the
    adapter) as in :class:`HttpAdapter`; at most one.
    """
    kind = _ALIASES.get(provider, provider)
    cls = ADAPTER_CLASSES.get(kind)
    if cls is None:
        known = ", ".join(ADAPTER_CLASSES)
        raise ConfigError(f"unknown provider {provider!r} (built-in: {known})", key="provider")
    return cls(settings, provider=name or kind, http_client=http_client, transport=transport)
