"""The messages a provider actor receives: one attempt each, with its own deadline."""

from __future__ import annotations

import attrs

from ..types import EmbedRequest, GenerateRequest
from ._streams import StreamSink


@attrs.frozen
class GenerateCall:
    request: GenerateRequest
    deadline: float  # trio time by which this attempt must be over


@attrs.frozen
class StreamCall:
    request: GenerateRequest
    deadline: float
    sink: StreamSink = attrs.field(eq=False)
    ttft_timeout: float | None = None
    idle_timeout: float | None = None


@attrs.frozen
class EmbedCall:
    request: EmbedRequest
    deadline: float


@attrs.frozen
class HealthCall:
    timeout: float = 10.0


ProviderMessage = GenerateCall | StreamCall | EmbedCall | HealthCall
