"""Drive a :class:`BenchSpec`: apply the load to each target and collect a :class:`BenchReport`.

Every request runs as a task in one nursery per target, so nothing outlives the run and
cancelling the caller cancels every request in flight. Closed loop: one task per worker.
Open loop: one task per arrival, admitted by a :class:`trio.CapacityLimiter` without waiting
(an arrival that finds the cap reached is dropped and counted), then, with
``max_concurrency``, queued for a sending slot as vLLM does. Times come from
``trio.current_time()`` only, so the whole harness runs under ``MockClock`` in tests.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import trio

from .._groups import unwrap_single_exception
from ..errors import redact
from .datasets import BenchRequest
from .load import ClosedLoop, OpenLoop
from .metrics import summarize
from .report import BenchReport, TargetResult, collect_environment, utc_now_iso
from .samples import RequestSample, RequestTrace, TokensSource
from .spec import BenchSpec
from .targets import BenchTarget

__all__ = ["BenchObserver", "run_benchmark"]

_DRAIN_CANCELLED = "Cancelled"


class BenchObserver:
    """Hooks for live progress (the CLI draws its progress bar from these). No-ops here."""

    def target_started(self, name: str, spec: BenchSpec) -> None:
        """The target's session is open and load begins now."""

    def request_finished(self, name: str, sample: RequestSample) -> None:
        """One request (warm-up or measured) ended, successfully or not."""

    def requests_dropped(self, name: str, count: int) -> None:
        """Open loop: ``count`` arrivals found the outstanding cap reached and were dropped."""

    def target_finished(self, name: str, result: TargetResult) -> None:
        """The target's load and drain are over; ``result`` has its summary."""


def _leaf(exc: BaseException) -> BaseException:
    """The one exception inside nested single-member groups (trio's strict groups)."""
    while True:
        members = getattr(exc, "exceptions", None)
        if not isinstance(members, tuple) or len(members) != 1:
            return exc
        exc = members[0]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact(text[0])[:500] if text else type(exc).__name__


class _TargetRun:
    """The load on one target: admission (warm-up, stop condition), request tasks, samples."""

    def __init__(self, target: BenchTarget, spec: BenchSpec, observer: BenchObserver) -> None:
        self.target = target
        self.spec = spec
        self.observer = observer
        self.samples: list[RequestSample] = []
        self.t0 = 0.0
        self.issued = 0
        self.measured_issued = 0
        self.measure_start: float | None = None  # offset from t0
        self.dropped = 0
        self.finished_issuing = False
        self.stopped = trio.Event()
        self.nursery: trio.Nursery | None = None
        self.dataset = spec.requests_source

    # --- admission ---------------------------------------------------------------------------

    def admit(self, offset: float) -> bool | None:
        """Classify the next request issued at ``offset``: warm-up (True), measured (False),
        or ``None`` once the stop condition is reached (then the drain deadline is set)."""
        spec = self.spec
        if self.finished_issuing:
            return None
        if self.measure_start is None:
            if self.issued < spec.warmup_requests or offset < spec.warmup_seconds:
                self.issued += 1
                return True
            self.measure_start = spec.warmup_seconds if spec.warmup_seconds else offset
        if spec.requests is not None:
            stop = self.measured_issued >= spec.requests
        else:
            assert spec.duration is not None
            stop = offset >= self.measure_start + spec.duration
        if stop:
            self.stop_issuing()
            return None
        self.issued += 1
        self.measured_issued += 1
        return False

    def stop_issuing(self) -> None:
        """No more requests: in-flight ones get ``drain_timeout`` seconds from now."""
        if self.finished_issuing:
            return
        self.finished_issuing = True
        self.stopped.set()
        if self.nursery is not None:
            self.nursery.cancel_scope.deadline = trio.current_time() + self.spec.drain_timeout

    # --- one request ---------------------------------------------------------------------------

    async def request(
        self, index: int, warmup: bool, scheduled: float | None, queued: float = 0.0
    ) -> None:
        spec = self.spec
        ask = self.dataset.request(index, spec.seed)
        trace = RequestTrace()
        start = trio.current_time()
        error: BaseException | None = None
        try:
            await self.target.send(ask.prompt, ask.max_tokens, trace)
        except trio.Cancelled:
            self._record(index, warmup, scheduled, queued, start, ask, trace, None, cancelled=True)
            raise
        except Exception as exc:
            error = _leaf(exc)
        self._record(index, warmup, scheduled, queued, start, ask, trace, error)

    def _record(
        self,
        index: int,
        warmup: bool,
        scheduled: float | None,
        queued: float,
        start: float,
        ask: BenchRequest,
        trace: RequestTrace,
        error: BaseException | None,
        *,
        cancelled: bool = False,
    ) -> None:
        end = trio.current_time()
        chunks = tuple(t - start for t in trace.chunk_times)
        tokens = trace.output_tokens
        source: TokensSource | None = None if tokens is None else "usage"
        if tokens is None and not cancelled and error is None:
            tokens, source = len(chunks), "chunks"
        error_type = error_text = None
        if cancelled:
            error_type = _DRAIN_CANCELLED
            error_text = "cancelled: still running when the drain timeout expired"
        elif error is not None:
            error_type, error_text = type(error).__name__, _one_line(error)
        sample = RequestSample(
            index=index,
            warmup=warmup,
            start=start - self.t0,
            e2e=end - start,
            chunks=chunks,
            scheduled=scheduled,
            queued=queued,
            output_tokens=tokens,
            input_tokens=ask.input_tokens if trace.input_tokens is None else trace.input_tokens,
            max_tokens=ask.max_tokens,
            tokens_source=source,
            input_source="estimate" if trace.input_tokens is None else "usage",
            error_type=error_type,
            error=error_text,
            provider=trace.provider,
            model=trace.model,
            fallback_used=trace.fallback_used,
        )
        self.samples.append(sample)
        self.observer.request_finished(self.target.name, sample)

    # --- load models ---------------------------------------------------------------------------

    async def run(self) -> TargetResult:
        self.t0 = trio.current_time()
        self.observer.target_started(self.target.name, self.spec)
        load = self.spec.load
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            if isinstance(load, ClosedLoop):
                for worker in range(load.concurrency):
                    nursery.start_soon(self._worker, load, worker)
            else:
                await self._arrivals(load, nursery)
                self.stop_issuing()
        drain_timed_out = nursery.cancel_scope.cancelled_caught
        self.nursery = None
        window_start = self.measure_start
        if window_start is None:  # stopped before warm-up ended: nothing measured
            window_start = max((s.start + s.e2e for s in self.samples), default=0.0)
        samples = sorted(self.samples, key=lambda s: s.index)
        summary = summarize(
            samples,
            window_start=window_start,
            slos=self.spec.slos,
            dropped=self.dropped,
            late_threshold=self.spec.late_threshold,
            percentiles=self.spec.percentiles,
        )
        result = TargetResult(
            name=self.target.name,
            description=dict(self.target.description),
            summary=summary,
            samples=tuple(samples),
            window_start=window_start,
            drain_timed_out=drain_timed_out,
        )
        self.observer.target_finished(self.target.name, result)
        return result

    async def _worker(self, load: ClosedLoop, worker: int) -> None:
        with trio.move_on_at(self.t0 + load.worker_start(worker)):
            await self.stopped.wait()
            return  # the run ended before this worker's turn in the ramp
        while True:
            index = self.issued
            warmup = self.admit(trio.current_time() - self.t0)
            if warmup is None:
                return
            await self.request(index, warmup, None)

    async def _arrivals(self, load: OpenLoop, nursery: trio.Nursery) -> None:
        limiter = trio.CapacityLimiter(load.max_outstanding)
        slots = trio.CapacityLimiter(load.max_concurrency or load.max_outstanding)
        rng = random.Random(self.spec.seed)
        for offset in load.arrival_times(rng):
            index = self.issued
            warmup = self.admit(offset)
            if warmup is None:
                return
            await trio.sleep_until(self.t0 + offset)
            try:
                limiter.acquire_on_behalf_of_nowait(index)
            except trio.WouldBlock:
                if not warmup:
                    self.dropped += 1
                self.observer.requests_dropped(self.target.name, 1)
                continue
            nursery.start_soon(self._admitted, limiter, slots, index, warmup, offset)

    async def _admitted(
        self,
        limiter: trio.CapacityLimiter,
        slots: trio.CapacityLimiter,
        index: int,
        warmup: bool,
        offset: float,
    ) -> None:
        try:
            arrived = trio.current_time()
            async with slots:
                await self.request(index, warmup, offset, trio.current_time() - arrived)
        finally:
            limiter.release_on_behalf_of(index)


async def _run_target(
    target: BenchTarget, spec: BenchSpec, observer: BenchObserver
) -> TargetResult:
    async with target.session():
        return await _TargetRun(target, spec, observer).run()


async def run_benchmark(
    spec: BenchSpec,
    *,
    observer: BenchObserver | None = None,
    environment: Mapping[str, Any] | None = None,
) -> BenchReport:
    """Run ``spec`` and return its report. Request failures are recorded, never raised; a
    failure to open a target (bad configuration, unreachable setup) propagates."""
    observer = observer or BenchObserver()
    created = utc_now_iso()
    results: dict[int, TargetResult] = {}

    async def run_one(i: int) -> None:
        results[i] = await _run_target(spec.targets[i], spec, observer)

    if spec.parallel_targets:
        async with unwrap_single_exception(), trio.open_nursery() as nursery:
            for i in range(len(spec.targets)):
                nursery.start_soon(run_one, i)
    else:
        for i in range(len(spec.targets)):
            await run_one(i)
    return BenchReport(
        config=spec.config_record(),
        environment=collect_environment(environment),
        targets=tuple(results[i] for i in range(len(spec.targets))),
        created=created,
    )
