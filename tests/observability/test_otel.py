"""OpenTelemetry export with the real SDK: a span per request and per attempt with the GenAI
attributes, the caller's span as parent, GenAI client metrics under the names of each
semantic-convention mode, content only on opt-in."""

from __future__ import annotations

import json

import pytest
import trio
from opentelemetry.trace import SpanKind, StatusCode
from trio.testing import MockClock

from hafs_actors import AllProvidersFailed, UnifiedOrchestrator
from hafs_actors.config import BreakerSettings
from hafs_actors.observability import TelemetrySettings, resolve_telemetry, semconv_mode
from hafs_actors.testing.emulators import Fault, FaultPlan
from tests.observability._helpers import Otel, observed, otel_sdk
from tests.orchestrator._helpers import emulator_config

CHAIN = [("openai", "gpt-4o"), ("gemini", "gemini-2.5-flash")]


def telemetry(otel: Otel, **kwargs: object) -> dict[str, object]:
    settings = TelemetrySettings(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, **kwargs
    )
    return {"telemetry": settings}


async def test_a_span_per_request_and_per_attempt(autojump_clock: MockClock) -> None:
    otel = otel_sdk()
    broken = emulator_config(faults=FaultPlan([Fault(kind="http_error", status=500)]))
    async with observed(
        emulators={"openai": broken}, orchestrator=telemetry(otel, semconv="new")
    ) as (orch, _):
        tracer = otel.tracer_provider.get_tracer("caller")
        with tracer.start_as_current_span("caller") as caller:
            result = await orch.generate("q", fallback_providers=CHAIN)
    finished = otel.spans.get_finished_spans()
    assert len(finished) == 4
    caller_id = caller.get_span_context().span_id
    (request,) = [s for s in finished if s.parent and s.parent.span_id == caller_id]
    # No model was asked for: the request span takes the model that answered.
    assert request.name == f"chat {result.model}"
    attempts = [s for s in finished if s.parent and s.parent.span_id == request.context.span_id]
    failed, ok = sorted(attempts, key=lambda s: s.start_time or 0)
    assert (failed.name, ok.name) == ("chat gpt-4o", "chat gemini-2.5-flash")
    # The request span is a child of the caller's span; attempts are children of the request.
    assert request.parent is not None
    assert request.parent.span_id == caller.get_span_context().span_id
    assert request.context.trace_id == caller.get_span_context().trace_id
    for attempt in (failed, ok):
        assert attempt.parent is not None
        assert attempt.parent.span_id == request.context.span_id
        assert attempt.kind is SpanKind.CLIENT
    assert failed.attributes is not None
    assert ok.attributes is not None
    assert failed.attributes["error.type"] == "ServerError"
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["gen_ai.provider.name"] == "openai"
    assert ok.attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert ok.attributes["gen_ai.operation.name"] == "chat"
    assert ok.attributes["gen_ai.request.model"] == "gemini-2.5-flash"
    assert ok.attributes["gen_ai.response.model"] == result.model
    assert ok.attributes["gen_ai.usage.input_tokens"] == result.usage.input_tokens
    assert ok.attributes["gen_ai.usage.output_tokens"] == result.usage.output_tokens
    assert ok.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert "gen_ai.system" not in ok.attributes  # "new": the current names only
    attrs = request.attributes
    assert attrs is not None
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["hafs.fallback_used"] is True
    assert "gen_ai.input.messages" not in attrs  # content is opt-in


async def test_a_failed_request_span_has_error_type(autojump_clock: MockClock) -> None:
    otel = otel_sdk()
    broken = emulator_config(faults=FaultPlan([Fault(kind="http_error", status=500)]))
    async with observed(["openai"], emulators={"openai": broken}, orchestrator=telemetry(otel)) as (
        orch,
        _,
    ):
        with pytest.raises(AllProvidersFailed):
            await orch.generate("q", provider="openai", model="gpt-4o")
    request = next(s for s in otel.spans.get_finished_spans() if s.parent is None)
    assert request.name == "chat gpt-4o"
    assert request.attributes is not None
    assert request.attributes["error.type"] == "AllProvidersFailed"
    assert request.status.status_code is StatusCode.ERROR
    points = otel.metrics()["gen_ai.client.operation.duration"]
    assert points[0].attributes["error.type"] == "AllProvidersFailed"


async def test_gen_ai_client_metrics(autojump_clock: MockClock) -> None:
    otel = otel_sdk()
    async with observed(orchestrator=telemetry(otel, semconv="new")) as (orch, _):
        result = await orch.generate("q", provider="openai", model="gpt-4o")
        async with orch.stream("q", provider="openai", model="gpt-4o") as stream:
            await stream.collect()
    metrics = otel.metrics()
    (duration,) = metrics["gen_ai.client.operation.duration"]
    assert duration.count == 2
    assert duration.attributes["gen_ai.operation.name"] == "chat"
    assert duration.attributes["gen_ai.provider.name"] == "openai"
    assert duration.attributes["gen_ai.request.model"] == "gpt-4o"
    tokens = {p.attributes["gen_ai.token.type"]: p for p in metrics["gen_ai.client.token.usage"]}
    assert tokens["input"].count == 2
    assert tokens["output"].sum >= (result.usage.output_tokens or 0)
    assert metrics["gen_ai.client.operation.time_to_first_chunk"][0].count == 1
    assert metrics["gen_ai.client.operation.time_per_output_chunk"][0].count >= 1
    assert "gen_ai.server.time_to_first_token" not in metrics
    assert metrics["hafs.router.attempts"][0].value == 2


@pytest.mark.parametrize(
    ("mode", "present", "absent"),
    [
        (
            "old",
            {"gen_ai.server.time_to_first_token", "gen_ai.server.time_per_output_token"},
            {"gen_ai.client.operation.time_to_first_chunk"},
        ),
        (
            "new",
            {"gen_ai.client.operation.time_to_first_chunk"},
            {"gen_ai.server.time_to_first_token"},
        ),
        (
            "both",
            {"gen_ai.server.time_to_first_token", "gen_ai.client.operation.time_to_first_chunk"},
            set(),
        ),
    ],
)
async def test_semconv_modes_choose_names(
    autojump_clock: MockClock, mode: str, present: set[str], absent: set[str]
) -> None:
    otel = otel_sdk()
    async with (
        observed(["openai"], orchestrator=telemetry(otel, semconv=mode)) as (orch, _),
        orch.stream("q", provider="openai", max_tokens=40) as stream,
    ):
        await stream.collect()
    names = set(otel.metrics())
    assert present <= names
    assert not absent & names
    attempt = next(s for s in otel.spans.get_finished_spans() if s.parent is not None)
    assert attempt.attributes is not None
    assert ("gen_ai.system" in attempt.attributes) == (mode in ("old", "both"))
    assert ("gen_ai.provider.name" in attempt.attributes) == (mode in ("new", "both"))


def test_semconv_mode_from_the_environment() -> None:
    assert semconv_mode({}) == "old"
    assert (
        semconv_mode({"OTEL_SEMCONV_STABILITY_OPT_IN": "http,gen_ai_latest_experimental"}) == "new"
    )
    assert (
        semconv_mode({"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental/dup"}) == "both"
    )


def test_the_switch() -> None:
    on = TelemetrySettings(otel=True)
    assert resolve_telemetry(None, None, {}) is None
    assert resolve_telemetry(None, None, {"HAFS_OTEL": "1"}) == on
    assert resolve_telemetry(None, on, {}) == on
    assert resolve_telemetry(None, on, {"HAFS_OTEL": "0"}) is None
    assert resolve_telemetry(False, on, {"HAFS_OTEL": "1"}) is None
    assert resolve_telemetry(True, None, {}) == on
    content = resolve_telemetry(
        True, None, {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}
    )
    assert content is not None
    assert content.capture_content
    table = TelemetrySettings.from_mapping({"otel": True, "semconv": "both"})
    assert table == TelemetrySettings(otel=True, semconv="both")
    from hafs_actors.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown key"):
        TelemetrySettings.from_mapping({"otle": True})
    with pytest.raises(ConfigError, match="HAFS_OTEL"):
        resolve_telemetry(None, None, {"HAFS_OTEL": "maybe"})


async def test_hafs_otel_uses_the_global_providers(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry import trace

    otel = otel_sdk()
    monkeypatch.setattr(trace, "get_tracer", otel.tracer_provider.get_tracer)
    async with observed(["openai"], orchestrator={"env": {"HAFS_OTEL": "1"}}) as (orch, _):
        await orch.generate("q", provider="openai")
    assert len(otel.spans.get_finished_spans()) == 2


async def test_content_only_on_opt_in(autojump_clock: MockClock) -> None:
    otel = otel_sdk()
    async with observed(["openai"], orchestrator=telemetry(otel, capture_content=True)) as (
        orch,
        _,
    ):
        result = await orch.generate("what is trio?", provider="openai", system_prompt="be brief")
    request = next(s for s in otel.spans.get_finished_spans() if s.parent is None)
    attrs = request.attributes
    assert attrs is not None
    assert json.loads(str(attrs["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "what is trio?"}]}
    ]
    assert json.loads(str(attrs["gen_ai.system_instructions"]))[0]["content"] == "be brief"
    output = json.loads(str(attrs["gen_ai.output.messages"]))
    assert output[0]["parts"][0]["content"] == result.content


async def test_breaker_metrics(autojump_clock: MockClock) -> None:
    otel = otel_sdk()
    broken = emulator_config(faults=FaultPlan([Fault(kind="http_error", status=503)]))
    breaker = BreakerSettings(minimum_calls=2, failure_rate_threshold=1.0, open_duration=30.0)
    async with observed(
        emulators={"openai": broken},
        provider_changes={"openai": {"breaker": breaker}},
        orchestrator=telemetry(otel),
    ) as (orch, _):
        for _ in range(3):
            await orch.generate("q", fallback_providers=CHAIN)
    metrics = otel.metrics()
    states = {
        (p.attributes["hafs.provider"], p.attributes["hafs.breaker.state"]): p.value
        for p in metrics["hafs.breaker.state"]
    }
    assert states[("openai", "open")] == 1
    assert states[("openai", "closed")] == 0
    assert states[("gemini", "closed")] == 1
    (transition,) = metrics["hafs.breaker.transitions"]
    assert transition.attributes["hafs.breaker.state"] == "open"
    assert metrics["hafs.router.fallbacks"][0].value == 3


async def test_telemetry_false_overrides_the_environment(autojump_clock: MockClock) -> None:
    orch = UnifiedOrchestrator(telemetry=False, env={"HAFS_OTEL": "1"})
    assert orch._observers is None
    await trio.lowlevel.checkpoint()
