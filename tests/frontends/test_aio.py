"""The asyncio front end under plain ``asyncio.run``, uvloop and a notebook-style running loop.

Tests are plain functions that run their own loop (the suite's trio mode applies to ``async
def`` tests only). The upstream is the emulators in a thread of the test process
(``_helpers.upstream``); timings are real seconds, bounded.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import trio

import hafs_actors
import hafs_actors.aio
from hafs_actors import (
    AllProvidersFailed,
    GenerateResult,
    OrchestratorClosed,
    StreamInterruptedError,
    TextDelta,
)
from hafs_actors.aio import FrontendClosed, FrontendError, FrontendNotStarted

from ._helpers import (
    HANG,
    EmulatorConfig,
    Fault,
    FaultPlan,
    Upstream,
    eventually_async,
    runtime_threads,
    upstream,
)

T = TypeVar("T")
REQUEST = contextvars.ContextVar("REQUEST", default="none")


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run`` and the leak checks: the front end leaves no thread and no task."""

    async def checked() -> T:
        result = await main()
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return result

    before = set(threading.enumerate())
    result = asyncio.run(checked())
    assert runtime_threads() == []
    assert set(threading.enumerate()) <= before
    return result


@pytest.fixture
def up() -> Iterator[Upstream]:
    with upstream() as emulators:
        yield emulators


@pytest.fixture
def hang() -> Iterator[Upstream]:
    with upstream(config=HANG) as emulators:
        yield emulators


def test_plain_asyncio_run_200_concurrent_generates_and_a_stream(up: Upstream) -> None:
    async def main() -> None:
        async with hafs_actors.aio.Orchestrator(up.config()) as orch:
            results = await asyncio.gather(
                *(orch.generate(f"prompt {i}", tier="fast") for i in range(200))
            )
            async with orch.stream("tell me a story", tier="fast") as stream:
                parts = [text async for text in stream]
            status = await orch.status()
        assert {r.provider for r in results} == {"openai"}
        assert all(r.content for r in results)
        assert parts
        assert "".join(parts) == stream.text == stream.result.content
        assert stream.result.usage is not None
        assert status.router.requests == 201
        assert status.router.in_flight == 0

    run(main)


def test_the_rest_of_the_api(up: Upstream) -> None:
    async def prompts() -> AsyncIterator[str]:
        for i in range(5):
            await asyncio.sleep(0)  # asyncio code: it runs on the caller's loop
            yield f"async prompt {i}"

    async def main() -> None:
        async with hafs_actors.aio.Orchestrator(up.config()) as orch:
            async with orch.stream("events please", provider="openai") as stream:
                events = [event async for event in stream.events()]
            vector = await orch.embed("a text", provider="openai")
            batch = await orch.embeddings(["a", "b"], provider="openai")
            many = await orch.generate_many(["x", "y", "z"], provider="openai")
            async with orch.fanout(prompts(), concurrency=2, ordered=True) as results:
                items = [item async for item in results]
            health = await orch.health()
            await orch.set_tier_route("fast", [("openai", None)])
            routed = await orch.generate("after set_tier_route", tier="fast")
        assert any(isinstance(e, TextDelta) for e in events)
        assert stream.result.content == "".join(e.text for e in events if isinstance(e, TextDelta))
        assert isinstance(vector, list)
        assert all(isinstance(x, float) for x in vector)
        assert len(batch.vectors) == 2
        assert [isinstance(r, GenerateResult) for r in many] == [True] * 3
        assert [item.index for item in items] == list(range(5))
        assert all(item.ok for item in items)
        assert results.completed == 5
        assert health["openai"].ok
        assert routed.provider == "openai"

    run(main)


def test_cancelling_the_task_cancels_the_request_and_closes_the_upstream_connection(
    hang: Upstream,
) -> None:
    async def main() -> None:
        async with hafs_actors.aio.Orchestrator(hang.config()) as orch:
            task = asyncio.create_task(orch.generate("never answered", provider="openai"))
            assert await eventually_async(lambda: hang.hung() == 1)
            assert hang.open_connections() == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The emulator sees the client go: its side of the connection closes.
            assert await eventually_async(lambda: hang.open_connections() == 0, within=2.0)
            assert (await orch.status()).router.in_flight == 0

    run(main)


def test_cancelling_a_stream_closes_the_upstream_connection(hang: Upstream) -> None:
    async def read(orch: hafs_actors.aio.Orchestrator) -> None:
        async with orch.stream("never answered", provider="openai") as stream:
            async for _ in stream:
                pass

    async def main() -> None:
        async with hafs_actors.aio.Orchestrator(hang.config()) as orch:
            task = asyncio.create_task(read(orch))
            assert await eventually_async(lambda: hang.hung() == 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await eventually_async(lambda: hang.open_connections() == 0, within=2.0)

    run(main)


def test_an_asyncio_timeout_cancels_the_request_in_the_runtime(hang: Upstream) -> None:
    async def main() -> None:
        async with hafs_actors.aio.Orchestrator(hang.config()) as orch:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(orch.generate("never answered", provider="openai"), 0.3)
            assert await eventually_async(lambda: hang.open_connections() == 0, within=2.0)

    run(main)


def test_runtime_side_deadlines_and_errors_reach_the_caller_typed(hang: Upstream) -> None:
    async def main() -> None:
        async with hafs_actors.aio.Orchestrator(hang.config()) as orch:
            with pytest.raises(AllProvidersFailed) as failed:
                await orch.generate("never answered", provider="openai", timeout=0.3)
            with pytest.raises(ValueError, match="prompt or messages"):
                await orch.generate()
        assert failed.value.attempts[-1].provider == "openai"

    run(main)


def test_closing_ends_calls_in_flight_with_a_typed_error(hang: Upstream) -> None:
    async def main() -> None:
        orch = hafs_actors.aio.Orchestrator(hang.config(), shutdown_grace=0.2)
        async with orch:
            task = asyncio.create_task(orch.generate("never answered", provider="openai"))
            assert await eventually_async(lambda: hang.hung() == 1)
        with pytest.raises(OrchestratorClosed):
            await task
        assert await eventually_async(lambda: hang.open_connections() == 0, within=2.0)

    run(main)


def test_a_stream_interrupted_upstream_raises_with_the_partial_text() -> None:
    broken = EmulatorConfig(faults=FaultPlan([Fault(kind="stream_error", after_chunks=3)]))

    async def main(up: Upstream) -> None:
        async with (
            hafs_actors.aio.Orchestrator(up.config()) as orch,
            orch.stream("interrupted", provider="openai") as stream,
        ):
            with pytest.raises(StreamInterruptedError) as interrupted:
                async for _ in stream:
                    pass
        assert interrupted.value.partial_text == stream.text
        assert stream.text
        with pytest.raises(StreamInterruptedError):
            _ = stream.result

    with upstream(config=broken) as up:
        run(lambda: main(up))


def test_a_slow_reader_slows_the_provider_read() -> None:
    produced = [0]

    async def many_tokens(_request: object) -> AsyncIterator[str]:
        for _ in range(10_000):
            produced[0] += 1
            yield "token "
            await trio.lowlevel.checkpoint()

    async def main() -> None:
        orch = hafs_actors.aio.Orchestrator(hafs_actors.HafsConfig.for_emulators({}))
        await orch.register_adapter("slow", _stream_adapter(many_tokens))
        async with orch, orch.stream("go", provider="slow") as stream:
            await stream.__anext__()
            # Not reading: the producer stops once the buffers between it and us are full.
            assert await eventually_async(lambda: produced[0] >= 100)
            filled = produced[0]
            await asyncio.sleep(0.3)
            assert produced[0] == filled
            assert filled < 400  # two 64-event buffers and what is in transit
            rest = [text async for text in stream]
        assert len(rest) + 1 == produced[0] == 10_000

    run(main)


def test_a_cancelled_read_loses_no_event() -> None:
    async def paced(_request: object) -> AsyncIterator[str]:
        for i in range(20):
            await trio.sleep(0.005)
            yield f"{i} "

    async def main() -> None:
        orch = hafs_actors.aio.Orchestrator(hafs_actors.HafsConfig.for_emulators({}))
        await orch.register_adapter("paced", _stream_adapter(paced))
        texts: list[str] = []
        timeouts = 0
        async with orch, orch.stream("go", provider="paced") as stream:
            while True:
                try:
                    texts.append(await asyncio.wait_for(stream.__anext__(), 0.002))
                except asyncio.TimeoutError:
                    timeouts += 1
                except StopAsyncIteration:
                    break
        assert timeouts  # some reads were cancelled while waiting...
        assert texts == [f"{i} " for i in range(20)]  # ...and none lost an event

    run(main)


def test_uvloop(up: Upstream, hang: Upstream) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> None:
        async with hafs_actors.aio.Orchestrator(up.config()) as orch:
            results = await asyncio.gather(
                *(orch.generate(f"p{i}", tier="fast") for i in range(50))
            )
            async with orch.stream("story", tier="fast") as stream:
                text = "".join([t async for t in stream])
        assert all(r.content for r in results)
        assert text == stream.result.content
        async with hafs_actors.aio.Orchestrator(hang.config()) as orch:
            task = asyncio.create_task(orch.generate("never answered", provider="openai"))
            assert await eventually_async(lambda: hang.hung() == 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await eventually_async(lambda: hang.open_connections() == 0, within=2.0)

    before = set(threading.enumerate())
    uvloop.run(main())
    assert runtime_threads() == []
    assert set(threading.enumerate()) <= before


def test_notebook_style_on_an_already_running_loop(up: Upstream) -> None:
    """As in Jupyter: the loop runs already; cells start, use and close the orchestrator in
    separate tasks, with no ``async with`` around them (nothing may call asyncio.run)."""

    async def cell(coro: Awaitable[T]) -> T:
        return await asyncio.create_task(_as_coroutine(coro))

    async def main() -> None:
        orch = hafs_actors.aio.Orchestrator(up.config())
        await cell(orch.initialize())
        first = await cell(orch.generate("cell 1", tier="fast"))
        second = await cell(orch.generate("cell 2", tier="fast"))
        await cell(orch.aclose())
        await orch.aclose()  # closing twice is fine
        assert first.content
        assert second.content
        with pytest.raises(FrontendClosed):
            await orch.generate("after close")

    run(main)


def test_context_variables_are_carried_into_the_runtime(up: Upstream) -> None:
    seen: list[str] = []

    def plain_prompts() -> Iterator[str]:
        for i in range(3):
            seen.append(f"runtime:{REQUEST.get()}")  # read in the runtime thread's task
            yield f"p{i}"

    async def async_prompts() -> AsyncIterator[str]:
        for i in range(3):
            seen.append(f"loop:{REQUEST.get()}")  # read on the caller's loop
            yield f"p{i}"

    async def main() -> None:
        async with hafs_actors.aio.Orchestrator(up.config()) as orch:
            REQUEST.set("request-42")
            for source in (plain_prompts(), async_prompts()):
                async with orch.fanout(source, provider="openai") as results:
                    assert all([item.ok async for item in results])

    run(main)
    assert seen == ["runtime:request-42"] * 3 + ["loop:request-42"] * 3


def test_misuse_raises_typed_errors(up: Upstream) -> None:
    async def main() -> None:
        orch = hafs_actors.aio.Orchestrator(up.config())
        with pytest.raises(FrontendNotStarted) as not_started:
            await orch.generate("too early")
        assert isinstance(not_started.value, OrchestratorClosed)
        with pytest.raises(FrontendNotStarted):
            await orch.status()
        stream = orch.stream("too early")
        with pytest.raises(FrontendNotStarted):
            await stream.__anext__()
        async with orch:
            with pytest.raises(FrontendError):
                await orch.initialize()  # it starts once
            async with orch.stream("ok", tier="fast") as entered:
                with pytest.raises(FrontendError):
                    await entered.__aenter__()
        with pytest.raises(FrontendClosed) as closed:
            await orch.generate("too late")
        assert isinstance(closed.value, OrchestratorClosed)
        with pytest.raises(FrontendClosed):
            await orch.initialize()

    run(main)


def test_a_start_failure_is_raised_by_the_enter(tmp_path: Any) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[timeouts]\nrequest_deadline = -1\n")

    async def main() -> None:
        with pytest.raises(hafs_actors.ConfigError):
            async with hafs_actors.aio.Orchestrator(config_path=bad):
                pass

    run(main)


def _stream_adapter(stream: Callable[[Any], AsyncIterator[str]]) -> Any:
    from hafs_actors.testing import FunctionAdapter

    async def generate(_request: object) -> str:
        return ""

    return FunctionAdapter(generate, stream=stream)


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
