"""Prometheus: the metrics scraped over real HTTP on loopback from the trio endpoint; and the
canary: an API key never reaches a span, a metric, a label, a scrape or a log."""

from __future__ import annotations

import logging

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from hafs_actors.observability import TelemetrySettings
from hafs_actors.observability.prometheus import PrometheusExporter, metrics_endpoint
from hafs_actors.testing.emulators import Fault, FaultPlan
from tests.observability._helpers import CANARY, observed, otel_sdk
from tests.orchestrator._helpers import emulator_config

CHAIN = [("gemini", "gemini-2.5-flash"), ("openai", "gpt-4o")]


async def scrape(url: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url, headers=headers)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_scrape_over_loopback() -> None:
    broken = emulator_config(faults=FaultPlan([Fault(kind="http_error", status=500)]))
    async with (
        observed(emulators={"gemini": broken}) as (orch, _),
        metrics_endpoint(orch, 0) as endpoint,
    ):
        assert endpoint.url.startswith("http://127.0.0.1:")
        await orch.generate("q", fallback_providers=CHAIN)
        async with orch.stream("q", provider="openai", model="gpt-4o") as stream:
            await stream.collect()
        response = await scrape(endpoint.url)
        missing = await scrape(endpoint.url.replace("/metrics", "/nope"))
        openmetrics = await scrape(endpoint.url, accept="application/openmetrics-text")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert missing.status_code == 404
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    got = samples(response.text)

    def value(name: str, **labels: str) -> float:
        return got[(name, frozenset(labels.items()))]

    ok = {"operation": "chat", "outcome": "ok", "error_type": ""}
    assert value("hafs_router_requests_total", **ok) == 2
    assert value("hafs_router_fallbacks_total", provider="gemini") == 1
    assert value("hafs_router_attempts_total", provider="gemini", outcome="ServerError") == 1
    assert value("hafs_router_attempts_total", provider="openai", outcome="ok") == 2
    assert value("hafs_router_active_requests", operation="chat") == 0
    assert value("hafs_breaker_state", provider="openai", state="closed") == 1
    duration = {"operation": "chat", "provider": "openai", "model": "gpt-4o", "error_type": ""}
    assert value("gen_ai_client_operation_duration_seconds_count", **duration) == 2
    chunk = {"operation": "chat", "provider": "openai", "model": "gpt-4o"}
    assert value("gen_ai_client_operation_time_to_first_chunk_seconds_count", **chunk) == 1
    tokens = {**chunk, "token_type": "output"}
    assert value("gen_ai_client_token_usage_tokens_count", **tokens) == 2


async def test_the_endpoint_rejects_other_methods() -> None:
    async with (
        observed(["openai"]) as (orch, _),
        metrics_endpoint(orch) as endpoint,
        httpx.AsyncClient() as client,
    ):
        response = await client.post(endpoint.url, content=b"x")
        head = await client.head(endpoint.url)
    assert response.status_code == 405
    assert head.status_code == 200
    assert head.content == b""


async def test_a_canary_api_key_is_never_exported_nor_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    otel = otel_sdk()
    telemetry = TelemetrySettings(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        capture_content=True,
        semconv="both",
    )
    exporter = PrometheusExporter()
    # gemini expects another key: the canary is sent, refused, and the chain falls back.
    emulators = {
        "openai": emulator_config(api_key=CANARY),
        "gemini": emulator_config(api_key="another-key"),
    }
    async with observed(
        emulators=emulators,
        api_key=CANARY,
        orchestrator={"telemetry": telemetry, "observers": [exporter]},
    ) as (orch, _):
        await orch.generate("q", fallback_providers=CHAIN)
        async with orch.stream("q", provider="openai") as stream:
            await stream.collect()
        async with metrics_endpoint(orch) as endpoint:
            scraped = (await scrape(endpoint.url)).text
        await trio.sleep(0)
    spans = otel.spans.get_finished_spans()
    assert any((s.attributes or {}).get("error.type") == "AuthenticationError" for s in spans), (
        "the canary must have been refused once"
    )
    exported = [scraped, caplog.text]
    for span in spans:
        exported += [span.name, str(span.status.description), repr(dict(span.attributes or {}))]
        exported += [repr(dict(e.attributes or {})) for e in span.events]
    for points in otel.metrics().values():
        exported += [repr(dict(p.attributes or {})) for p in points]
    secret_tail = CANARY[-20:]
    assert not [text for text in exported if CANARY in text or secret_tail in text]
