"""The sans-IO stream decoder base: provider bytes in, :data:`StreamEvent` values out.

A decoder is fed the response body in whatever chunks arrive and returns the events each chunk
completes; :meth:`StreamDecoder.close` is called at end of body and either emits the final
``UsageEvent``/``FinishEvent`` or raises. Failures are raised as typed errors: before any output
the mapped error itself, after output a :class:`~hafs_actors.errors.StreamInterruptedError`
carrying the partial text and the usage so far (nothing is silently truncated).

:class:`StreamCollector` folds a stream back into a :class:`~hafs_actors.types.GenerateResult`.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from ...errors import (
    ContentFilterError,
    ProtocolError,
    ProviderError,
    StreamInterruptedError,
    StructuredOutputError,
    ToolArgumentsError,
)
from ...types import (
    FinishEvent,
    FinishReason,
    GenerateResult,
    ProviderTurn,
    RateLimitInfo,
    ResponseFormat,
    StreamEvent,
    StreamStart,
    TextDelta,
    ThoughtDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEvent,
    TurnEvent,
    Usage,
    UsageEvent,
)
from ..errormap import error_from_detail, extract_error
from ..features import parse_structured
from .sse import ServerSentEvent, SSEFramingError, SSEItem, SSEParser, StrayBlock

__all__ = [
    "SSEStreamDecoder",
    "StreamCollector",
    "StreamDecoder",
    "parse_tool_arguments",
]

_MESSAGE_LIMIT = 4096  # characters of an in-stream error message kept (as for error bodies)


def parse_tool_arguments(raw: Any, *, provider: str, model: str, name: str) -> dict[str, Any]:
    """Tool-call arguments as a dict, from a JSON string (OpenAI) or an object (others); a
    :class:`ToolArgumentsError` keeping the raw text when they are not a JSON object."""
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise ToolArgumentsError(
                f"tool call {name!r}: arguments are not valid JSON: {raw[:200]!r}",
                tool_name=name,
                raw_arguments=raw,
                provider=provider,
                model=model,
            ) from None
        if isinstance(value, dict):
            return value
    raise ToolArgumentsError(
        f"tool call {name!r}: arguments must be a JSON object, got {type(raw).__name__}",
        tool_name=name,
        raw_arguments=raw if isinstance(raw, str) else json.dumps(raw),
        provider=provider,
        model=model,
    )


class StreamDecoder:
    """Common state of every provider's stream decoder (see the module docstring)."""

    def __init__(self, *, provider: str, model: str, request_id: str | None = None) -> None:
        self.provider = provider
        self.model = model
        self.request_id = request_id
        self.response_model: str | None = None
        self.response_id: str | None = None  # message/completion id, when the provider sends one
        self.usage: Usage | None = None
        self.has_output = False
        self.finished = False
        #: the events that the failing ``feed()``/``close()`` call decoded before its error:
        #: the caller delivers them first, then raises (one network read can hold both)
        self.undelivered: list[StreamEvent] = []
        self._text: list[str] = []
        #: the request's structured output, checked at the finish (set by the adapter)
        self.response_format: ResponseFormat | None = None
        self.invalid_output = "next"

    @property
    def partial_text(self) -> str:
        return "".join(self._text)

    def feed(self, data: bytes) -> list[StreamEvent]:
        """The events ``data`` completes; raises a typed error (see :attr:`undelivered`)."""
        raise NotImplementedError

    def close(self) -> list[StreamEvent]:
        """End of body: the last events, or a typed error (see :attr:`undelivered`)."""
        raise NotImplementedError

    # --- helpers for subclasses -------------------------------------------------------------

    def fail(self, error: ProviderError) -> ProviderError:
        """The error to raise for ``error`` now: wrapped once output has been produced."""
        if not self.has_output:
            if error.request_id is None:
                error.request_id = self.request_id
            return error
        return StreamInterruptedError(
            f"stream interrupted after output: {error.message}",
            partial_text=self.partial_text,
            usage=self.usage,
            cause=error,
            provider=error.provider or self.provider,
            model=error.model or self.model,
            status=error.status,
            request_id=error.request_id or self.request_id,
            retryable=error.retryable,
        )

    def protocol_error(self, what: str) -> ProviderError:
        return self.fail(ProtocolError(what, provider=self.provider, model=self.model))

    def cut_error(self) -> ProviderError:
        """The body ended cleanly but without the provider's end marker: a truncated stream
        (a cut that HTTP framing did not reveal). Worth retrying, unlike other protocol errors.
        """
        return self.fail(
            ProtocolError(
                "stream ended before the provider finished it (truncated)",
                provider=self.provider,
                model=self.model,
                retryable=True,
            )
        )

    def payload_error(self, payload: Any) -> ProviderError | None:
        """The typed error for an in-stream error object, or ``None`` if it is not one."""
        detail = extract_error(payload)
        if detail is None:
            return None
        if len(detail.message) > _MESSAGE_LIMIT:  # an event may be megabytes: keep its start
            cut = f"{detail.message[:_MESSAGE_LIMIT]}... [cut: {len(detail.message)} characters]"
            detail = attrs.evolve(detail, message=cut)
        return self.fail(
            error_from_detail(
                detail,
                provider=self.provider,
                model=self.model,
                status=None,
                request_id=self.request_id,
            )
        )

    def text(self, text: str) -> TextDelta:
        self._text.append(text)
        self.has_output = True
        return TextDelta(text)

    def thought(self, text: str) -> ThoughtDelta:
        self.has_output = True
        return ThoughtDelta(text)

    def tool_delta(self, index: int, call_id: str, name: str, fragment: str) -> ToolCallDelta:
        self.has_output = True
        return ToolCallDelta(index, call_id, name, fragment)

    def tool_call(self, call_id: str, name: str, arguments: Any) -> ToolCallEvent:
        try:
            args = parse_tool_arguments(
                arguments, provider=self.provider, model=self.model, name=name
            )
        except ProtocolError as exc:
            raise self.fail(exc) from None
        self.has_output = True
        return ToolCallEvent(ToolCall(id=call_id, name=name, arguments=args))

    def finish(
        self,
        out: list[StreamEvent],
        reason: FinishReason,
        raw: str | None,
        *,
        filtered_detail: str = "",
    ) -> None:
        """Emit the final usage and finish events; a content filter with no output raises."""
        if reason is FinishReason.CONTENT_FILTER and not self.has_output:
            raise ContentFilterError(
                f"blocked by the provider's content filter ({raw}){filtered_detail}",
                provider=self.provider,
                model=self.model,
                request_id=self.request_id,
            )
        fmt = self.response_format
        if fmt is not None and self.invalid_output != "return":
            try:
                parse_structured(self.partial_text, fmt)
            except ValueError as exc:
                raise self.fail(
                    StructuredOutputError(
                        f"structured output: {exc}",
                        raw_text=self.partial_text,
                        provider=self.provider,
                        model=self.model,
                        retryable=self.invalid_output == "retry",
                    )
                ) from None
        if self.usage is not None:
            out.append(UsageEvent(self.usage))
        out.append(FinishEvent(reason, raw))
        self.finished = True


class SSEStreamDecoder(StreamDecoder):
    """A decoder over SSE framing; subclasses handle events, stray blocks and the end."""

    def __init__(self, *, provider: str, model: str, request_id: str | None = None) -> None:
        super().__init__(provider=provider, model=model, request_id=request_id)
        self._sse = SSEParser()

    def feed(self, data: bytes) -> list[StreamEvent]:
        if self.finished:
            return []
        out: list[StreamEvent] = []
        try:
            try:
                items = self._sse.feed(data)
            except SSEFramingError as exc:
                self._framing_failed(exc, out)
                return out
            if items:
                self._dispatch(items, out)
        except ProviderError:
            self.undelivered = out
            raise
        return out

    def close(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        try:
            if not self.finished:
                try:
                    items = self._sse.close()
                except SSEFramingError as exc:
                    self._framing_failed(exc, out)
                    return out
                self._dispatch(items, out)
            if not self.finished:
                self.on_eof(out)
        except ProviderError:
            self.undelivered = out
            raise
        return out

    def _framing_failed(self, exc: SSEFramingError, out: list[StreamEvent]) -> None:
        """Dispatch what came before the bad bytes; they are an error unless the stream ended
        before them (anything after the end is ignored)."""
        self._dispatch(exc.items, out)
        if not self.finished:
            raise self.protocol_error(str(exc)) from None

    def _dispatch(self, items: list[SSEItem], out: list[StreamEvent]) -> None:
        for item in items:
            if self.finished:
                break
            if isinstance(item, StrayBlock):
                self.on_stray(item.text, out)
            else:
                self.on_event(item, out)

    def load(self, data: str) -> Any:
        try:
            return json.loads(data)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise self.protocol_error(f"malformed JSON in stream event: {data[:200]!r}") from None

    def on_event(self, event: ServerSentEvent, out: list[StreamEvent]) -> None:
        raise NotImplementedError

    def on_stray(self, text: str, out: list[StreamEvent]) -> None:
        """Non-SSE lines: a bare JSON error object (Gemini) or an ``error: {...}`` line (older
        llama.cpp servers) becomes its typed error, anything else a ProtocolError (design
        section 10: such data never vanishes)."""
        prefixed = text.startswith("error:")
        try:
            payload = json.loads(text[6:] if prefixed else text)
        except (ValueError, RecursionError):
            payload = None
        if prefixed and isinstance(payload, dict) and "error" not in payload:
            payload = {"error": payload}  # llama.cpp wrote the bare error object
        error = self.payload_error(payload)
        if error is not None:
            raise error
        raise self.protocol_error(f"unexpected non-SSE data in stream: {text[:200]!r}")

    def on_eof(self, out: list[StreamEvent]) -> None:
        raise NotImplementedError


class StreamCollector:
    """Fold stream events into a :class:`GenerateResult` (what ``generate`` would return)."""

    def __init__(self, *, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.request_id: str | None = None
        self.rate_limit: RateLimitInfo | None = None
        self.text: list[str] = []
        self.thoughts: list[str] = []
        self.tool_calls: list[ToolCall] = []
        self.usage = Usage()
        self.finish_reason: FinishReason | None = None
        self.raw_finish_reason: str | None = None
        self.native: ProviderTurn | None = None

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self.text.append(event.text)
        elif isinstance(event, ThoughtDelta):
            self.thoughts.append(event.text)
        elif isinstance(event, ToolCallEvent):
            self.tool_calls.append(event.tool_call)
        elif isinstance(event, UsageEvent):
            self.usage = event.usage
        elif isinstance(event, TurnEvent):
            self.native = event.turn
        elif isinstance(event, FinishEvent):
            self.finish_reason = event.finish_reason
            self.raw_finish_reason = event.raw_finish_reason
        elif isinstance(event, StreamStart):
            self.request_id = event.request_id
            self.rate_limit = event.rate_limit
            if event.model:
                self.model = event.model

    def result(self, *, latency: float = 0.0, ttft: float | None = None) -> GenerateResult:
        return GenerateResult(
            content="".join(self.text),
            provider=self.provider,
            model=self.model,
            finish_reason=self.finish_reason or FinishReason.OTHER,
            raw_finish_reason=self.raw_finish_reason,
            usage=self.usage,
            thought_content="".join(self.thoughts) if self.thoughts else None,
            tool_calls=tuple(self.tool_calls),
            latency=latency,
            ttft=ttft,
            request_id=self.request_id,
            rate_limit=self.rate_limit,
            native=self.native,
        )
