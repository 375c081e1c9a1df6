"""The orchestrator's seams: transports by provider name, and one seed for every jitter."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
from trio.testing import MockClock

from hafs_actors import (
    GenerateRequest,
    GenerateResult,
    ServerError,
    UnifiedOrchestrator,
    UnknownProviderError,
)
from hafs_actors.config import HafsConfig, ProviderConfig, RetrySettings
from hafs_actors.testing import ScriptedAdapter


def _openai_reply(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "from the mock"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
        },
    )


def _openai_only() -> HafsConfig:
    return HafsConfig(providers=[ProviderConfig(name="openai", api_key="k-test-123456")])


async def test_a_mock_transport_answers_generate_with_no_socket() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _openai_reply(request)

    transports = {"openai": httpx.MockTransport(handler)}
    async with UnifiedOrchestrator(_openai_only(), transports=transports) as orch:
        result = await orch.generate("hi", provider="openai", model="gpt-4o-mini")
    assert result.content == "from the mock"
    assert result.usage.total_tokens == 6
    (request,) = seen
    assert request.url.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer k-test-123456"


async def test_a_transport_for_an_unknown_provider_is_refused() -> None:
    transports = {"opneai": httpx.MockTransport(_openai_reply)}
    with pytest.raises(UnknownProviderError, match="opneai"):
        async with UnifiedOrchestrator(_openai_only(), transports=transports):
            pass


async def _attempt_times(seed: int) -> list[float]:
    """When each attempt of a retried request started, under a given seed (no sockets: the
    virtual clock then depends on nothing but the code)."""
    flaky = ScriptedAdapter([ServerError("busy", retryable=True)] * 3 + ["ok"])
    config = HafsConfig(
        retry=RetrySettings(max_retries_per_candidate=3, base_delay=1.0, max_delay=8.0)
    )
    started: list[float] = []
    original = flaky.generate

    async def timed(request: GenerateRequest) -> GenerateResult:
        started.append(trio.current_time())
        return await original(request)

    flaky.generate = timed  # type: ignore[method-assign]
    async with UnifiedOrchestrator(config, random_seed=seed) as orch:
        orch.register_adapter("flaky", flaky)
        result = await orch.generate("q", provider="flaky", allow_fallback=False)
    assert result.content == "ok"
    return [t - started[0] for t in started]


def test_one_seed_makes_identical_runs() -> None:
    def run(seed: int) -> list[float]:
        return trio.run(_attempt_times, seed, clock=MockClock(autojump_threshold=0))

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_every_generation_argument_is_read() -> None:
    """generate() and stream() share one body: each of their parameters must reach the request
    or its route, and the two signatures must stay the same."""
    import inspect

    from hafs_actors.orchestrator import _orchestrator

    read = {*_orchestrator._REQUEST_ARGUMENTS, *_orchestrator._ROUTE_ARGUMENTS}
    for method in (UnifiedOrchestrator.generate, UnifiedOrchestrator.stream):
        parameters = set(inspect.signature(method).parameters) - {"self"}
        assert parameters == read, method.__name__
