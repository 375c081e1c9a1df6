"""Normalized request, result and stream types shared by every layer.

Adapters translate each provider's wire format into these types and back; the router, the
provider actors, the CLI and the benchmark harness only ever see these. All are frozen attrs
classes so a value can be shared between tasks without copies or locks.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeAlias

import attrs

__all__ = [
    "OPTIONAL_PARAMS",
    "Attempt",
    "EmbedRequest",
    "EmbeddingResult",
    "FinishEvent",
    "FinishReason",
    "GenerateRequest",
    "GenerateResult",
    "HealthStatus",
    "Message",
    "RateLimitInfo",
    "Role",
    "StreamEvent",
    "StreamStart",
    "TextDelta",
    "ThoughtDelta",
    "ToolCall",
    "ToolCallEvent",
    "Usage",
    "UsageEvent",
]

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]

#: The optional sampling parameters of :class:`GenerateRequest`, as the API names them.
OPTIONAL_PARAMS: tuple[str, ...] = (
    "temperature",
    "max_tokens",
    "top_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
)


class FinishReason(str, enum.Enum):
    """Why generation stopped, normalized across providers (the raw value is kept beside it)."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"
    OTHER = "other"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class ToolCall:
    """A function/tool call requested by the model; ``arguments`` is always a parsed dict."""

    id: str
    name: str
    arguments: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Message:
    """One chat turn. ``tool_calls`` is set on assistant turns that called tools."""

    role: Role
    content: str
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@attrs.frozen
class Usage:
    """Token usage. ``None`` means the provider did not say: unknown is not zero."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    reasoning_tokens: int | None = None

    def __attrs_post_init__(self) -> None:
        if (
            self.total_tokens is None
            and self.input_tokens is not None
            and self.output_tokens is not None
        ):
            object.__setattr__(self, "total_tokens", self.input_tokens + self.output_tokens)

    @property
    def known(self) -> bool:
        """True when at least one count was reported."""
        return any(
            v is not None for v in (self.input_tokens, self.output_tokens, self.total_tokens)
        )


@attrs.frozen
class RateLimitInfo:
    """A provider's rate-limit headers in one normalized shape.

    Every ``*_reset`` and ``retry_after`` is seconds from the moment the response was received
    (providers use durations, RFC 3339 dates or epoch seconds; adapters convert). ``None`` means
    the header was absent.
    """

    requests_limit: int | None = None
    requests_remaining: int | None = None
    requests_reset: float | None = None
    tokens_limit: int | None = None
    tokens_remaining: int | None = None
    tokens_reset: float | None = None
    input_tokens_limit: int | None = None
    input_tokens_remaining: int | None = None
    input_tokens_reset: float | None = None
    output_tokens_limit: int | None = None
    output_tokens_remaining: int | None = None
    output_tokens_reset: float | None = None
    retry_after: float | None = None

    @property
    def empty(self) -> bool:
        return all(v is None for v in attrs.astuple(self))


@attrs.frozen
class GenerateRequest:
    """A provider-neutral generation request.

    Either ``prompt`` or ``messages`` (or both: the prompt is appended as a final user turn).
    The sampling parameters are placed where each provider's API defines them (docs/providers.md
    has the table). ``extra`` holds fields for this request's provider only (the orchestrator
    takes them per provider), merged into its body for options this type does not model.
    """

    model: str
    prompt: str | None = None
    messages: tuple[Message, ...] = ()
    system_prompt: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    stop: tuple[str, ...] = ()
    tools: tuple[Mapping[str, Any], ...] = ()
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    top_p: float | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None

    def params(self) -> frozenset[str]:
        """The optional parameters this request sets, by name (see :data:`OPTIONAL_PARAMS`)."""
        return frozenset(name for name in OPTIONAL_PARAMS if getattr(self, name) not in (None, ()))

    def without(self, names: Iterable[str]) -> GenerateRequest:
        """This request with the named optional parameters unset."""
        cleared: dict[str, Any] = {n: () if n == "stop" else None for n in names}
        return attrs.evolve(self, **cleared)

    def all_messages(self) -> tuple[Message, ...]:
        """The conversation without the system prompt: ``messages`` then ``prompt``."""
        if self.prompt is None:
            return self.messages
        return (*self.messages, Message(role="user", content=self.prompt))

    def flattened_prompt(self) -> str:
        """One plain-text prompt, for adapters that only take a string (seed-style adapters).

        Layout: the system prompt, then each message as ``role: content`` on its own paragraph,
        then the prompt. With only a prompt, the prompt is returned unchanged.
        """
        if not self.messages and self.system_prompt is None:
            return self.prompt or ""
        parts: list[str] = []
        if self.system_prompt:
            parts.append(f"system: {self.system_prompt}")
        parts.extend(f"{m.role}: {m.content}" for m in self.messages)
        if self.prompt is not None:
            parts.append(f"user: {self.prompt}")
        return "\n\n".join(parts)


@attrs.frozen
class Attempt:
    """One try of one (provider, model) inside a request's chain, successful or not."""

    provider: str
    model: str
    outcome: str  # "ok", an error class name, or "skipped"
    latency: float  # seconds
    error: str | None = None  # one-line description of the failure, never key material
    retry: int = 0  # 0 for the first try of this candidate
    deployment: str | None = None  # which deployment of the provider, when it has several


@attrs.frozen
class GenerateResult:
    """A completed generation. ``content`` and ``tokens_used`` match docs/usage.md."""

    content: str
    provider: str
    model: str
    finish_reason: FinishReason = FinishReason.STOP
    raw_finish_reason: str | None = None
    usage: Usage = Usage()
    thought_content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    latency: float = 0.0  # seconds, end to end for this attempt (router: whole request)
    ttft: float | None = None  # seconds to first token, streams only
    request_id: str | None = None
    rate_limit: RateLimitInfo | None = None
    attempts: tuple[Attempt, ...] = ()
    fallback_used: bool = False
    cost: float | None = None

    @property
    def tokens_used(self) -> int:
        """Total tokens as in the seed's ``CustomResponse``; 0 when the provider did not say."""
        if self.usage.total_tokens is not None:
            return self.usage.total_tokens
        return (self.usage.input_tokens or 0) + (self.usage.output_tokens or 0)

    @property
    def latency_ms(self) -> float:
        return self.latency * 1000.0

    @property
    def text(self) -> str:
        return self.content

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (enums as their values), e.g. for ``json.dumps``."""
        return to_plain(self)


@attrs.frozen
class EmbedRequest:
    """Embed one or more texts; results come back in the same order."""

    model: str
    texts: tuple[str, ...]
    dimensions: int | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class EmbeddingResult:
    vectors: list[list[float]]
    provider: str
    model: str
    usage: Usage = Usage()
    latency: float = 0.0
    attempts: tuple[Attempt, ...] = ()
    fallback_used: bool = False

    @property
    def vector(self) -> list[float]:
        """The first vector: convenient for single-text calls."""
        return self.vectors[0]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, e.g. for ``json.dumps``."""
        return to_plain(self)


@attrs.frozen
class HealthStatus:
    ok: bool
    detail: str = ""
    latency: float | None = None


# --- stream events ------------------------------------------------------------------------


@attrs.frozen
class StreamStart:
    """First event of every adapter stream: response metadata known once headers arrived."""

    request_id: str | None = None
    model: str | None = None
    rate_limit: RateLimitInfo | None = None


@attrs.frozen
class TextDelta:
    text: str


@attrs.frozen
class ThoughtDelta:
    """Reasoning text, for providers that stream it separately."""

    text: str


@attrs.frozen
class ToolCallEvent:
    """A tool call, emitted once its arguments are complete."""

    tool_call: ToolCall


@attrs.frozen
class UsageEvent:
    """Usage so far; a later UsageEvent replaces an earlier one (it is cumulative)."""

    usage: Usage


@attrs.frozen
class FinishEvent:
    finish_reason: FinishReason
    raw_finish_reason: str | None = None


StreamEvent: TypeAlias = (
    StreamStart | TextDelta | ThoughtDelta | ToolCallEvent | UsageEvent | FinishEvent
)


def _plain(_inst: object, _field: object, value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def to_plain(value: Any) -> dict[str, Any]:
    """An attrs value as JSON-ready data: nested values too, enums as values, tuples as lists."""
    return attrs.asdict(value, value_serializer=_plain)
