"""The five emulated wire protocols, by provider name."""

from __future__ import annotations

from ._base import Call, Context, ProviderProtocol, RateLimitSignal, Settings
from .anthropic import AnthropicProtocol
from .gemini import GeminiProtocol
from .llamacpp import LlamaCppProtocol
from .ollama import OllamaProtocol
from .openai import OpenAIProtocol

__all__ = [
    "PROTOCOLS",
    "Call",
    "Context",
    "ProviderProtocol",
    "RateLimitSignal",
    "Settings",
]

PROTOCOLS: dict[str, type[ProviderProtocol]] = {
    "openai": OpenAIProtocol,
    "anthropic": AnthropicProtocol,
    "gemini": GeminiProtocol,
    "ollama": OllamaProtocol,
    "llamacpp": LlamaCppProtocol,
}
