"""The caller's trace context reaches the runtime: a request span made through the asyncio or
the synchronous front end is a child of the caller's own span (real OpenTelemetry SDK)."""

from __future__ import annotations

import asyncio

import hafs_actors.aio
import hafs_actors.sync
from hafs_actors.observability import TelemetrySettings
from tests.frontends._helpers import upstream
from tests.observability._helpers import otel_sdk


def _settings() -> tuple[TelemetrySettings, object]:
    sdk = otel_sdk()
    settings = TelemetrySettings(
        otel=True, tracer_provider=sdk.tracer_provider, meter_provider=sdk.meter_provider
    )
    return settings, sdk


def test_the_asyncio_callers_span_is_the_request_spans_parent() -> None:
    settings, sdk = _settings()
    tracer = sdk.tracer_provider.get_tracer("app")  # type: ignore[attr-defined]
    with upstream() as up:

        async def main() -> None:
            config = up.config()
            async with hafs_actors.aio.Orchestrator(config, telemetry=settings) as orch:
                with tracer.start_as_current_span("handler") as parent:
                    await orch.generate("hi", provider="openai")
                return parent.get_span_context().span_id  # type: ignore[no-any-return]

        parent_id = asyncio.run(main())
    assert _request_span_parent(sdk) == parent_id


def test_the_sync_callers_span_is_the_request_spans_parent() -> None:
    settings, sdk = _settings()
    tracer = sdk.tracer_provider.get_tracer("app")  # type: ignore[attr-defined]
    with upstream() as up, hafs_actors.sync.Orchestrator(up.config(), telemetry=settings) as orch:
        with tracer.start_as_current_span("script") as parent:
            orch.generate("hi", provider="openai")
        parent_id = parent.get_span_context().span_id
    assert _request_span_parent(sdk) == parent_id


def _request_span_parent(sdk: object) -> int:
    """The parent of the request span: the one hafs span whose parent is not a hafs span."""
    spans = [s for s in sdk.spans.get_finished_spans() if s.name.startswith("chat")]  # type: ignore[attr-defined]
    ours = {s.context.span_id for s in spans}
    (request,) = [s for s in spans if s.parent is not None and s.parent.span_id not in ours]
    return int(request.parent.span_id)


def test_observers_can_be_added_through_both_front_ends() -> None:
    from hafs_actors.observability import Observer

    class Counting(Observer):
        def __init__(self) -> None:
            self.results = 0

        def on_result(self, event: object) -> None:
            self.results += 1

    with upstream() as up:
        sync_seen = Counting()
        with hafs_actors.sync.Orchestrator(up.config()) as orch:
            orch.add_observer(sync_seen)
            orch.generate("hi", provider="openai")
        aio_seen = Counting()

        async def main() -> None:
            async with hafs_actors.aio.Orchestrator(up.config()) as orch:
                await orch.add_observer(aio_seen)
                await orch.generate("hi", provider="openai")

        asyncio.run(main())
    assert (sync_seen.results, aio_seen.results) == (1, 1)
