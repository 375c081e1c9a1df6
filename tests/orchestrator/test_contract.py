"""The request contract: what the caller asks is what happens, and no caller can hurt others.

MockClock scenarios against the emulators (real loopback sockets) and custom adapters.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio.testing import MockClock

from hafs_actors import (
    AllProvidersFailed,
    GenerateRequest,
    GenerateResult,
    HafsError,
    InvalidRequestError,
    InvalidRequestTypeError,
    RateLimitError,
    UnifiedOrchestrator,
    UnknownProviderError,
)
from hafs_actors.adapters.custom import NativeAdapter
from hafs_actors.config import HafsConfig, RequestTimeouts, RetrySettings
from hafs_actors.errors import redact, register_secret
from hafs_actors.testing import Delay, FunctionAdapter, ScriptedAdapter
from hafs_actors.testing.emulators import Fault, FaultPlan
from tests.orchestrator._helpers import emulator_config, names, running, served_by

HANG_THEN_OK = [("gemini", "gemini-2.5-flash"), ("openai", "gpt-4o-mini")]


async def test_a_hung_provider_falls_back_with_the_default_timeouts(
    autojump_clock: MockClock,
) -> None:
    """Route [hang, ok] with the defaults: the answer comes from the second candidate within
    attempt_timeout + 1 s (it used to take 120 s and fail)."""
    hang = emulator_config(faults=FaultPlan([Fault(kind="hang")]))
    defaults = RequestTimeouts()
    async with running(
        ["gemini", "openai"], emulators={"gemini": hang}, timeouts=defaults, retry=RetrySettings()
    ) as (orch, _):
        start = trio.current_time()
        result = await orch.generate("q", fallback_providers=HANG_THEN_OK)
        elapsed = trio.current_time() - start
    assert served_by(result) == "openai/gpt-4o-mini"
    assert names(result.attempts) == [("gemini", "ProviderTimeoutError"), ("openai", "ok")]
    assert result.fallback_used
    assert elapsed <= defaults.attempt_timeout + 1.0


async def test_a_hung_stream_falls_back_within_the_ttft_timeout(autojump_clock: MockClock) -> None:
    hang = emulator_config(faults=FaultPlan([Fault(kind="hang")]))
    defaults = RequestTimeouts()
    async with running(
        ["gemini", "openai"], emulators={"gemini": hang}, timeouts=defaults, retry=RetrySettings()
    ) as (orch, _):
        start = trio.current_time()
        async with orch.stream("q", fallback_providers=HANG_THEN_OK) as stream:
            text = "".join([t async for t in stream])
        elapsed = trio.current_time() - start
    assert text.startswith("[openai/gpt-4o-mini]")
    assert elapsed <= defaults.stream_ttft_timeout + 1.0


async def test_a_timed_out_candidate_is_retried_only_when_none_is_left(
    autojump_clock: MockClock,
) -> None:
    script = ScriptedAdapter([RateLimitError("busy", retryable=False), "second"])
    slow = ScriptedAdapter([Delay(1000.0), "late but fine"])  # hangs once
    async with running(["gemini"], custom={"slow": slow, "busy": script}) as (orch, _):
        result = await orch.generate("q", fallback_providers=["slow", "busy"])
    # slow timed out, busy failed for good, then slow again (time was left): its second answer
    assert [(a.provider, a.outcome) for a in result.attempts] == [
        ("slow", "ProviderTimeoutError"),
        ("busy", "RateLimitError"),
        ("slow", "ok"),
    ]
    assert result.content == "late but fine"


async def test_a_long_healthy_stream_outlives_the_attempt_timeout_and_the_deadline(
    autojump_clock: MockClock,
) -> None:
    async def slow_words(request: GenerateRequest) -> Any:
        for i in range(30):
            await trio.sleep(4.0)  # 120 s in all: past attempt_timeout (10) and deadline (30)
            yield f"w{i} "

    adapter = FunctionAdapter(_unused, stream=slow_words, provider="long")
    async with (
        running(["gemini"], custom={"long": adapter}) as (orch, _),
        orch.stream("q", provider="long", allow_fallback=False) as stream,
    ):
        text = "".join([t async for t in stream])
    assert text.split() == [f"w{i}" for i in range(30)]


async def _unused(request: GenerateRequest) -> str:
    return "unused"


async def test_unknown_names_are_refused_before_anything_is_sent(
    autojump_clock: MockClock,
) -> None:
    async with running(["openai", "gemini"]) as (orch, emus):
        with pytest.raises(UnknownProviderError, match="did you mean 'openai'") as info:
            await orch.generate("hi", provider="opneai")
        assert isinstance(info.value, ValueError)
        with pytest.raises(UnknownProviderError):
            await orch.generate("hi", fallback_providers=["openai:gpt-4o", "nope:x"])
        with pytest.raises(UnknownProviderError):
            orch.set_tier_route("fast", [("geminy", None)])
        with pytest.raises(InvalidRequestError, match="needs provider="):
            await orch.generate("hi", model="gpt-4o")
        assert sum(e.stats().count() for e in emus.values()) == 0
        # provider:model and provider/model wherever a candidate is
        a = await orch.generate("hi", model="openai/gpt-4o")
        b = await orch.generate("hi", provider="openai:gpt-4o-mini")
        c = await orch.generate("hi", fallback_providers=["openai:gpt-4o", "gemini"])
    assert served_by(a) == "openai/gpt-4o"
    assert served_by(b) == "openai/gpt-4o-mini"
    assert served_by(c) == "openai/gpt-4o"


async def test_an_answer_from_another_provider_says_so(autojump_clock: MockClock) -> None:
    down = emulator_config(faults=FaultPlan([Fault(kind="http_error", status=500)]))
    async with running(["openai", "gemini"], emulators={"openai": down}) as (orch, _):
        result = await orch.generate("hi", provider="openai", tier="fast")
    assert result.fallback_used
    assert result.provider != "openai"
    assert result.attempts[0].provider == "openai"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"prompt": "\ud800"}, InvalidRequestError),
        ({"prompt": b"bytes"}, InvalidRequestTypeError),
        ({"prompt": "x", "tools": [1]}, InvalidRequestTypeError),
        ({"prompt": "x", "max_tokens": 2.5}, InvalidRequestTypeError),
        ({"prompt": "x", "max_tokens": 0}, InvalidRequestError),
        ({"prompt": "x", "temperature": float("nan")}, InvalidRequestError),
        ({"prompt": "x", "extra": {"openai": {"bad": object()}}}, InvalidRequestTypeError),
        ({"prompt": "x", "extra": {"response_format": "json"}}, InvalidRequestError),
        ({"messages": [{"role": "robot", "content": "x"}]}, InvalidRequestError),
        ({"messages": [{"role": "tool", "content": "x"}]}, InvalidRequestError),
        ({"prompt": "x", "timeout": -1}, InvalidRequestError),
    ],
)
async def test_bad_input_is_a_typed_error_at_the_call(
    autojump_clock: MockClock, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    async with running(["openai"]) as (orch, emus):
        with pytest.raises(error) as info:
            await orch.generate(**kwargs)
        assert isinstance(info.value, HafsError)
        assert emus["openai"].stats().count() == 0
        ok = await orch.generate("still fine", provider="openai")
        assert orch.status().providers["openai"].restarts == 0
    assert ok.content


async def test_typed_parameters_land_where_each_api_defines_them(
    autojump_clock: MockClock,
) -> None:
    seen: dict[str, GenerateRequest] = {}

    async def capture(request: GenerateRequest) -> str:
        seen[request.model] = request
        return "ok"

    async with running(["openai"], custom={"f": FunctionAdapter(capture)}) as (orch, _):
        await orch.generate(
            "x",
            provider="f",
            model="m",
            stop="END",
            seed=7,
            top_p=0.5,
            presence_penalty=0.1,
            frequency_penalty=-0.1,
            extra={"f": {"logit_bias": {"1": 2}}, "openai": {"never": "here"}},
        )
    request = seen["m"]
    assert request.stop == ("END",)  # a string is one stop sequence, never its letters
    assert (request.seed, request.top_p) == (7, 0.5)
    assert (request.presence_penalty, request.frequency_penalty) == (0.1, -0.1)
    assert dict(request.extra) == {"logit_bias": {"1": 2}}  # only this provider's extra


async def test_a_parameter_a_candidate_cannot_honour_skips_it_or_is_dropped(
    autojump_clock: MockClock,
) -> None:
    async with running(["anthropic", "openai"]) as (orch, _):
        chain = ["anthropic:claude-sonnet-4-20250514", "openai:gpt-4o-mini"]
        skipped = await orch.generate("x", fallback_providers=chain, seed=1)
        dropped = await orch.generate(
            "x", fallback_providers=chain, seed=1, drop_unsupported_params=True
        )
    assert skipped.attempts[0].outcome == "skipped"
    assert skipped.attempts[0].error == "unsupported parameter(s): seed"
    assert served_by(skipped) == "openai/gpt-4o-mini"
    assert served_by(dropped) == "anthropic/claude-sonnet-4-20250514"


async def test_an_embedding_batch_is_estimated_per_input(autojump_clock: MockClock) -> None:
    """20 texts of 500 characters fit a 2,048-token window: the window applies per input."""
    async with running(["ollama"]) as (orch, _):
        result = await orch.embeddings(["x" * 500] * 20, provider="ollama")
    assert len(result.vectors) == 20


class _ClosingAdapter(NativeAdapter):
    """Closes its client in aclose(), as docs/providers.md suggests; crashes on command."""

    instances = 0
    crash_next = False  # the next call to any instance crashes

    def __init__(self) -> None:
        type(self).instances += 1
        self.provider = "closing"
        self.open = False
        self.closes = 0
        self.crash = False

    async def initialize(self) -> None:
        self.open = True

    async def aclose(self) -> None:
        self.open = False
        self.closes += 1

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        if not self.open:
            raise RuntimeError("used after aclose()")
        if self.crash or _ClosingAdapter.crash_next:
            self.crash = _ClosingAdapter.crash_next = False
            raise KeyError("a bug")
        return GenerateResult(content="ok", provider="closing", model=request.model)


@pytest.mark.parametrize("form", ["instance", "factory"])
async def test_custom_adapters_survive_a_crash_as_instance_or_factory(
    autojump_clock: MockClock, form: str
) -> None:
    instance = _ClosingAdapter()
    made: list[_ClosingAdapter] = []

    def factory() -> _ClosingAdapter:
        made.append(_ClosingAdapter())
        return made[-1]

    instance.crash = True
    _ClosingAdapter.crash_next = True
    registered: object = instance if form == "instance" else factory
    async with running(["gemini"], custom={"closing": registered}) as (orch, _):
        with pytest.raises(AllProvidersFailed):
            await orch.generate("q", provider="closing", allow_fallback=False)
        await trio.sleep(2.0)  # the restart
        result = await orch.generate("q", provider="closing", allow_fallback=False)
        assert not orch.status().providers["closing"].down
        if form == "instance":
            assert instance.closes == 0  # never at a restart
    assert result.content == "ok"
    if form == "instance":
        assert instance.closes == 1  # once, at the final shutdown
    else:
        assert len(made) >= 3  # a fresh adapter per incarnation
        assert all(m.closes <= 1 for m in made)


def test_configured_keys_are_scrubbed_by_value() -> None:
    register_secret("plain-looking-secret-value")
    assert redact("server said: plain-looking-secret-value is wrong") == (
        "server said: [REDACTED] is wrong"
    )


def test_gemini_accepts_google_api_key_and_gemini_api_key_wins() -> None:
    from hafs_actors import load_config

    alone = load_config(env={"GOOGLE_API_KEY": "g-key-123456", "HOME": "/nonexistent"})
    both = load_config(
        env={"GOOGLE_API_KEY": "g-key-123456", "GEMINI_API_KEY": "m-key-123456", "HOME": "/x"}
    )
    assert alone.providers["gemini"].api_key == "g-key-123456"
    assert both.providers["gemini"].api_key == "m-key-123456"


def test_results_and_errors_are_json_ready() -> None:
    result = GenerateResult(content="x", provider="p", model="m")
    assert str(result.finish_reason) == "stop"
    assert json.loads(json.dumps(result.to_dict()))["finish_reason"] == "stop"
    error = AllProvidersFailed("none", attempts=())
    assert json.loads(json.dumps(error.to_dict()))["type"] == "AllProvidersFailed"


hostile = st.one_of(
    st.just({"prompt": "\udfff"}),
    st.just({"prompt": "x", "tools": [1]}),
    st.just({"prompt": "x", "max_tokens": 2.5}),
    st.builds(lambda t: {"prompt": t}, st.binary(max_size=8)),
    st.builds(lambda v: {"prompt": "x", "extra": {"openai": {"k": v}}}, st.just(float("inf"))),
    st.builds(lambda r: {"messages": [{"role": r, "content": "x"}]}, st.text(max_size=5)),
)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(hostile, min_size=5, max_size=20), st.randoms(use_true_random=False))
def test_poison_requests_never_hurt_well_formed_ones(bad: list[dict[str, Any]], rnd: Any) -> None:
    """Random hostile requests interleaved with 100 well-formed ones: all 100 succeed and no
    provider actor restarts."""

    async def main() -> None:
        async with running(["openai"]) as (orch, _):
            good: list[GenerateResult] = []

            async def ok(i: int) -> None:
                good.append(await orch.generate(f"q{i}", provider="openai"))

            async def poison(kwargs: dict[str, Any]) -> None:
                with contextlib.suppress(HafsError):  # only typed errors, only for this caller
                    await orch.generate(**kwargs)

            jobs: list[Any] = [(ok, i) for i in range(100)] + [(poison, k) for k in bad]
            rnd.shuffle(jobs)
            async with trio.open_nursery() as nursery:
                for fn, arg in jobs:
                    nursery.start_soon(fn, arg)
            assert len(good) == 100
            assert orch.status().providers["openai"].restarts == 0

    trio.run(main, clock=MockClock(autojump_threshold=0))


def test_a_config_with_defaults_is_valid_for_the_orchestrator() -> None:
    assert UnifiedOrchestrator(HafsConfig()).config.routing.drop_unsupported_params is False


async def test_leaving_the_block_after_a_crash_raises_nothing_raw(
    autojump_clock: MockClock,
) -> None:
    """A crash of the adapter right before the block ends never escapes as the adapter's raw
    exception (nor inside an ExceptionGroup): only the caller's own or typed errors."""
    for round_no in range(10):
        bug = ScriptedAdapter([KeyError("a bug in the adapter"), Delay(0.001), KeyError("again")])
        async with UnifiedOrchestrator(HafsConfig()) as orch:
            orch.register_adapter("buggy", bug)
            async with trio.open_nursery() as nursery:

                async def call() -> None:
                    with contextlib.suppress(HafsError):
                        await orch.generate("q", provider="buggy", allow_fallback=False)

                for _ in range(5):
                    nursery.start_soon(call)
                await trio.sleep(0.0005 * (round_no % 4))
                nursery.cancel_scope.cancel()


async def test_dropped_parameters_are_recorded_on_the_attempt(autojump_clock: MockClock) -> None:
    """A cache breakpoint is a hint: dropped (and recorded) where the provider takes none; a
    parameter dropped under drop_unsupported_params is recorded the same way."""
    async with running(["openai", "anthropic"]) as (orch, _):
        hinted = await orch.generate(
            "x", system_prompt="Be brief.", cache_system=True, provider="openai", model="gpt-4o"
        )
        seeded = await orch.generate(
            "x",
            provider="anthropic",
            model="claude-sonnet-4-20250514",
            seed=1,
            drop_unsupported_params=True,
            allow_fallback=False,
        )
    assert hinted.attempts[-1].dropped == ("cache_breakpoints",)
    assert hinted.provider == "openai"
    assert seeded.attempts[-1].dropped == ("seed",)
