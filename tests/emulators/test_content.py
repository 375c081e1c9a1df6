"""Deterministic content: same request and seed give the same bytes; tokens always agree."""

from __future__ import annotations

import math

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from hafs_actors.testing.emulators import PROVIDERS, EmulatorConfig, count_tokens, embedding_vector
from hafs_actors.testing.emulators.content import generate_reply, split_pieces

from ._helpers import auth_headers, chat_request, reply_text, serving


@given(st.text())
def test_pieces_and_token_counts_agree(text: str) -> None:
    pieces = split_pieces(text)
    assert "".join(pieces) == text
    assert count_tokens(text) in (len(pieces), len(pieces) - 1)  # a whitespace-only tail piece
    assert count_tokens("".join(pieces[: count_tokens(text)])) == count_tokens(text)


@given(
    prompt=st.text(min_size=1, max_size=200),
    seed=st.integers(0, 2**31),
    max_tokens=st.none() | st.integers(0, 60),
)
def test_replies_are_deterministic_capped_and_counted(
    prompt: str, seed: int, max_tokens: int | None
) -> None:
    natural = generate_reply(seed=seed, provider="openai", model="m", prompt=prompt)
    capped = generate_reply(
        seed=seed, provider="openai", model="m", prompt=prompt, max_tokens=max_tokens
    )
    assert capped == generate_reply(
        seed=seed, provider="openai", model="m", prompt=prompt, max_tokens=max_tokens
    )
    assert capped.output_tokens == count_tokens(capped.text) == len(capped.pieces)
    assert capped.input_tokens == max(1, count_tokens(prompt))
    if max_tokens is None or max_tokens >= len(natural.pieces):
        assert capped == natural
        assert capped.finish == "stop"
    else:
        assert capped.pieces == natural.pieces[:max_tokens]
        assert capped.finish == "length"


def test_reply_depends_on_prompt_seed_provider_and_model() -> None:
    base = {"seed": 1, "provider": "openai", "model": "m", "prompt": "hello"}
    text = generate_reply(**base).text  # type: ignore[arg-type]
    for change in ({"seed": 2}, {"provider": "gemini"}, {"model": "n"}, {"prompt": "hello!"}):
        assert generate_reply(**{**base, **change}).text != text  # type: ignore[arg-type]
    lengths = {len(generate_reply(**{**base, "prompt": str(i)}).pieces) for i in range(200)}  # type: ignore[arg-type]
    assert min(lengths) >= 12
    assert max(lengths) <= 48 + 13


@given(text=st.text(max_size=100), dims=st.integers(1, 256))
def test_embeddings_are_unit_length_and_stable(text: str, dims: int) -> None:
    vector = embedding_vector(text, "emb", dims)
    assert len(vector) == dims
    assert math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-5)
    assert embedding_vector(text, "emb", dims) == vector
    assert embedding_vector(text + "x", "emb", dims) != vector or dims == 1


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
async def test_same_request_and_seed_give_the_same_bytes(
    provider: str, stream: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """Under MockClock even the timestamps agree, so whole bodies compare equal."""
    config = EmulatorConfig(seed=42, epoch=1_700_000_000.0)
    path, body = chat_request(provider, stream=stream)
    bodies = []
    for _ in range(2):
        async with serving(provider, config) as (emu, client):
            response = await client.post(path, json=body, headers=auth_headers(emu))
            bodies.append(response.content)
    assert bodies[0] == bodies[1]
    async with serving(provider, EmulatorConfig(seed=43, epoch=1_700_000_000.0)) as (emu, client):
        other = await client.post(path, json=body, headers=auth_headers(emu))
    assert other.content != bodies[0]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_reply_prefix_tells_who_answered(provider: str) -> None:
    config = EmulatorConfig(reply_prefix="[{provider}/{model}] ")
    path, body = chat_request(provider)
    async with serving(provider, config) as (emu, client):
        response = await client.post(path, json=body, headers=auth_headers(emu))
    text = reply_text(provider, response.json())
    model = {"gemini": "gemini-3-flash-preview", "llamacpp": "any"}.get(provider, body.get("model"))
    assert text.startswith(f"[{provider}/{model}] ")
