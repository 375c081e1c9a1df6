"""Request arguments: what a seed-style adapter receives, custom tiers by plain string,
embedding routing, and clear errors for bad arguments."""

from __future__ import annotations

from typing import Any

import pytest
from trio.testing import MockClock

from hafs_actors import AllProvidersFailed, InvalidRequestError, Message, TaskTier
from tests.orchestrator._helpers import running, served_by


class SeedStyleAdapter:
    """The seed's adapter shape (plain prompt in, object with ``.content`` out), recording."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def generate(
        self,
        prompt: str,
        model: str = "default-model",
        max_tokens: int = 4096,
        temperature: float = 0.7,
    ) -> str:
        self.calls.append(
            {"prompt": prompt, "model": model, "max_tokens": max_tokens, "temperature": temperature}
        )
        return f"echo: {prompt}"


async def test_a_seed_style_adapter_gets_the_conversation_flattened(
    autojump_clock: MockClock,
) -> None:
    adapter = SeedStyleAdapter()
    async with running(["gemini"], custom={"seedish": adapter}) as (orch, _):
        plain = await orch.generate("just a prompt", provider="seedish")
        chat = await orch.generate(
            "and now?",
            provider="seedish",
            model="m2",
            system_prompt="be brief",
            messages=[{"role": "user", "content": "hi"}, Message("assistant", "hello")],
            max_tokens=50,
            temperature=0.1,
        )
    assert adapter.calls[0] == {
        "prompt": "just a prompt",
        "model": "default-model",
        "max_tokens": 4096,
        "temperature": 0.7,
    }
    assert plain.content == "echo: just a prompt"
    assert adapter.calls[1] == {
        "prompt": "system: be brief\n\nuser: hi\n\nassistant: hello\n\nuser: and now?",
        "model": "m2",
        "max_tokens": 50,
        "temperature": 0.1,
    }
    assert chat.model == "m2"


async def test_custom_tiers_are_plain_strings(autojump_clock: MockClock) -> None:
    async with running(["openai", "gemini"]) as (orch, _):
        orch.set_tier_route("summarize", [("openai", "gpt-4o"), ("gemini", None)])
        orch.set_tier_route(TaskTier.FAST, [("gemini", "gemini-2.5-flash")])
        summarized = await orch.generate("x", tier="summarize")
        fast = await orch.generate("x", tier=TaskTier.FAST)
        with pytest.raises(InvalidRequestError, match=r"unknown tier .summarise.*.summarize."):
            await orch.generate("x", tier="summarise", provider="openai")
    assert served_by(summarized) == "openai/gpt-4o"
    assert served_by(fast) == "gemini/gemini-2.5-flash"


async def test_embeddings_skip_providers_without_embeddings(autojump_clock: MockClock) -> None:
    async with running(["anthropic", "gemini"]) as (orch, _):
        result = await orch.embeddings(["a", "b"], provider="anthropic")
        with pytest.raises(AllProvidersFailed) as info:
            await orch.embed(text="a", provider="anthropic", allow_fallback=False)
    assert result.provider == "gemini"  # the embedding route took over
    assert len(result.vectors) == 2
    first = result.attempts[0]
    assert (first.provider, first.outcome, first.error) == ("anthropic", "skipped", "no embeddings")
    (only,) = info.value.attempts
    assert only.error == "no embeddings"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "prompt or messages"),
        ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
        ({"prompt": "x", "timeout": 0}, "timeout"),
        ({"messages": [{"content": "no role"}]}, "role"),
    ],
)
async def test_bad_arguments_get_a_clear_error(
    autojump_clock: MockClock, kwargs: dict[str, Any], match: str
) -> None:
    async with running(["openai"]) as (orch, _):
        with pytest.raises(ValueError, match=match):
            await orch.generate(**kwargs)
        assert orch.status().router.requests == 0


async def test_bad_embedding_arguments(autojump_clock: MockClock) -> None:
    async with running(["openai"]) as (orch, _):
        with pytest.raises(ValueError, match="text= or texts="):
            await orch.embed()
        with pytest.raises(ValueError, match="non-empty"):
            await orch.embeddings([])


async def test_registering_again_replaces_the_adapter(autojump_clock: MockClock) -> None:
    first, second = SeedStyleAdapter(), SeedStyleAdapter()
    async with running(["gemini"]) as (orch, _):
        orch.register_adapter("mine", first)
        await orch.generate("one", provider="mine", allow_fallback=False)
        orch.register_adapter("mine", second)
        await orch.generate("two", provider="mine", allow_fallback=False)
        await orch.generate("three", provider="mine", allow_fallback=False)
        status = orch.status()
    assert [c["prompt"] for c in first.calls] == ["one"]
    assert [c["prompt"] for c in second.calls] == ["two", "three"]
    assert status.providers["mine"].ready


async def test_a_tier_without_a_route_says_so(autojump_clock: MockClock) -> None:
    """An empty tier route fails naming the tier; an unknown tier is refused at the call."""
    async with running(["openai"]) as (orch, _):
        orch.set_tier_route(TaskTier.RESEARCH, [])
        with pytest.raises(AllProvidersFailed, match=f"no route for {TaskTier.RESEARCH}") as info:
            await orch.generate("hello", tier=TaskTier.RESEARCH)
        assert info.value.attempts == ()
        with pytest.raises(InvalidRequestError, match="unknown tier 'no-such-tier'"):
            await orch.generate("hello", tier="no-such-tier")
