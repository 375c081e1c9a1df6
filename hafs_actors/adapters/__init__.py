"""Provider adapters: the only layer that speaks HTTP to LLM providers.

One adapter per provider (:class:`OpenAICompatibleAdapter` serves any OpenAI-compatible server),
all implementing :class:`ProviderAdapter`; :func:`create_adapter` builds one by name and
:func:`wrap_custom_adapter` adapts a user's own class. The wire parsers are sans-IO classes
(feed bytes, get events) usable without any network: :class:`SSEParser`,
:class:`NDJSONParser` and one stream decoder per provider.
"""

from __future__ import annotations

from ..errors import StructuredOutputError, ToolArgumentsError
from .anthropic import AnthropicAdapter, AnthropicStreamDecoder
from .base import AdapterSettings, ProviderAdapter, TransportKind
from .custom import CustomAdapterWrapper, NativeAdapter, wrap_custom_adapter
from .errormap import error_from_body, map_transport_error
from .gemini import GeminiAdapter, GeminiStreamDecoder
from .http import EventStream, HttpAdapter
from .llamacpp import LlamaCppAdapter
from .ollama import OllamaAdapter, OllamaStreamDecoder
from .openai import OpenAIAdapter, OpenAICompatibleAdapter, OpenAIStreamDecoder
from .ratelimit import parse_duration, parse_rate_limit_headers, parse_retry_after
from .registry import (
    create_adapter,
)
from .wire.decoders import StreamCollector, StreamDecoder
from .wire.ndjson import NDJSONParser
from .wire.sse import SSEParser, StrayBlock

__all__ = [
    "AdapterSettings",
    "AnthropicAdapter",
    "AnthropicStreamDecoder",
    "CustomAdapterWrapper",
    "EventStream",
    "GeminiAdapter",
    "GeminiStreamDecoder",
    "HttpAdapter",
    "LlamaCppAdapter",
    "NDJSONParser",
    "NativeAdapter",
    "OllamaAdapter",
    "OllamaStreamDecoder",
    "OpenAIAdapter",
    "OpenAICompatibleAdapter",
    "OpenAIStreamDecoder",
    "ProviderAdapter",
    "SSEParser",
    "StrayBlock",
    "StreamCollector",
    "StreamDecoder",
    "StructuredOutputError",
    "ToolArgumentsError",
    "TransportKind",
    "create_adapter",
    "error_from_body",
    "map_transport_error",
    "parse_duration",
    "parse_rate_limit_headers",
    "parse_retry_after",
    "wrap_custom_adapter",
]
