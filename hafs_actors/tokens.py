"""The one token-estimate policy: about four characters per token, rounded up.

Estimates serve two different questions, so there are two answers for embeddings:

- does a request fit a model's context window? For embeddings the window applies to each
  input, so the largest single text is what counts (:func:`embed_window_tokens`);
- how many tokens will the rate limiter be charged? That is the whole batch
  (:func:`embed_batch_tokens`).

Providers report the real counts after the call; limiters reconcile with them.
"""

from __future__ import annotations

import math

from .types import EmbedRequest, GenerateRequest

__all__ = [
    "embed_batch_tokens",
    "embed_window_tokens",
    "request_tokens",
    "text_tokens",
]

#: role markers and separators, roughly what chat templates add per message
PER_MESSAGE_OVERHEAD = 4
#: one image, whatever its size: the providers count 258 (Gemini) to about 1600 (Anthropic, a
#: megapixel) tokens; the estimate only has to catch requests that clearly do not fit
IMAGE_TOKENS = 1_000


def text_tokens(text: str) -> int:
    """Estimated tokens of one text."""
    return math.ceil(len(text) / 4)


def request_tokens(request: GenerateRequest) -> int:
    """Estimated input tokens of a generation request: texts and images, plus a little per
    message."""
    total = text_tokens(request.system_prompt or "")
    for message in request.all_messages():
        total += text_tokens(message.text) + PER_MESSAGE_OVERHEAD
        total += IMAGE_TOKENS * len(message.images)
    return total


def embed_window_tokens(request: EmbedRequest) -> int:
    """The largest single input: embedding windows apply per input, not per batch."""
    return max((text_tokens(t) for t in request.texts), default=0)


def embed_batch_tokens(request: EmbedRequest) -> int:
    """The whole batch, as a provider's tokens-per-minute limit counts it."""
    return sum(text_tokens(t) for t in request.texts)
