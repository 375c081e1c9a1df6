"""Custom adapters: docs/usage.md's CustomAdapter works unchanged through
wrap_custom_adapter, and native-protocol adapters pass through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Optional

import pytest
import trio

from hafs_actors.adapters import NativeAdapter, ProviderAdapter, wrap_custom_adapter
from hafs_actors.errors import (
    ConfigError,
    ProtocolError,
    RateLimitError,
    StreamInterruptedError,
    UnsupportedError,
)
from hafs_actors.types import (
    EmbeddingResult,
    EmbedRequest,
    FinishEvent,
    FinishReason,
    GenerateRequest,
    GenerateResult,
    HealthStatus,
    Message,
    StreamStart,
    TextDelta,
    Usage,
)

# --- the seed's example, verbatim except for the two private calls filled in ------------------


@dataclass
class CustomResponse:
    content: str
    tokens_used: int = 0


class CustomAdapter:
    """Adapter for custom LLM backend."""

    def __init__(self, api_key: Optional[str] = None, base_url: str = ""):  # noqa: UP045
        self.api_key = api_key
        self.base_url = base_url
        self._client = None

    async def initialize(self):  # type: ignore[no-untyped-def]
        """Initialize the client."""
        # Set up your custom client here

    async def generate(
        self,
        prompt: str,
        model: str = "default-model",
        max_tokens: int = 4096,
        temperature: float = 0.7,
    ) -> CustomResponse:
        """Generate a response."""
        # Implement your API call here
        response = await self._call_api(prompt, model, max_tokens, temperature)
        return CustomResponse(content=response)

    async def embed(self, text: str, model: str = "embedding-model") -> list[float]:
        """Generate embeddings."""
        # Implement embedding API call
        return await self._call_embedding_api(text, model)

    # filled in for the test: a deterministic backend that records its calls
    calls: list[tuple[Any, ...]] = []

    async def _call_api(self, prompt: str, model: str, max_tokens: int, temperature: float) -> str:
        await trio.sleep(0)
        self.calls.append((prompt, model, max_tokens, temperature))
        return f"[{model}] {prompt}"

    async def _call_embedding_api(self, text: str, model: str) -> list[float]:
        await trio.sleep(0)
        return [float(len(text)), float(len(model))]


@pytest.fixture
def seed() -> CustomAdapter:
    adapter = CustomAdapter(api_key="sk-custom-SECRET0123456789", base_url="https://x.example")
    adapter.calls = []
    return adapter


async def test_seed_adapter_generate(seed: CustomAdapter) -> None:
    wrapped = wrap_custom_adapter(seed, "custom")
    assert isinstance(wrapped, ProviderAdapter)
    assert wrapped.provider == "custom"
    assert wrapped.supports_embeddings
    assert not wrapped.supports_streaming
    await wrapped.initialize()
    result = await wrapped.generate(GenerateRequest(model="custom-model", prompt="Hello"))
    assert result.content == "[custom-model] Hello"
    assert result.provider == "custom"
    assert result.model == "custom-model"
    assert result.finish_reason is FinishReason.STOP
    assert result.usage == Usage()  # tokens_used=0 is the dataclass default: not reported
    assert result.tokens_used == 0
    assert seed.calls == [("Hello", "custom-model", 4096, 0.7)]  # adapter defaults kept


async def test_seed_adapter_gets_flattened_messages_and_options(seed: CustomAdapter) -> None:
    wrapped = wrap_custom_adapter(seed, "custom")
    request = GenerateRequest(
        model="m",
        system_prompt="Be terse.",
        messages=(Message(role="user", content="Hi"), Message(role="assistant", content="Yo")),
        prompt="Summarize.",
        max_tokens=64,
        temperature=0.1,
        stop=("END",),  # not in the seed's signature: not passed
        extra={"top_p": 0.5},  # idem
    )
    result = await wrapped.generate(request)
    flat = "system: Be terse.\n\nuser: Hi\n\nassistant: Yo\n\nuser: Summarize."
    assert flat == request.flattened_prompt()
    assert seed.calls == [(flat, "m", 64, 0.1)]
    assert result.content == f"[m] {flat}"


async def test_seed_adapter_embed_batch_in_order(seed: CustomAdapter) -> None:
    wrapped = wrap_custom_adapter(seed, "custom")
    result = await wrapped.embed(EmbedRequest(model="emb", texts=("a", "bbb", "cc")))
    assert isinstance(result, EmbeddingResult)
    assert result.vectors == [[1.0, 3.0], [3.0, 3.0], [2.0, 3.0]]
    assert result.provider == "custom"


async def test_seed_adapter_has_no_stream(seed: CustomAdapter) -> None:
    wrapped = wrap_custom_adapter(seed, "custom")
    with pytest.raises(UnsupportedError):
        wrapped.stream(GenerateRequest(model="m", prompt="x"))
    health = await wrapped.health()
    assert health.ok
    await wrapped.aclose()  # no aclose on the seed class: a no-op


async def test_tokens_used_and_plain_string_results() -> None:
    class Counting:
        async def generate(self, prompt: str, model: str = "x") -> Any:
            if prompt == "plain":
                return "just text"
            return CustomResponse(content="ok", tokens_used=42)

    wrapped = wrap_custom_adapter(Counting(), "counting")
    counted = await wrapped.generate(GenerateRequest(model="x", prompt="count"))
    assert counted.usage.total_tokens == 42
    assert counted.tokens_used == 42
    plain = await wrapped.generate(GenerateRequest(model="x", prompt="plain"))
    assert plain.content == "just text"
    assert not wrapped.supports_embeddings


async def test_bad_return_is_a_protocol_error() -> None:
    class Broken:
        async def generate(self, prompt: str) -> Any:
            return 42

        async def embed(self, text: str) -> Any:
            return "not a vector"

    wrapped = wrap_custom_adapter(Broken(), "broken")
    with pytest.raises(ProtocolError, match="int"):
        await wrapped.generate(GenerateRequest(model="x", prompt="p"))
    with pytest.raises(ProtocolError, match="list of floats"):
        await wrapped.embed(EmbedRequest(model="x", texts=("a",)))


async def test_unexpected_exceptions_propagate_typed_errors_pass(seed: CustomAdapter) -> None:
    class Failing:
        def __init__(self, error: Exception) -> None:
            self.error = error

        async def generate(self, prompt: str, **kwargs: Any) -> Any:
            raise self.error

    bug = wrap_custom_adapter(Failing(KeyError("oops")), "buggy")
    with pytest.raises(KeyError):  # a bug: the provider actor crashes and is restarted
        await bug.generate(GenerateRequest(model="x", prompt="p"))
    limited = wrap_custom_adapter(Failing(RateLimitError("slow down", retry_after=2.0)), "lim")
    with pytest.raises(RateLimitError) as info:
        await limited.generate(GenerateRequest(model="x", prompt="p"))
    assert info.value.provider == "lim"
    assert info.value.model == "x"
    assert info.value.retry_after == 2.0


async def test_kwargs_adapter_receives_everything() -> None:
    seen: dict[str, Any] = {}

    class Open:
        async def generate(self, prompt: str, **kwargs: Any) -> str:
            seen.update(kwargs)
            return "ok"

    await wrap_custom_adapter(Open(), "open").generate(
        GenerateRequest(model="m", prompt="p", stop=("x",), extra={"top_p": 0.5})
    )
    assert seen == {"model": "m", "stop": ["x"], "top_p": 0.5}


async def test_optional_stream_health_and_close() -> None:
    closed: list[str] = []

    class Streaming:
        async def generate(self, prompt: str) -> str:
            return "x"

        async def stream(self, prompt: str, model: str = "d") -> AsyncIterator[str]:
            try:
                for piece in ("Hel", "", "lo"):
                    await trio.sleep(0)
                    yield piece
            finally:
                closed.append("stream")

        async def health(self) -> bool:
            return False

        async def aclose(self) -> None:
            closed.append("adapter")

    wrapped = wrap_custom_adapter(Streaming(), "s")
    assert wrapped.supports_streaming
    events = []
    async with wrapped.stream(GenerateRequest(model="m", prompt="p")) as stream:
        async for event in stream:
            events.append(event)
    assert isinstance(events[0], StreamStart)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo"]
    assert events[-1] == FinishEvent(FinishReason.STOP)
    assert (await wrapped.health()).ok is False
    # leaving early closes the custom generator
    async with wrapped.stream(GenerateRequest(model="m", prompt="p")) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                break
    await wrapped.aclose()
    assert closed == ["stream", "stream", "adapter"]


async def test_custom_stream_error_after_output_is_interrupted() -> None:
    class Flaky:
        async def generate(self, prompt: str) -> str:
            return "x"

        async def stream(self, prompt: str) -> AsyncIterator[str]:
            yield "partial "
            raise RateLimitError("quota")

    async def drain(wrapped: Any) -> None:
        async with wrapped.stream(GenerateRequest(model="m", prompt="p")) as stream:
            async for _ in stream:
                pass

    with pytest.raises(StreamInterruptedError) as info:
        await drain(wrap_custom_adapter(Flaky(), "flaky"))
    assert info.value.partial_text == "partial "
    assert isinstance(info.value.cause, RateLimitError)


async def test_native_adapters_pass_through() -> None:
    class Native(NativeAdapter):
        provider = "native"

        async def generate(self, request: GenerateRequest) -> GenerateResult:
            return GenerateResult(content="n", provider=self.provider, model=request.model)

    native = Native()
    assert wrap_custom_adapter(native, "native") is native
    renamed = wrap_custom_adapter(native, "other")
    assert renamed.provider == "other"
    result = await renamed.generate(GenerateRequest(model="m", prompt="p"))
    assert result.provider == "other"
    assert (await renamed.health()).ok

    class Duck:  # no base class: detected by generate(request)
        async def generate(self, request: GenerateRequest) -> GenerateResult:
            return GenerateResult(content=request.prompt or "", provider="duck", model="m")

        async def health(self) -> HealthStatus:
            return HealthStatus(ok=False, detail="down")

    duck = wrap_custom_adapter(Duck(), "duck")
    assert (await duck.generate(GenerateRequest(model="m", prompt="q"))).content == "q"
    assert (await duck.health()).detail == "down"
    assert not duck.supports_streaming
    with pytest.raises(UnsupportedError):
        await duck.embed(EmbedRequest(model="m", texts=("a",)))


def test_wrap_rejects_objects_without_generate() -> None:
    with pytest.raises(ConfigError, match="generate"):
        wrap_custom_adapter(object(), "x")
    with pytest.raises(ConfigError):
        wrap_custom_adapter(CustomAdapter(), "")


def test_wrapped_repr_has_no_key(seed: CustomAdapter) -> None:
    assert "SECRET" not in repr(wrap_custom_adapter(seed, "custom"))
