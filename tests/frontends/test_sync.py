"""The blocking front end: threads sharing one orchestrator, Ctrl-C, streams, typed errors."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import hafs_actors
import hafs_actors.sync
from hafs_actors import AllProvidersFailed, GenerateResult, OrchestratorClosed, TextDelta
from hafs_actors.sync import FrontendClosed, FrontendError, FrontendNotStarted, RuntimeThreadError

from ._helpers import HANG, Upstream, eventually, runtime_threads, upstream


@pytest.fixture
def up() -> Iterator[Upstream]:
    with upstream() as emulators:
        yield emulators


@pytest.fixture
def hang() -> Iterator[Upstream]:
    with upstream(config=HANG) as emulators:
        yield emulators


@pytest.fixture
def no_thread_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    assert runtime_threads() == []
    assert set(threading.enumerate()) <= before


@pytest.mark.usefixtures("no_thread_left")
def test_sixteen_threads_share_one_orchestrator(up: Upstream) -> None:
    def work(orch: hafs_actors.sync.Orchestrator, worker: int) -> list[str]:
        out = [orch.generate(f"thread {worker} prompt {i}", tier="fast").content for i in range(10)]
        with orch.stream(f"thread {worker} story", tier="fast") as stream:
            out.append("".join(stream))
        return out

    with hafs_actors.sync.Orchestrator(up.config()) as orch:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda w: work(orch, w), range(16)))
        status = orch.status()
    assert all(all(answer) for answers_of_one in answers for answer in answers_of_one)
    assert status.router.requests == 16 * 11
    assert status.router.succeeded == 16 * 11
    assert status.router.in_flight == 0


@pytest.mark.usefixtures("no_thread_left")
def test_the_rest_of_the_api(up: Upstream) -> None:
    with hafs_actors.sync.Orchestrator(up.config()) as orch:
        with orch.stream("events please", provider="openai") as stream:
            events = list(stream.events())
        vector = orch.embed("a text", provider="openai")
        batch = orch.embeddings(["a", "b"], provider="openai")
        many = orch.generate_many(["x", "y"], provider="openai")
        with orch.fanout((f"p{i}" for i in range(5)), ordered=True, provider="openai") as items:
            indexes = [item.index for item in items]
        health = orch.health()
        orch.set_tier_route("fast", [("openai", None)])
        routed = orch.generate("after set_tier_route", tier="fast")
        collected = None
        with orch.stream("collect", provider="openai") as again:
            collected = again.collect()
    assert stream.result.content == "".join(e.text for e in events if isinstance(e, TextDelta))
    assert all(isinstance(x, float) for x in vector)
    assert len(batch.vectors) == 2
    assert [isinstance(r, GenerateResult) for r in many] == [True, True]
    assert indexes == list(range(5))
    assert items.completed == 5
    assert health["openai"].ok
    assert routed.provider == "openai"
    assert collected.content == again.text


@pytest.mark.usefixtures("no_thread_left")
def test_leaving_a_stream_early_closes_the_upstream_connection(hang: Upstream) -> None:
    with hafs_actors.sync.Orchestrator(hang.config()) as orch:
        with orch.stream("never answered", provider="openai"):
            assert eventually(lambda: hang.hung() == 1)
            assert hang.open_connections() == 1
        assert eventually(lambda: hang.open_connections() == 0, within=2.0)


@pytest.mark.usefixtures("no_thread_left")
def test_ctrl_c_cancels_the_call_in_flight(hang: Upstream) -> None:
    """KeyboardInterrupt in the waiting (main) thread cancels the call in the runtime, which
    closes the upstream connection; the orchestrator stays usable."""
    main = threading.main_thread()
    assert threading.current_thread() is main

    def press_ctrl_c() -> None:
        if eventually(lambda: hang.hung() == 1, within=5.0):
            signal.pthread_kill(main.ident or 0, signal.SIGINT)

    with hafs_actors.sync.Orchestrator(hang.config()) as orch:
        presser = threading.Thread(target=press_ctrl_c)
        presser.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                orch.generate("never answered", provider="openai")
        finally:
            presser.join()
        assert eventually(lambda: hang.open_connections() == 0, within=2.0)
        assert orch.status().router.in_flight == 0
        with pytest.raises(AllProvidersFailed):  # still serving: this one times out upstream
            orch.generate("again", provider="openai", timeout=0.2)


@pytest.mark.usefixtures("no_thread_left")
def test_runtime_side_deadlines_and_errors_reach_the_caller_typed(hang: Upstream) -> None:
    with hafs_actors.sync.Orchestrator(hang.config()) as orch:
        with pytest.raises(AllProvidersFailed) as failed:
            orch.generate("never answered", provider="openai", timeout=0.3)
        with pytest.raises(ValueError, match="prompt or messages"):
            orch.generate()
    assert failed.value.attempts[-1].provider == "openai"


@pytest.mark.usefixtures("no_thread_left")
def test_misuse_raises_typed_errors(up: Upstream) -> None:
    orch = hafs_actors.sync.Orchestrator(up.config())
    with pytest.raises(FrontendNotStarted) as not_started:
        orch.generate("too early")
    assert isinstance(not_started.value, OrchestratorClosed)
    with pytest.raises(FrontendNotStarted):
        next(orch.stream("too early"))
    calls_from_the_runtime: list[BaseException] = []

    async def adapter_calling_the_front_end(_request: object) -> str:
        try:
            orch.status()  # from the runtime thread: it would wait for itself
        except BaseException as exc:
            calls_from_the_runtime.append(exc)
        return "done"

    from hafs_actors.testing import FunctionAdapter

    orch.register_adapter("reentrant", FunctionAdapter(adapter_calling_the_front_end))
    with orch:
        with pytest.raises(FrontendError):
            orch.initialize()  # it starts once
        assert orch.generate("go", provider="reentrant").content == "done"
        with orch.stream("ok", tier="fast") as stream, pytest.raises(FrontendError):
            stream.__enter__()
    assert [type(e) for e in calls_from_the_runtime] == [RuntimeThreadError]
    with pytest.raises(FrontendClosed) as closed:
        orch.generate("too late")
    assert isinstance(closed.value, OrchestratorClosed)
    orch.close()  # closing again is fine


@pytest.mark.usefixtures("no_thread_left")
def test_a_start_failure_is_raised_by_the_enter(tmp_path: Any) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[timeouts]\nrequest_deadline = -1\n")
    with pytest.raises(hafs_actors.ConfigError), hafs_actors.sync.Orchestrator(config_path=bad):
        pass
