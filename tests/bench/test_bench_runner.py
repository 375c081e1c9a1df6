"""The load driver under MockClock: scripted latencies give exact metrics."""

from __future__ import annotations

import sys

import pytest
import trio

from hafs_actors.bench import (
    BenchObserver,
    BenchSpec,
    ClosedLoop,
    OpenLoop,
    parse_slo,
    run_benchmark,
)
from hafs_actors.errors import ServerError

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup

approx = lambda x: pytest.approx(x, rel=1e-9, abs=1e-12)  # noqa: E731


async def test_closed_loop_metrics_are_exact(fakes, autojump_clock):
    target = fakes.target("t", fakes.Plan(ttft=0.1, gaps=(0.02,) * 9, tokens=10))
    spec = BenchSpec(targets=[target], load=ClosedLoop(concurrency=4), requests=40)
    report = await run_benchmark(spec)

    s = report.targets[0].summary
    assert (s.requests, s.ok, s.errors, s.dropped, s.warmup_requests) == (40, 40, {}, 0, 0)
    assert target.max_in_flight == 4
    assert s.ttft is not None
    assert s.itl is not None
    assert s.tpot is not None
    assert s.e2e is not None
    assert (s.ttft.p50, s.ttft.p99, s.ttft.max, s.ttft.count) == (approx(0.1),) * 3 + (40,)
    assert s.itl.count == 40 * 9
    assert (s.itl.mean, s.itl.p90) == (approx(0.02), approx(0.02))
    assert s.tpot.mean == approx(0.02)
    assert s.e2e.mean == approx(0.28)
    # 10 rounds of 4 requests, 0.28 s each.
    assert s.duration == approx(2.8)
    assert s.request_rate == approx(40 / 2.8)
    assert s.output_tokens == 400
    assert s.output_token_rate == approx(400 / 2.8)
    assert s.tokens_estimated == 0


async def test_latency_percentiles_follow_the_samples(fakes, autojump_clock):
    # TTFT of request n is 0.01 * (n + 1): 0.01 .. 1.00 over 100 sequential requests.
    target = fakes.target("t", lambda n: fakes.Plan(ttft=0.01 * (n + 1), gaps=(), tokens=1))
    report = await run_benchmark(
        BenchSpec(targets=[target], load=ClosedLoop(concurrency=1), requests=100)
    )
    ttft = report.targets[0].summary.ttft
    assert ttft is not None
    assert ttft.min == approx(0.01)
    assert ttft.max == approx(1.0)
    assert ttft.p50 == approx(0.505)  # linear interpolation between 0.50 and 0.51
    assert ttft.p90 == approx(0.901)
    assert ttft.p99 == approx(0.9901)  # rank 98.01
    assert ttft.mean == approx(0.505)
    assert report.targets[0].summary.tpot is None  # single-token replies have no TPOT


async def test_warmup_requests_are_excluded(fakes, autojump_clock):
    # The first 8 requests are slow; they are the warm-up and must not show in any metric.
    target = fakes.target(
        "t", lambda n: fakes.Plan(ttft=1.0 if n < 8 else 0.1, gaps=(0.02,) * 9, tokens=10)
    )
    spec = BenchSpec(
        targets=[target], load=ClosedLoop(concurrency=4), requests=20, warmup_requests=8
    )
    result = (await run_benchmark(spec)).targets[0]
    s = result.summary
    assert (s.warmup_requests, s.requests, target.calls) == (8, 20, 28)
    assert s.ttft is not None
    assert s.ttft.max == approx(0.1)
    # Measurement began when the first measured request was sent: after two warm-up rounds.
    assert result.window_start == approx(2 * 1.18)
    assert sum(1 for x in result.samples if x.warmup) == 8


async def test_duration_with_warmup_seconds(fakes, autojump_clock):
    target = fakes.target("t", fakes.Plan(ttft=0.25, gaps=(0.25,), tokens=2))  # 0.5 s each
    spec = BenchSpec(
        targets=[target], load=ClosedLoop(concurrency=2), duration=3.0, warmup_seconds=1.0
    )
    result = (await run_benchmark(spec)).targets[0]
    s = result.summary
    # Each worker sends at 0, 0.5 (warm-up) then 1.0 .. 3.5 (measured); at 4.0 it stops.
    assert (s.warmup_requests, s.requests) == (4, 12)
    assert result.window_start == 1.0
    assert s.duration == 3.0
    assert s.request_rate == 4.0
    assert not result.drain_timed_out


async def test_open_loop_constant_arrivals_start_on_schedule(fakes, autojump_clock):
    target = fakes.target("t", fakes.Plan(ttft=0.05, gaps=(0.1, 0.1), tokens=3))
    spec = BenchSpec(targets=[target], load=OpenLoop(rate=10.0, arrival="constant"), requests=20)
    result = (await run_benchmark(spec)).targets[0]
    starts = [x.start for x in result.samples]
    assert starts == [approx(i / 10) for i in range(20)]
    assert [x.scheduled for x in result.samples] == starts
    assert result.summary.late == 0
    assert target.max_in_flight == 3
    assert result.summary.duration == approx(1.9 + 0.25)
    assert result.summary.request_rate == approx(20 / 2.15)


async def test_open_loop_drops_arrivals_beyond_the_cap(fakes, autojump_clock):
    # 10 req/s, each request takes 0.45 s, at most 2 outstanding: of every 5 arrivals 2 are
    # sent and 3 dropped.
    target = fakes.target("t", fakes.Plan(ttft=0.45, gaps=(), tokens=1))
    dropped_events: list[int] = []

    class Watch(BenchObserver):
        def requests_dropped(self, name: str, count: int) -> None:
            dropped_events.append(count)

    spec = BenchSpec(
        targets=[target],
        load=OpenLoop(rate=10.0, arrival="constant", max_outstanding=2),
        requests=20,
        slos=[parse_slo("e2e=1s")],
    )
    s = (await run_benchmark(spec, observer=Watch())).targets[0].summary
    assert (s.requests, s.dropped, target.max_in_flight) == (8, 12, 2)
    assert sum(dropped_events) == 12
    assert s.goodput is not None
    assert (s.goodput.good, s.goodput.offered) == (8, 20)  # dropped requests count as offered
    assert s.goodput.fraction == 0.4


async def test_open_loop_is_reproducible_with_a_seed(fakes, autojump_clock):
    async def run(seed: int) -> list[float]:
        target = fakes.target("t", fakes.Plan(ttft=0.2, gaps=(0.01,) * 4, tokens=5))
        spec = BenchSpec(
            targets=[target],
            load=OpenLoop(rate=25.0, arrival="gamma", burstiness=0.5),
            requests=50,
            seed=seed,
        )
        samples = (await run_benchmark(spec)).targets[0].samples
        assert [x.start for x in samples] == [approx(x.scheduled) for x in samples]
        return [x.scheduled for x in samples]

    first, again, other = await run(7), await run(7), await run(8)
    assert first == again
    assert first != other
    assert first == sorted(first)


async def test_every_target_sees_the_same_schedule(fakes, autojump_clock):
    a = fakes.target("a", fakes.Plan(ttft=0.1, gaps=(), tokens=1))
    b = fakes.target("b", fakes.Plan(ttft=0.3, gaps=(), tokens=1))
    spec = BenchSpec(targets=[a, b], load=OpenLoop(rate=5.0), requests=30, seed=3)
    report = await run_benchmark(spec)
    ra, rb = report.targets
    assert [x.scheduled for x in ra.samples] == [x.scheduled for x in rb.samples]
    assert ra.summary.ttft is not None
    assert rb.summary.ttft is not None
    assert ra.summary.ttft.p50 == approx(0.1)
    assert rb.summary.ttft.p50 == approx(0.3)
    assert report.config["targets"] == [
        {"name": "a", "via": "fake"},
        {"name": "b", "via": "fake"},
    ]


async def test_targets_run_one_after_another_unless_parallel(fakes, autojump_clock):
    async def elapsed(parallel: bool) -> float:
        targets = [fakes.target(n, fakes.Plan(ttft=1.0, gaps=(), tokens=1)) for n in "ab"]
        spec = BenchSpec(
            targets=targets,
            load=ClosedLoop(concurrency=1),
            requests=3,
            parallel_targets=parallel,
        )
        start = trio.current_time()
        await run_benchmark(spec)
        assert all(t.sessions == 1 and not t.session_open for t in targets)
        return trio.current_time() - start

    assert await elapsed(False) == approx(6.0)
    assert await elapsed(True) == approx(3.0)


async def test_closed_loop_ramp_starts_workers_linearly(fakes, autojump_clock):
    target = fakes.target("t", fakes.Plan(ttft=10.0, gaps=(), tokens=1))
    spec = BenchSpec(targets=[target], load=ClosedLoop(concurrency=4, ramp=4.0), requests=4)
    result = (await run_benchmark(spec)).targets[0]
    assert [x.start for x in result.samples] == [0.0, 1.0, 2.0, 3.0]


async def test_ramp_workers_not_started_when_the_run_ends_early(fakes, autojump_clock):
    target = fakes.target("t", fakes.Plan(ttft=0.5, gaps=(), tokens=1))
    spec = BenchSpec(targets=[target], load=ClosedLoop(concurrency=4, ramp=100.0), requests=2)
    start = trio.current_time()
    result = (await run_benchmark(spec)).targets[0]
    assert result.summary.requests == 2
    assert not result.drain_timed_out
    assert trio.current_time() - start == approx(1.0)  # did not wait for the ramp's end


async def test_open_loop_ramp_thins_early_arrivals(fakes, autojump_clock):
    target = fakes.target("t", fakes.Plan(ttft=0.01, gaps=(), tokens=1))
    spec = BenchSpec(
        targets=[target],
        load=OpenLoop(rate=10.0, arrival="constant", ramp=10.0),
        duration=20.0,
    )
    samples = (await run_benchmark(spec)).targets[0].samples
    first_half = sum(1 for x in samples if x.start < 5.0)
    ramp = sum(1 for x in samples if x.start < 10.0)
    steady = sum(1 for x in samples if 10.0 <= x.start < 20.0)
    # Intensity: 10 * t^2 / 20 during the ramp -> 12.5 arrivals by 5 s, 50 by 10 s; then 100.
    assert first_half == 13  # arrivals at intensities 0..12
    assert ramp == 50
    assert steady == 100


async def test_errors_are_counted_by_type_and_redacted(fakes, autojump_clock):
    def plan(n: int):
        if n % 4 == 1:
            return fakes.Plan(error=ValueError("bad sk-abcdefghijklmnopqrstu key"), tokens=10)
        if n % 4 == 2:
            group = ExceptionGroup("wrapped", [ServerError("boom", provider="x", status=500)])
            return fakes.Plan(error=group, tokens=10)
        return fakes.Plan(tokens=10)

    target = fakes.target("t", plan)
    spec = BenchSpec(targets=[target], load=ClosedLoop(concurrency=2), requests=20)
    result = (await run_benchmark(spec)).targets[0]
    s = result.summary
    assert s.errors == {"ServerError": 5, "ValueError": 5}
    assert s.ok == 10
    assert s.failed == 10
    messages = [x.error for x in result.samples if x.error_type == "ValueError"]
    assert all(m is not None and "sk-abc" not in m and "[REDACTED]" in m for m in messages)
    # Failed requests never enter the latency metrics.
    assert s.e2e is not None
    assert s.e2e.count == 10


async def test_tokens_fall_back_to_chunk_count(fakes, autojump_clock):
    target = fakes.target("t", fakes.Plan(ttft=0.1, gaps=(0.1,) * 3, tokens=None))
    s = (
        (
            await run_benchmark(
                BenchSpec(targets=[target], load=ClosedLoop(concurrency=1), requests=5)
            )
        )
        .targets[0]
        .summary
    )
    assert s.output_tokens == 20
    assert s.tokens_estimated == 5
    assert s.tpot is not None
    assert s.tpot.mean == approx(0.1)


async def test_goodput_counts_requests_meeting_every_slo(fakes, autojump_clock):
    target = fakes.target(
        "t", lambda n: fakes.Plan(ttft=0.1 if n % 2 else 0.3, gaps=(0.05,) * 4, tokens=5)
    )
    spec = BenchSpec(
        targets=[target],
        load=ClosedLoop(concurrency=1),
        requests=10,
        slos=[parse_slo("ttft=200ms"), parse_slo("tpot=60")],
    )
    s = (await run_benchmark(spec)).targets[0].summary
    assert s.goodput is not None
    assert (s.goodput.good, s.goodput.offered, s.goodput.fraction) == (5, 10, 0.5)
    assert s.goodput.rate == approx(5 / s.duration)


async def test_drain_timeout_cancels_requests_still_running(fakes, autojump_clock):
    target = fakes.target("t", lambda n: fakes.Plan(hang=n == 1, tokens=10))
    spec = BenchSpec(
        targets=[target], load=ClosedLoop(concurrency=2), requests=6, drain_timeout=5.0
    )
    start = trio.current_time()
    result = (await run_benchmark(spec)).targets[0]
    assert result.drain_timed_out
    assert result.summary.errors == {"Cancelled": 1}
    assert result.summary.ok == 5
    assert target.cancelled == 1
    # 5 requests of 0.28 s on one worker, then 5 s of drain for the stuck one.
    assert trio.current_time() - start == approx(5 * 0.28 + 5.0)


async def test_cancelling_the_caller_cancels_every_request(fakes, autojump_clock):
    target = fakes.target("t", fakes.Plan(hang=True))
    spec = BenchSpec(targets=[target], load=OpenLoop(rate=100.0), duration=10.0)
    with trio.move_on_after(1.0) as scope:
        await run_benchmark(spec)
    assert scope.cancelled_caught
    assert target.calls > 0
    assert target.cancelled == target.calls
    assert target.in_flight == 0
    assert not target.session_open


async def test_observer_sees_every_request(fakes, autojump_clock):
    seen: list[str] = []

    class Watch(BenchObserver):
        def target_started(self, name, spec):
            seen.append(f"start {name}")

        def request_finished(self, name, sample):
            seen.append("req")

        def target_finished(self, name, result):
            seen.append(f"end {name} {result.summary.requests}")

    target = fakes.target("t")
    spec = BenchSpec(
        targets=[target], load=ClosedLoop(concurrency=2), requests=4, warmup_requests=1
    )
    await run_benchmark(spec, observer=Watch())
    assert seen == ["start t", "req", "req", "req", "req", "req", "end t 4"]


async def test_prompts_are_distinct_and_reproducible(fakes, autojump_clock):
    prompts: list[str] = []

    class Recording(fakes.Target):
        async def send(self, prompt, max_tokens, trace):
            prompts.append(prompt)
            assert max_tokens == 7
            await super().send(prompt, max_tokens, trace)

    target = Recording("t", lambda _: fakes.Plan(tokens=3))
    spec = BenchSpec(
        targets=[target], load=ClosedLoop(concurrency=1), requests=5, max_tokens=7, prompt_tokens=50
    )
    await run_benchmark(spec)
    first = list(prompts)
    prompts.clear()
    await run_benchmark(spec)
    assert prompts == first
    assert len(set(first)) == 5
    assert all(45 <= len(p.split()) <= 55 for p in first)
