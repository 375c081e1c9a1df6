"""OpenTelemetry export: a span per request, a child span per attempt, GenAI client metrics and
the runtime's own metrics; only ``opentelemetry-api`` is needed (the ``otel`` extra).

Importing this module imports OpenTelemetry; ``import hafs_actors`` never does. Names, modes
and attributes are listed in docs/observability.md. Nothing free-form from a provider or an
exception (messages, headers, URLs) is exported: errors are reported by class name only, and
prompts and completions only with ``capture_content``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

import supervisors

from ..resilience import CircuitState
from ..types import EmbeddingResult, GenerateRequest, GenerateResult
from ._events import (
    AttemptEnded,
    AttemptStarted,
    BreakerTransition,
    LimiterWait,
    Observer,
    RequestFailed,
    RequestInfo,
    RequestSucceeded,
    StreamEventInfo,
    SupervisorEventInfo,
)
from ._settings import SemconvMode, TelemetrySettings, semconv_mode

__all__ = ["OtelObserver", "gen_ai_provider_name"]

_SCOPE = "hafs_actors"
_VERSION = "0.1.0"

#: ``gen_ai.provider.name`` (and the old ``gen_ai.system``) of each adapter family; a custom
#: adapter reports the provider's own name.
_PROVIDER_NAMES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "ollama": "ollama",
    "llamacpp": "llama_cpp",
}

#: Bucket advice of the GenAI conventions (seconds; tokens).
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48)
_CHUNK_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)


def gen_ai_provider_name(provider: str | None, kind: str | None) -> str:
    """The GenAI provider name of a hafs provider from its adapter family."""
    return _PROVIDER_NAMES.get(kind or "", provider or "unknown")


class OtelObserver(Observer):
    """Records spans and metrics with the tracer and meter providers given, else the global ones.

    Args:
        capture_content: put prompts and completions on request spans
            (``gen_ai.system_instructions``, ``gen_ai.input.messages``, ``gen_ai.output.messages``).
        semconv: ``"old"``, ``"new"`` or ``"both"``; None follows
            ``OTEL_SEMCONV_STABILITY_OPT_IN`` (see :func:`~hafs_actors.observability.semconv_mode`).
    """

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        capture_content: bool = False,
        semconv: SemconvMode | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.semconv: SemconvMode = semconv or semconv_mode(env)
        self.capture_content = capture_content
        self._old = self.semconv in ("old", "both")
        self._new = self.semconv in ("new", "both")
        self._tracer = trace.get_tracer(_SCOPE, _VERSION, tracer_provider)
        meter = metrics.get_meter(_SCOPE, _VERSION, meter_provider)
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        # The first-chunk and per-chunk names changed in 2026: see docs/observability.md.
        self._ttft = [
            meter.create_histogram(
                name, unit="s", explicit_bucket_boundaries_advisory=_DURATION_BUCKETS
            )
            for name, on in (
                ("gen_ai.server.time_to_first_token", self._old),
                ("gen_ai.client.operation.time_to_first_chunk", self._new),
            )
            if on
        ]
        self._per_token = (
            meter.create_histogram(
                "gen_ai.server.time_per_output_token",
                unit="s",
                explicit_bucket_boundaries_advisory=_CHUNK_BUCKETS,
            )
            if self._old
            else None
        )
        self._per_chunk = (
            meter.create_histogram(
                "gen_ai.client.operation.time_per_output_chunk",
                unit="s",
                explicit_bucket_boundaries_advisory=_CHUNK_BUCKETS,
            )
            if self._new
            else None
        )
        self._active: dict[str, int] = {"chat": 0, "embeddings": 0}
        meter.create_observable_gauge(
            "hafs.router.active_requests", callbacks=[self._observe_active], unit="{request}"
        )
        self._attempts = meter.create_counter("hafs.router.attempts", unit="{attempt}")
        self._fallbacks = meter.create_counter("hafs.router.fallbacks", unit="{fallback}")
        self._retries = meter.create_counter("hafs.router.retries", unit="{retry}")
        self._transitions = meter.create_counter("hafs.breaker.transitions", unit="{transition}")
        self._limiter_wait = meter.create_histogram(
            "hafs.limiter.wait.duration",
            unit="s",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._restarts = meter.create_counter("hafs.supervisor.restarts", unit="{restart}")
        self._give_ups = meter.create_counter("hafs.supervisor.give_ups", unit="{give_up}")
        self._breakers: dict[str, CircuitState] = {}
        meter.create_observable_gauge(
            "hafs.breaker.state", callbacks=[self._observe_breakers], unit="1"
        )
        self._spans: dict[int, Span] = {}
        self._attempt_spans: dict[int, Span] = {}
        self._serving: dict[int, AttemptStarted] = {}

    @classmethod
    def from_settings(
        cls, settings: TelemetrySettings, env: Mapping[str, str] | None = None
    ) -> OtelObserver:
        return cls(
            tracer_provider=settings.tracer_provider,
            meter_provider=settings.meter_provider,
            capture_content=settings.capture_content,
            semconv=settings.semconv,
            env=env,
        )

    # --- attributes -------------------------------------------------------------------------------

    def _provider_attributes(self, provider: str | None, kind: str | None) -> dict[str, str]:
        name = gen_ai_provider_name(provider, kind)
        out = {"hafs.provider": provider} if provider else {}
        if self._new:
            out["gen_ai.provider.name"] = name
        if self._old:
            out["gen_ai.system"] = name
        return out

    def _metric_attributes(
        self, info: RequestInfo, provider: str | None, kind: str | None, response_model: str | None
    ) -> dict[str, str]:
        out: dict[str, str] = {"gen_ai.operation.name": info.operation}
        out.update(self._provider_attributes(provider, kind))
        if info.model:
            out["gen_ai.request.model"] = info.model
        if response_model:
            out["gen_ai.response.model"] = response_model
        return out

    # --- requests ---------------------------------------------------------------------------------

    def on_request(self, request: RequestInfo) -> None:
        name = f"{request.operation} {request.model}" if request.model else request.operation
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": request.operation,
            "hafs.request.kind": request.kind,
        }
        if request.model:
            attributes["gen_ai.request.model"] = request.model
        if request.tier:
            attributes["hafs.tier"] = request.tier
        req = request.request
        if isinstance(req, GenerateRequest):
            if req.max_tokens is not None:
                attributes["gen_ai.request.max_tokens"] = req.max_tokens
            if req.temperature is not None:
                attributes["gen_ai.request.temperature"] = req.temperature
            if self.capture_content:
                attributes.update(_input_content(req))
        # The caller's current span (its contextvars: this hook runs in the caller's task).
        span = self._tracer.start_span(
            name,
            context=otel_context.get_current(),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
        )
        self._spans[request.id] = span
        self._active[request.operation] += 1

    def on_attempt(self, event: AttemptStarted | AttemptEnded) -> None:
        if isinstance(event, AttemptStarted):
            self._attempt_started(event)
        else:
            self._attempt_ended(event)

    def _attempt_started(self, attempt: AttemptStarted) -> None:
        info = attempt.request
        parent = self._spans.get(info.id)
        if parent is None:
            return
        self._end_attempt_span(info.id, "superseded")
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": info.operation,
            "gen_ai.request.model": attempt.model,
            "hafs.attempt.number": attempt.number,
            "hafs.attempt.retry": attempt.retry,
        }
        attributes.update(self._provider_attributes(attempt.provider, attempt.provider_kind))
        self._attempt_spans[info.id] = self._tracer.start_span(
            f"{info.operation} {attempt.model}" if attempt.model else info.operation,
            context=trace.set_span_in_context(parent),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        self._serving[info.id] = attempt
        provider = {"hafs.provider": attempt.provider}
        if attempt.retry:
            self._retries.add(1, provider)
        if attempt.fallback_from is not None:
            self._fallbacks.add(1, {"hafs.provider": attempt.fallback_from})
        self._breakers.setdefault(attempt.provider, CircuitState.CLOSED)

    def _attempt_ended(self, event: AttemptEnded) -> None:
        attempt = event.attempt
        outcome = event.error_type or "ok"
        self._attempts.add(1, {"hafs.provider": attempt.provider, "hafs.outcome": outcome})
        span = self._attempt_spans.pop(attempt.request.id, None)
        if span is None:
            return
        if event.result is not None:
            span.set_attributes(_response_attributes(event.result))
        elif event.error_type is not None:
            _set_error(span, event.error_type)
        span.end()

    def _end_attempt_span(self, request_id: int, error_type: str) -> None:
        span = self._attempt_spans.pop(request_id, None)
        if span is not None:
            _set_error(span, error_type)
            span.end()

    def on_stream_event(self, event: StreamEventInfo) -> None:
        if event.chunk is None:
            return
        info = event.request
        serving = self._serving.get(info.id)
        attributes = self._metric_attributes(
            info,
            serving.provider if serving else None,
            serving.provider_kind if serving else None,
            None,
        )
        if event.chunk == 0:
            for histogram in self._ttft:
                histogram.record(event.at - info.started, attributes)
        elif self._per_chunk is not None and event.gap is not None:
            self._per_chunk.record(event.gap, attributes)

    def on_result(self, event: RequestSucceeded) -> None:
        info = event.request
        result = event.result
        self._finish(info)
        attributes = self._metric_attributes(
            info, event.provider, event.provider_kind, result.model or None
        )
        self._duration.record(event.duration, attributes)
        usage = result.usage
        for token_type, count in (("input", usage.input_tokens), ("output", usage.output_tokens)):
            if count is not None:
                self._tokens.record(count, {**attributes, "gen_ai.token.type": token_type})
        if (
            self._per_token is not None
            and event.generation is not None
            and usage.output_tokens is not None
            and usage.output_tokens > 1
        ):
            self._per_token.record(event.generation / (usage.output_tokens - 1), attributes)
        span = self._spans.pop(info.id, None)
        if span is None:
            return
        if not info.model and result.model:
            span.update_name(f"{info.operation} {result.model}")
        span.set_attributes(self._provider_attributes(event.provider, event.provider_kind))
        span.set_attributes(_response_attributes(result))
        span.set_attribute("hafs.attempts", len(result.attempts))
        span.set_attribute("hafs.fallback_used", result.fallback_used)
        if self.capture_content and isinstance(result, GenerateResult):
            span.set_attribute("gen_ai.output.messages", _output_content(result))
        span.end()

    def on_error(self, event: RequestFailed) -> None:
        info = event.request
        self._finish(info)
        error_type = event.error_type
        attributes = self._metric_attributes(info, event.provider, event.provider_kind, None)
        self._duration.record(event.duration, {**attributes, "error.type": error_type})
        span = self._spans.pop(info.id, None)
        if span is None:
            return
        span.set_attributes(self._provider_attributes(event.provider, event.provider_kind))
        _set_error(span, error_type)
        span.end()

    def _finish(self, info: RequestInfo) -> None:
        self._serving.pop(info.id, None)
        # An attempt still open when its request ends was abandoned with it (a cancelled call).
        self._end_attempt_span(info.id, "cancelled")
        self._active[info.operation] -= 1

    # --- the runtime ------------------------------------------------------------------------------

    def on_breaker_transition(self, event: BreakerTransition) -> None:
        self._breakers[event.provider] = event.event.state
        self._transitions.add(
            1,
            {
                "hafs.provider": event.provider,
                "hafs.breaker.state": event.event.state.value,
                "hafs.breaker.reason": event.event.reason.value,
            },
        )

    def on_supervisor_event(self, event: SupervisorEventInfo) -> None:
        if isinstance(event.event, supervisors.ChildRestarted):
            self._restarts.add(1, {"hafs.provider": event.provider})
        elif isinstance(event.event, supervisors.GaveUp):
            self._give_ups.add(1, {"hafs.provider": event.provider})

    def on_limiter_wait(self, event: LimiterWait) -> None:
        if event.seconds > 0:  # most attempts never wait: a record each would cost more
            self._limiter_wait.record(event.seconds, {"hafs.provider": event.provider})

    def _observe_active(self, options: CallbackOptions) -> Iterable[Observation]:
        for operation, count in dict(self._active).items():
            yield Observation(count, {"gen_ai.operation.name": operation})

    def _observe_breakers(self, options: CallbackOptions) -> Iterable[Observation]:
        # Read by the metric reader, possibly from its own thread: a copy, no trio call.
        for provider, current in dict(self._breakers).items():
            for state in CircuitState:
                yield Observation(
                    int(state is current),
                    {"hafs.provider": provider, "hafs.breaker.state": state.value},
                )


def _set_error(span: Span, error_type: str) -> None:
    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, error_type))


def _response_attributes(result: GenerateResult | EmbeddingResult) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if result.model:
        out["gen_ai.response.model"] = result.model
    usage = result.usage
    if usage.input_tokens is not None:
        out["gen_ai.usage.input_tokens"] = usage.input_tokens
    if usage.output_tokens is not None:
        out["gen_ai.usage.output_tokens"] = usage.output_tokens
    if isinstance(result, GenerateResult):
        out["gen_ai.response.finish_reasons"] = (result.finish_reason.value,)
        if result.request_id:
            out["gen_ai.response.id"] = result.request_id
    return out


def _text_part(text: str) -> dict[str, str]:
    return {"type": "text", "content": text}


def _input_content(request: GenerateRequest) -> dict[str, str]:
    out: dict[str, str] = {}
    if request.system_prompt:
        out["gen_ai.system_instructions"] = json.dumps([_text_part(request.system_prompt)])
    messages = [{"role": m.role, "parts": [_text_part(m.text)]} for m in request.all_messages()]
    out["gen_ai.input.messages"] = json.dumps(messages)
    return out


def _output_content(result: GenerateResult) -> str:
    parts: list[dict[str, Any]] = [_text_part(result.content)] if result.content else []
    parts += [
        {"type": "tool_call", "id": c.id, "name": c.name, "arguments": c.arguments}
        for c in result.tool_calls
    ]
    message = {"role": "assistant", "parts": parts, "finish_reason": result.finish_reason.value}
    return json.dumps([message])
