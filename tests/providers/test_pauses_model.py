"""Server-announced pauses against a model of them: whatever the sequence of answers, a
provider (or a per-model bucket) is paused exactly until the latest announced end."""

from __future__ import annotations

import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from trio.testing import MockClock

from hafs_actors.adapters.custom import NativeAdapter
from hafs_actors.errors import OverloadedError, ProviderError, RateLimitError, ServerError
from hafs_actors.providers import ProviderCell, ProviderCellConfig
from hafs_actors.resilience import CircuitState

MODELS = ("m1", "m2")
answers = st.tuples(
    st.sampled_from(("429", "503", "529", "500-no-delay")),
    st.sampled_from(MODELS),
    st.floats(0.0, 30.0, allow_nan=False),  # announced delay
    st.floats(0.0, 10.0, allow_nan=False),  # time passing before the answer
)


def _error(kind: str, delay: float) -> ProviderError:
    if kind == "429":
        return RateLimitError("slow down", retry_after=delay)
    if kind == "503":
        return ServerError("unavailable", status=503, retry_after=delay)
    if kind == "529":
        return OverloadedError("overloaded", status=529, retry_after=delay)
    return ServerError("boom", status=500)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(("openai", "anthropic")), steps=st.lists(answers, max_size=12))
def test_pauses_follow_the_latest_announcement(kind: str, steps: list) -> None:  # type: ignore[type-arg]
    async def main() -> None:
        cell = ProviderCell(ProviderCellConfig(name=kind, kind=kind), NativeAdapter)
        per_model = kind == "openai"  # OpenAI meters per model; Anthropic per provider
        provider_until = 0.0
        model_until = dict.fromkeys(MODELS, 0.0)
        for answer, model, delay, wait in steps:
            await trio.sleep(wait)
            now = trio.current_time()
            cell.pause_if_announced(model, _error(answer, delay), now)
            if answer != "500-no-delay" and delay > 0:
                if answer == "429" and per_model:
                    model_until[model] = max(model_until[model], now + delay)
                else:
                    provider_until = max(provider_until, now + delay)
            for m in MODELS:
                expected = max(provider_until, model_until[m]) - now
                got = cell.paused_for(m, now)
                assert (got is None) == (expected <= 0)
                if got is not None:
                    assert abs(got - expected) < 1e-9
            if provider_until > now:  # a provider-wide pause holds the breaker open
                assert cell.breaker.state is CircuitState.OPEN

    trio.run(main, clock=MockClock(autojump_threshold=0))
