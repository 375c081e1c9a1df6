"""Each adapter against the in-process provider emulators: generate, stream and embed work, and
every fault kind maps to the right typed error. Timing faults run under MockClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from hafs_actors.adapters import (
    AdapterSettings,
    ProviderAdapter,
    StreamCollector,
    create_adapter,
)
from hafs_actors.errors import (
    AuthenticationError,
    NotFoundError,
    OverloadedError,
    ProtocolError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from hafs_actors.testing.emulators import (
    Emulator,
    EmulatorConfig,
    Fault,
    FaultPlan,
    LatencyModel,
    embedding_vector,
    open_emulator,
)
from hafs_actors.types import (
    EmbedRequest,
    FinishReason,
    GenerateRequest,
    GenerateResult,
    Message,
    StreamEvent,
    StreamStart,
    TextDelta,
    Usage,
)
from tests._paths import FIXTURES

PROVIDERS = ("openai", "anthropic", "gemini", "ollama", "llamacpp")
#: The project transport (requests sent straight to it) and httpx's own (the full client).
TRANSPORTS = ("hafs", "httpx")
CHAT = {
    "openai": "gpt-4o",
    "anthropic": "claude-sonnet-4",
    "gemini": "gemini-2.0-flash",
    "ollama": "llama3.2",
    "llamacpp": "llama-3.2-3b-instruct",
}
EMBED = {
    "openai": ("text-embedding-3-small", 1536),
    "gemini": ("text-embedding-004", 768),
    "ollama": ("nomic-embed-text", 768),
    "llamacpp": ("llama-3.2-3b-instruct", 768),
}


@asynccontextmanager
async def served(
    provider: str, *, config: EmulatorConfig | None = None, **settings: Any
) -> AsyncIterator[tuple[Emulator, Any]]:
    async with open_emulator(provider, config=config) as emu:
        base = emu.base_url + ("/v1" if provider == "openai" else "")
        adapter = create_adapter(
            provider, AdapterSettings(base_url=base, api_key=emu.api_key, **settings)
        )
        await adapter.initialize()
        try:
            yield emu, adapter
        finally:
            await adapter.aclose()


def request(provider: str, **kw: Any) -> GenerateRequest:
    kw.setdefault("prompt", "Tell me about trio.")
    kw.setdefault("max_tokens", 24)
    return GenerateRequest(model=CHAT[provider], **kw)


async def collect(adapter: Any, req: GenerateRequest) -> tuple[GenerateResult, list[Any]]:
    collector = StreamCollector(provider=adapter.provider, model=req.model)
    events: list[Any] = []
    async with adapter.stream(req) as stream:
        async for event in stream:
            events.append(event)
            collector.add(event)
    return collector.result(), events


# --- the happy paths --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_generate_stream_and_health(provider: str, transport: str) -> None:
    async with served(provider, transport=transport) as (_emu, adapter):
        assert isinstance(adapter, ProviderAdapter)
        req = request(
            provider,
            system_prompt="Be brief.",
            messages=(Message(role="user", content="Hi"), Message(role="assistant", content="Hey")),
        )
        result = await adapter.generate(req)
        assert result.content
        assert result.provider == provider
        assert result.usage.input_tokens
        assert result.usage.output_tokens
        assert result.finish_reason in (FinishReason.STOP, FinishReason.LENGTH)
        streamed, events = await collect(adapter, req)
        assert isinstance(events[0], StreamStart)
        assert streamed.content == result.content  # the emulator's content is deterministic
        assert streamed.usage.output_tokens == result.usage.output_tokens
        assert (await adapter.health()).ok


@pytest.mark.parametrize("provider", sorted(EMBED))
async def test_embed_batches_in_order(provider: str) -> None:
    model, dims = EMBED[provider]
    texts = tuple(f"text number {i}" for i in range(5))
    async with served(provider, embed_batch_size=2) as (_emu, adapter):
        result = await adapter.embed(EmbedRequest(model=model, texts=texts))
    assert len(result.vectors) == 5
    for text, vector in zip(texts, result.vectors, strict=True):
        assert vector == pytest.approx(list(embedding_vector(text, model, dims)), abs=1e-6)


async def test_anthropic_streams_but_has_no_embeddings() -> None:
    async with served("anthropic") as (_emu, adapter):
        assert adapter.supports_streaming
        assert not adapter.supports_embeddings


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_wrong_key_is_an_authentication_error(provider: str) -> None:
    async with open_emulator(provider) as emu:
        base = emu.base_url + ("/v1" if provider == "openai" else "")
        adapter = create_adapter(provider, AdapterSettings(base_url=base, api_key="sk-wrong-key"))
        try:
            with pytest.raises(AuthenticationError) as info:
                await adapter.generate(request(provider))
        finally:
            await adapter.aclose()
    assert not info.value.retryable
    assert "sk-wrong-key" not in str(info.value)


@pytest.mark.parametrize("provider", PROVIDERS[:4])
async def test_unknown_model_is_not_found(provider: str) -> None:
    async with served(provider) as (_emu, adapter):
        with pytest.raises(NotFoundError):
            await adapter.generate(GenerateRequest(model="no-such-model", prompt="x"))


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("fmt", "expected", "tolerance"),
    [("seconds", 2.0, 0.0), ("float", 1.5, 0.0), ("ms", 1.5, 0.0), ("http_date", 1.5, 1.5)],
)
async def test_rate_limit_delay_formats(
    provider: str, fmt: str, expected: float, tolerance: float, transport: str
) -> None:
    plan = FaultPlan(faults=[Fault(kind="rate_limit", retry_after=1.5, retry_after_format=fmt)])
    async with served(provider, transport=transport) as (emu, adapter):
        emu.set_faults(plan)
        with pytest.raises(RateLimitError) as info:
            await adapter.generate(request(provider))
        with pytest.raises(RateLimitError):
            await collect(adapter, request(provider))
    error = info.value
    assert error.status == 429
    assert error.retryable
    assert error.provider == provider
    assert error.model == CHAT[provider]
    assert error.retry_after is not None
    if provider == "gemini":  # RetryInfo.retryDelay: "2s" or "1.500s"
        assert error.retry_after == (2.0 if fmt == "seconds" else 1.5)
    else:
        assert error.retry_after == pytest.approx(expected, abs=tolerance + 1e-9)
    if provider in ("openai", "anthropic"):
        assert error.rate_limit is not None
        assert error.rate_limit.requests_remaining == 0
        assert error.request_id is not None


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("status", "cls"),
    [(529, OverloadedError), (503, OverloadedError), (500, ServerError), (502, ServerError)],
)
async def test_http_error_statuses(provider: str, status: int, cls: type) -> None:
    async with served(provider) as (emu, adapter):
        emu.set_faults(FaultPlan(faults=[Fault(kind="http_error", status=status)]))
        with pytest.raises(cls) as info:
            await adapter.generate(request(provider))
        with pytest.raises(cls):
            await collect(adapter, request(provider))
    assert info.value.status == status
    assert info.value.retryable


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_hang_times_out(provider: str, autojump_clock: Any) -> None:
    async with served(provider, read_timeout=30.0, stream_ttft_timeout=10.0) as (emu, adapter):
        emu.set_faults(FaultPlan(faults=[Fault(kind="hang")]))
        with pytest.raises(ProviderTimeoutError) as generate_info:
            await adapter.generate(request(provider))
        with pytest.raises(ProviderTimeoutError) as stream_info:
            await collect(adapter, request(provider))
    assert generate_info.value.phase == "read"
    assert stream_info.value.phase == "ttft"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_drop_cuts_the_connection(provider: str) -> None:
    async with served(provider) as (emu, adapter):
        emu.set_faults(
            FaultPlan(
                faults=[
                    Fault(kind="drop", stream=False),
                    Fault(kind="drop", stream=True, after_chunks=0, nth=1),
                    Fault(kind="drop", stream=True, after_chunks=5),
                ]
            )
        )
        with pytest.raises(ProviderConnectionError):
            await adapter.generate(request(provider))
        with pytest.raises(ProviderConnectionError):
            await collect(adapter, request(provider))
        with pytest.raises(StreamInterruptedError) as info:
            await collect(adapter, request(provider))
    assert info.value.partial_text
    assert isinstance(info.value.cause, ProviderConnectionError)
    assert info.value.retryable


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_error_before_and_after_output(provider: str) -> None:
    async with served(provider) as (emu, adapter):
        clean, _ = await collect(adapter, request(provider))
        emu.set_faults(
            FaultPlan(
                faults=[
                    Fault(kind="stream_error", status=500, after_chunks=0, nth=1),
                    Fault(kind="stream_error", status=500, after_chunks=5),
                ]
            )
        )
        with pytest.raises(ServerError) as before:
            await collect(adapter, request(provider))
        with pytest.raises(StreamInterruptedError) as after:
            await collect(adapter, request(provider))
    assert not isinstance(before.value, StreamInterruptedError)
    error = after.value
    assert error.partial_text
    assert clean.content.startswith(error.partial_text)
    assert isinstance(error.cause, ServerError)


async def events_until_error(
    adapter: Any, req: GenerateRequest
) -> tuple[list[StreamEvent], StreamInterruptedError]:
    """Every event a stream yields before it raises, and the error it raises."""
    events: list[StreamEvent] = []

    async def drain() -> None:
        async with adapter.stream(req) as stream:
            async for event in stream:
                events.append(event)

    with pytest.raises(StreamInterruptedError) as info:
        await drain()
    return events, info.value


def text_of(events: list[StreamEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


async def check_text_before_stream_error_is_delivered(provider: str, latency: Any) -> None:
    chunks = 20
    req = request(provider, max_tokens=200)
    async with served(provider, config=EmulatorConfig(latency=latency)) as (emu, adapter):
        # the oracle: the same first 20 events ended by a cut connection instead, which the
        # client only sees on a read of its own, after every byte of those events
        emu.set_faults(FaultPlan(faults=[Fault(kind="drop", stream=True, after_chunks=chunks)]))
        cut_events, cut = await events_until_error(adapter, req)
        emu.set_faults(FaultPlan(faults=[Fault(kind="stream_error", after_chunks=chunks)]))
        events, error = await events_until_error(adapter, req)
    expected = text_of(cut_events)
    assert expected == cut.partial_text
    assert len([e for e in cut_events if isinstance(e, TextDelta)]) >= chunks - 3
    # the error event came in the same read as (some of) the text: none of it is lost, and the
    # error is raised only after all of it was yielded
    assert text_of(events) == expected
    assert error.partial_text == expected
    assert isinstance(events[0], StreamStart)
    assert isinstance(error.cause, ProviderError)
    assert not isinstance(error.cause, ProviderConnectionError)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_text_and_stream_error_in_one_read_are_both_delivered(provider: str) -> None:
    # zero latency: the 20 events and the error event leave the emulator in one write
    await check_text_before_stream_error_is_delivered(provider, "zero")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_paced_text_then_stream_error_are_both_delivered(
    provider: str, autojump_clock: Any
) -> None:
    # one token per read; the error event travels with the last token's event
    paced = LatencyModel(ttft_median=0.2, tokens_per_second=50.0)
    await check_text_before_stream_error_is_delivered(provider, paced)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_malformed_json(provider: str) -> None:
    async with served(provider) as (emu, adapter):
        emu.set_faults(
            FaultPlan(
                faults=[
                    Fault(kind="malformed_json", stream=False),
                    Fault(kind="malformed_json", stream=True, after_chunks=0, nth=1),
                    Fault(kind="malformed_json", stream=True, after_chunks=5),
                ]
            )
        )
        with pytest.raises(ProtocolError):
            await adapter.generate(request(provider))
        with pytest.raises(ProtocolError):
            await collect(adapter, request(provider))
        with pytest.raises(StreamInterruptedError) as info:
            await collect(adapter, request(provider))
    assert isinstance(info.value.cause, ProtocolError)
    assert info.value.partial_text


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_slow_drip_parses_the_same(provider: str, autojump_clock: Any) -> None:
    # ~100 pieces half a second apart: slower than the TTFT default, but never idle for 2 s
    async with served(provider, read_timeout=2.0, stream_ttft_timeout=None) as (emu, adapter):
        clean, _ = await collect(adapter, request(provider))
        clean_generate = await adapter.generate(request(provider))
        emu.set_faults(FaultPlan(faults=[Fault(kind="slow_drip", piece_size=5, interval=0.5)]))
        dripped, _ = await collect(adapter, request(provider))
        dripped_generate = await adapter.generate(request(provider))
    assert dripped.content == clean.content
    assert dripped.usage == clean.usage
    assert dripped.finish_reason == clean.finish_reason
    assert dripped_generate.content == clean_generate.content


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_slow_drip_beyond_the_idle_gap(provider: str, autojump_clock: Any) -> None:
    async with served(provider, read_timeout=2.0, stream_ttft_timeout=None) as (emu, adapter):
        emu.set_faults(FaultPlan(faults=[Fault(kind="slow_drip", piece_size=3, interval=5.0)]))
        with pytest.raises(ProviderTimeoutError) as info:
            await collect(adapter, request(provider))
    assert info.value.phase == "idle"


# --- the recorded fixtures through the emulator's replay mode ---------------------------------


@pytest.mark.parametrize(
    ("provider", "fixture", "content_type", "text", "usage"),
    [
        (
            "openai",
            "openai/chat_stream_with_usage.sse",
            "text/event-stream",
            "I'm unable to provide real-time weather updates.",
            Usage(14, 30, 44, 0),
        ),
        (
            "anthropic",
            "anthropic/messages_stream.sse",
            "text/event-stream",
            "Hello there!",
            Usage(11, 6),
        ),
        (
            "gemini",
            "gemini/stream.sse",
            "text/event-stream",
            "The capital of Wyoming is **Cheyenne**.\n",
            Usage(7, 10, 17),
        ),
        (
            "ollama",
            "ollama/generate_stream.ndjson",
            "application/x-ndjson",
            "That's a fantastic question!",
            Usage(),
        ),
    ],
)
async def test_fixture_streams_replayed_by_the_emulator(
    provider: str, fixture: str, content_type: str, text: str, usage: Usage
) -> None:
    body = (FIXTURES / fixture).read_bytes()
    plan = FaultPlan(faults=[Fault(kind="replay", body=body, content_type=content_type)])
    async with served(provider) as (emu, adapter):
        emu.set_faults(plan)
        result, _ = await collect(adapter, request(provider))
    assert result.content.startswith(text)
    assert result.usage == usage


async def test_gemini_midstream_fixture_replayed_by_the_emulator() -> None:
    body = (FIXTURES / "gemini/stream_error_midstream_vertex.sse").read_bytes()
    plan = FaultPlan(faults=[Fault(kind="replay", body=body, content_type="text/event-stream")])
    async with served("gemini") as (emu, adapter):
        emu.set_faults(plan)
        with pytest.raises(StreamInterruptedError) as info:
            await collect(adapter, request("gemini"))
    assert info.value.partial_text == "First Second "
    assert info.value.status == 499
