"""llama.cpp ``llama-server`` through its OpenAI-compatible endpoints.

Wire format (``docs/providers.md`` section 5): ``/v1/chat/completions`` and ``/v1/embeddings``
in the OpenAI dialect, with llama.cpp's differences handled by the OpenAI decoder: usage (and
``timings``) arrive in the finish chunk itself, ``reasoning_content`` carries thinking, SSE
comment pings are skipped, and an error mid-stream is a ``data: {"error": ...}`` event. Health
is ``GET /health``: 200 ``{"status":"ok"}`` when ready, 503 ``Loading model`` while loading
(reported as not healthy, with the server's message).
"""

from __future__ import annotations

import httpx

from ..types import FEATURE_PARAMS, OPTIONAL_PARAMS
from .base import AdapterSettings
from .openai import OpenAICompatibleAdapter

__all__ = ["LlamaCppAdapter"]


class LlamaCppAdapter(OpenAICompatibleAdapter):
    """llama-server (default ``http://127.0.0.1:8080``; a base URL ending in ``/v1`` also works).
    The key, if the server was started with ``--api-key``, is sent as a bearer token."""

    embed_batch_limit = 256
    #: no per-request reasoning effort, and images only inline (the server fetches no URL)
    supported_params = frozenset(OPTIONAL_PARAMS + FEATURE_PARAMS) - {
        "reasoning_effort",
        "image_urls",
    }
    chat_path = "v1/chat/completions"
    embed_path = "v1/embeddings"
    health_path = "health"

    def __init__(
        self,
        settings: AdapterSettings,
        *,
        provider: str = "llamacpp",
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(settings, provider=provider, http_client=http_client, transport=transport)

    def normalize_base_url(self, url: str) -> str:
        url = super().normalize_base_url(url)
        return url[: -len("/v1")] if url.endswith("/v1") else url
