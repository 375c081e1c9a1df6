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
    "FEATURE_PARAMS",
    "HINT_PARAMS",
    "OPTIONAL_PARAMS",
    "REASONING_EFFORTS",
    "Attempt",
    "ContentPart",
    "EmbedRequest",
    "EmbeddingResult",
    "FinishEvent",
    "FinishReason",
    "GenerateRequest",
    "GenerateResult",
    "HealthStatus",
    "ImagePart",
    "Message",
    "NamedToolChoice",
    "ProviderTurn",
    "RateLimitInfo",
    "ReasoningEffort",
    "ResponseFormat",
    "Role",
    "StreamEvent",
    "StreamStart",
    "TextDelta",
    "TextPart",
    "ThoughtDelta",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallEvent",
    "ToolChoice",
    "TurnEvent",
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

#: The features a request may use that not every provider (or model) can honour, as
#: :meth:`GenerateRequest.params` names them: routing skips a candidate lacking one (or drops it
#: with ``drop_unsupported_params``). ``parallel_tool_calls`` counts only when it is ``False``
#: (parallel calls are every provider's default); ``image_urls`` are images given by URL rather
#: than inline data.
FEATURE_PARAMS: tuple[str, ...] = (
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "images",
    "image_urls",
    "reasoning_effort",
)

#: Hints that never change the answer: a candidate whose provider does not take one has it
#: dropped (recorded on the attempt, ``Attempt.dropped``), never skipped for it.
HINT_PARAMS: tuple[str, ...] = ("cache_breakpoints",)

ReasoningEffort: TypeAlias = Literal["low", "medium", "high"]
REASONING_EFFORTS: tuple[str, ...] = ("low", "medium", "high")


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
    """A function/tool call requested by the model; ``arguments`` is always a parsed dict.

    ``id`` is the provider's, or one the adapter invented (Gemini, Ollama give none): it stays
    the same in the stream's deltas, on the result and when the tool result is sent back.
    """

    id: str
    name: str
    arguments: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Tool:
    """A function the model may call; ``parameters`` is its arguments' JSON schema."""

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] = attrs.field(
        factory=lambda: {"type": "object", "properties": {}}
    )

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI function shape, the one form adapters translate from."""
        function: dict[str, Any] = {"name": self.name, "parameters": dict(self.parameters)}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}


@attrs.frozen
class NamedToolChoice:
    """``tool_choice`` forcing one named function."""

    name: str


#: "auto" (the model decides), "none" (no calls), "required" (at least one call), or one function
ToolChoice: TypeAlias = Literal["auto", "none", "required"] | NamedToolChoice


@attrs.frozen
class ResponseFormat:
    """Structured output, as OpenAI's ``response_format``: any JSON object (``json_object``) or
    one matching ``schema`` (``json_schema``; ``name`` and ``strict`` as OpenAI defines them)."""

    type: Literal["json_object", "json_schema"]
    schema: Mapping[str, Any] | None = None
    name: str = "response"
    strict: bool | None = None


@attrs.frozen
class TextPart:
    """Text content of a message (OpenAI ``{"type": "text", "text": ...}``)."""

    text: str


@attrs.frozen
class ImagePart:
    """An image in a message, by ``https:`` URL or inline as a ``data:`` URL (base64), as
    OpenAI's ``image_url`` part. ``detail`` is OpenAI's hint ("low", "high", "auto")."""

    url: str
    detail: str | None = None

    @property
    def inline(self) -> tuple[str, str] | None:
        """``(media_type, base64 data)`` of a ``data:`` URL; ``None`` for a URL to fetch."""
        if not self.url.startswith("data:"):
            return None
        header, _, data = self.url[5:].partition(",")
        return header.split(";", 1)[0] or "image/png", data


ContentPart: TypeAlias = TextPart | ImagePart


@attrs.frozen
class ProviderTurn:
    """An assistant turn exactly as one provider dialect sent it (Anthropic content blocks with
    their thinking signatures, Gemini parts with their thought signatures).

    The provider verifies those signatures when the turn comes back, so an adapter of the same
    ``dialect`` replays ``blocks`` verbatim; every other adapter ignores them and renders the
    message's normalized content (thinking is never turned into text).
    """

    dialect: str
    blocks: tuple[Mapping[str, Any], ...]


@attrs.frozen
class Message:
    """One chat turn. ``tool_calls`` is set on assistant turns that called tools.

    ``content`` is a string or a tuple of parts (text and images). ``cache`` marks an Anthropic
    prompt-cache breakpoint after this message (other providers cache on their own and ignore
    it). ``native`` is the provider's own form of an assistant turn (see :class:`ProviderTurn`).
    """

    role: Role
    content: str | tuple[ContentPart, ...]
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    cache: bool = False
    native: ProviderTurn | None = None

    @property
    def text(self) -> str:
        """The text of the content (parts joined, images left out)."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def images(self) -> tuple[ImagePart, ...]:
        if isinstance(self.content, str):
            return ()
        return tuple(p for p in self.content if isinstance(p, ImagePart))

    @property
    def parts(self) -> tuple[ContentPart, ...]:
        """The content as parts (a string is one text part; an empty string none)."""
        if isinstance(self.content, str):
            return (TextPart(self.content),) if self.content else ()
        return self.content


@attrs.frozen
class Usage:
    """Token usage. ``None`` means the provider did not say: unknown is not zero."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    reasoning_tokens: int | None = None
    #: input tokens read from / written to the provider's prompt cache. ``input_tokens``
    #: includes both (adapters add Anthropic's, which it reports apart), so the limiter and the
    #: cost see every input token once.
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None

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
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    #: what an adapter does with a reply that does not match ``response_format``: raise a
    #: non-retryable error ("next": the chain moves on), a retryable one ("retry": the same
    #: candidate again first), or return it unvalidated with ``parsed=None`` ("return")
    invalid_output: Literal["next", "retry", "return"] = "next"
    reasoning_effort: ReasoningEffort | None = None
    #: an Anthropic prompt-cache breakpoint after the system prompt (and the tools before it)
    cache_system: bool = False

    def params(self) -> frozenset[str]:
        """The optional parameters and features this request uses, by name
        (see :data:`OPTIONAL_PARAMS` and :data:`FEATURE_PARAMS`)."""
        names = {name for name in OPTIONAL_PARAMS if getattr(self, name) not in (None, ())}
        if self.tools:
            names.add("tools")
        if self.tool_choice is not None:
            names.add("tool_choice")
        if self.parallel_tool_calls is False:
            names.add("parallel_tool_calls")
        if self.response_format is not None:
            names.add("response_format")
        if self.reasoning_effort is not None:
            names.add("reasoning_effort")
        for message in self.messages:
            if message.cache:
                names.add("cache_breakpoints")
            for image in message.images:
                names.add("images")
                if image.inline is None:
                    names.add("image_urls")
        if self.cache_system:
            names.add("cache_breakpoints")
        return frozenset(names)

    def without(self, names: Iterable[str]) -> GenerateRequest:
        """This request with the named optional parameters unset (``images`` / ``image_urls``
        remove those image parts from the messages)."""
        names = set(names)
        cleared: dict[str, Any] = {
            n: () if n in ("stop", "tools") else None
            for n in names
            if n not in ("images", "image_urls", "cache_breakpoints")
        }
        messages = self.messages
        if "cache_breakpoints" in names:
            cleared["cache_system"] = False
            messages = tuple(attrs.evolve(m, cache=False) if m.cache else m for m in messages)
            cleared["messages"] = messages
        if names & {"images", "image_urls"}:
            every = "images" in names

            def keep(part: ContentPart) -> bool:
                return not isinstance(part, ImagePart) or (not every and part.inline is not None)

            cleared["messages"] = tuple(
                m
                if isinstance(m.content, str)
                else attrs.evolve(m, content=tuple(p for p in m.content if keep(p)))
                for m in messages
            )
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
        parts.extend(f"{m.role}: {m.text}" for m in self.messages)
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
    #: parameters this candidate could not honour, dropped from its request (with
    #: ``drop_unsupported_params``, or hints such as cache breakpoints)
    dropped: tuple[str, ...] = ()


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
    #: the reply's JSON object, validated against the request's ``response_format``
    parsed: Any = None
    #: the provider's own form of this turn, when it carries signatures to send back
    native: ProviderTurn | None = None

    @property
    def message(self) -> Message:
        """The assistant turn, ready to append to ``messages`` for the next request (with the
        provider's thinking signatures, which only the same provider dialect receives)."""
        return Message(
            role="assistant", content=self.content, tool_calls=self.tool_calls, native=self.native
        )

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
class ToolCallDelta:
    """A piece of a tool call as it streams: ``index`` is the call's position among this
    reply's calls (stable for the call), ``id`` and ``name`` are set on every delta,
    ``arguments_delta`` is the next fragment of the arguments' JSON text."""

    index: int
    id: str
    name: str
    arguments_delta: str = ""


@attrs.frozen
class ToolCallEvent:
    """A tool call, emitted once its arguments are complete."""

    tool_call: ToolCall


@attrs.frozen
class TurnEvent:
    """The provider's own form of the streamed turn (see :class:`ProviderTurn`), sent before
    the finish when it carries signatures."""

    turn: ProviderTurn


@attrs.frozen
class UsageEvent:
    """Usage so far; a later UsageEvent replaces an earlier one (it is cumulative)."""

    usage: Usage


@attrs.frozen
class FinishEvent:
    finish_reason: FinishReason
    raw_finish_reason: str | None = None


StreamEvent: TypeAlias = (
    StreamStart
    | TextDelta
    | ThoughtDelta
    | ToolCallDelta
    | ToolCallEvent
    | TurnEvent
    | UsageEvent
    | FinishEvent
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
