"""The zero-config demo: five emulated providers, injected faults, a fan-out across every tier.

``hafs demo`` (or :func:`run_demo`) starts the five emulators in-process with realistic latency
profiles, breaks three of them on purpose (one flaky, one rate limited, one whose adapter crashes
its actor once), runs a few thousand requests through the orchestrator with a live progress
display, then prints what happened: a per-provider table and the supervision and breaker events.
No configuration, keys or network.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

import attrs
import trio
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import supervisors

from ..adapters import create_adapter
from ..adapters.base import ProviderAdapter
from ..bench.console import Col, fit_tables
from ..bench.metrics import percentile
from ..config import BreakerSettings
from ..orchestrator import FanoutItem, UnifiedOrchestrator
from ..resilience import BreakerEvent
from ..routing.tiers import TaskTier
from ..testing import emulated_config
from ..testing.emulators import EmulatorConfig, Fault, FaultPlan, Quota, open_emulators
from ..types import (
    EmbeddingResult,
    EmbedRequest,
    GenerateRequest,
    GenerateResult,
    HealthStatus,
    StreamEvent,
)

__all__ = ["DemoReport", "run_demo"]

#: Each tier starts on a different provider so every fault shows up somewhere.
DEMO_ROUTES: dict[str, tuple[tuple[str, str | None], ...]] = {
    TaskTier.REASONING.value: (
        ("anthropic", "claude-sonnet-4-20250514"),
        ("gemini", "gemini-3-pro-preview"),
    ),
    TaskTier.FAST.value: (("openai", "gpt-5.2-mini"), ("gemini", "gemini-3-flash-preview")),
    TaskTier.CODING.value: (
        ("ollama", "qwen2.5-coder:14b"),
        ("llamacpp", "llama-3.2-3b-instruct"),
        ("gemini", "gemini-3-flash-preview"),
    ),
    TaskTier.RESEARCH.value: (
        ("gemini", "gemini-3-flash-preview"),
        ("anthropic", "claude-sonnet-4-20250514"),
    ),
    TaskTier.CREATIVE.value: (("llamacpp", "llama-3.2-3b-instruct"), ("openai", "gpt-5.2-mini")),
}

PROMPTS = (
    "Write a function to sort a list",
    "Analyze this architecture for single points of failure",
    "Summarize the trade-offs of circuit breakers",
    "Draft a haiku about backpressure",
    "Explain structured concurrency to a new engineer",
    "Review this retry policy for thundering herds",
    "List three ways to bound memory in a fan-out",
)


class CrashOnceAdapter:
    """Wraps a real adapter and raises an unexpected exception once: a simulated adapter bug.

    The exception is not a typed error, so it crashes the provider actor; its supervisor
    restarts it with a fresh incarnation and the requests it held fall back.
    """

    def __init__(self, inner: ProviderAdapter, crash_on_call: int) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.supports_streaming = inner.supports_streaming
        self.supports_embeddings = inner.supports_embeddings
        self.default_model = getattr(inner, "default_model", None)
        self._calls = 0
        self._crash_on = crash_on_call

    def _tick(self) -> None:
        self._calls += 1
        if self._calls == self._crash_on:
            raise RuntimeError("simulated adapter bug (demo): the actor crashes once")

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        self._tick()
        return await self.inner.generate(request)

    def stream(
        self, request: GenerateRequest
    ) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        self._tick()
        return self.inner.stream(request)

    async def embed(self, request: EmbedRequest) -> EmbeddingResult:
        return await self.inner.embed(request)

    async def health(self) -> HealthStatus:
        return await self.inner.health()

    async def aclose(self) -> None:
        await self.inner.aclose()


@attrs.frozen
class DemoRequest:
    index: int
    tier: str
    prompt: str
    stream: bool


@attrs.define
class ProviderRow:
    attempts: int = 0
    served: int = 0
    failed_attempts: int = 0
    fallbacks_served: int = 0
    latencies: list[float] = attrs.field(factory=list)
    ttfts: list[float] = attrs.field(factory=list)


@attrs.frozen
class DemoReport:
    requests: int
    succeeded: int
    failed: int
    fallbacks: int
    wall_time: float
    rows: dict[str, ProviderRow]
    errors: dict[str, int]
    breaker_events: list[str]
    supervisor_events: list[str]


def _fault_plans(seed: int) -> dict[str, EmulatorConfig]:
    base = EmulatorConfig(latency="realistic", seed=seed, reply_tokens=(8, 24))
    return {
        # Flaky: six 500s in a row at the start (the breaker opens, its first probe fails,
        # the second closes it), then 10 % 503s for the rest (retries and fallbacks).
        "openai": attrs.evolve(
            base,
            faults=FaultPlan(
                faults=(
                    Fault(kind="http_error", status=500, count=6),
                    Fault(kind="http_error", status=503, probability=0.1),
                ),
                seed=seed,
            ),
        ),
        # Rate limited: a server-side quota that really enforces itself (429 + headers).
        "anthropic": attrs.evolve(
            base, faults=FaultPlan(quota=Quota(requests_per_minute=300), seed=seed)
        ),
        "gemini": base,
        "ollama": base,
        "llamacpp": base,
    }


def _describe_breaker(t0: float, at: float, provider: str, event: BreakerEvent) -> str:
    return (
        f"{at - t0:6.2f}s  {provider:<9} breaker {event.previous.value} -> {event.state.value} "
        f"({event.reason.value})"
    )


def _describe_supervision(t0: float, at: float, provider: str, event: Any) -> str | None:
    if isinstance(event, supervisors.ChildExited) and event.error is not None:
        return f"{at - t0:6.2f}s  {provider:<9} actor crashed: {event.error!r}"
    if isinstance(event, supervisors.ChildRestarted):
        return f"{at - t0:6.2f}s  {provider:<9} actor restarted by its supervisor"
    if isinstance(event, supervisors.GaveUp):
        return f"{at - t0:6.2f}s  {provider:<9} supervisor gave up: provider marked down"
    return None


async def run_demo(
    *,
    requests: int = 3000,
    concurrency: int = 200,
    stream_share: float = 0.3,
    seed: int = 7,
    console: Console | None = None,
    progress: bool = True,
    metrics_port: int | None = None,
) -> DemoReport:
    """Run the demo and return its report (the CLI prints it)."""
    if requests < 1 or concurrency < 1:
        raise ValueError("requests and concurrency must be >= 1")
    console = console or Console()
    rng = random.Random(seed)
    tiers = [t.value for t in TaskTier]
    work = [
        DemoRequest(
            index=i,
            tier=tiers[i % len(tiers)],
            prompt=f"{rng.choice(PROMPTS)} (#{i})",
            stream=rng.random() < stream_share,
        )
        for i in range(requests)
    ]
    rows: dict[str, ProviderRow] = defaultdict(ProviderRow)
    errors: Counter[str] = Counter()
    fallbacks = 0

    async with open_emulators(None, configs=_fault_plans(seed)) as emulators:
        config = emulated_config(emulators, routes=DEMO_ROUTES)
        # A short open period so the demo shows the breaker recovering, not only opening.
        quick = BreakerSettings(open_duration=1.0, max_open_duration=4.0)
        providers = {
            name: attrs.evolve(p, breaker=quick) if p.configured else p
            for name, p in config.providers.items()
        }
        config = attrs.evolve(config, providers=providers)
        orch = UnifiedOrchestrator(config)
        ollama_settings = config.adapter_settings("ollama")
        orch.register_adapter(
            "ollama",
            CrashOnceAdapter(create_adapter("ollama", ollama_settings), crash_on_call=60),
        )
        start_wall = time.perf_counter()
        async with orch, AsyncExitStack() as extras:
            if metrics_port is not None:
                from ..observability.prometheus import metrics_endpoint

                endpoint = await extras.enter_async_context(metrics_endpoint(orch, metrics_port))
                console.print(f"metrics: {escape(endpoint.url)}")
            t0 = trio.current_time()

            async def submit(req: DemoRequest) -> GenerateResult:
                kwargs: dict[str, Any] = {"tier": req.tier, "max_tokens": 48, "timeout": 20.0}
                if not req.stream:
                    return await orch.generate(req.prompt, **kwargs)
                async with orch.stream(req.prompt, **kwargs) as s:
                    return await s.collect()

            def record(item: FanoutItem[DemoRequest, GenerateResult]) -> None:
                nonlocal fallbacks
                if item.error is not None:
                    errors[type(item.error).__name__] += 1
                    for a in getattr(item.error, "attempts", ()):
                        if a.outcome != "skipped":
                            rows[a.provider].attempts += 1
                            rows[a.provider].failed_attempts += 1
                    return
                result = item.unwrap()
                for a in result.attempts:
                    if a.outcome == "skipped":
                        continue
                    rows[a.provider].attempts += 1
                    if a.outcome != "ok":
                        rows[a.provider].failed_attempts += 1
                row = rows[result.provider]
                row.served += 1
                row.latencies.append(result.latency)
                if result.ttft is not None:
                    row.ttfts.append(result.ttft)
                if result.fallback_used:
                    row.fallbacks_served += 1
                    fallbacks += 1

            await _drive(orch, work, submit, record, concurrency, console, progress)
            wall = time.perf_counter() - start_wall
            breaker_lines = [_describe_breaker(t0, at, p, e) for at, p, e in orch.breaker_events]
            supervision_lines = [
                line
                for at, p, e in orch.supervisor_events
                if (line := _describe_supervision(t0, at, p, e)) is not None
            ]
    succeeded = sum(r.served for r in rows.values())
    return DemoReport(
        requests=requests,
        succeeded=succeeded,
        failed=sum(errors.values()),
        fallbacks=fallbacks,
        wall_time=wall,
        rows=dict(sorted(rows.items())),
        errors=dict(errors),
        breaker_events=breaker_lines,
        supervisor_events=supervision_lines,
    )


async def _drive(
    orch: UnifiedOrchestrator,
    work: list[DemoRequest],
    submit: Callable[[DemoRequest], Any],
    record: Callable[[FanoutItem[DemoRequest, GenerateResult]], None],
    concurrency: int,
    console: Console,
    show: bool,
) -> None:
    from ..orchestrator._fanout import open_fanout

    columns = (
        TextColumn("[bold]fan-out"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ok {task.fields[ok]}  failed {task.fields[failed]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=not show, transient=False) as bar:
        task = bar.add_task("requests", total=len(work), ok=0, failed=0)
        ok = failed = 0
        async with open_fanout(submit, work, concurrency=concurrency) as results:
            async for item in results:
                record(item)
                if item.error is None:
                    ok += 1
                else:
                    failed += 1
                bar.update(task, advance=1, ok=ok, failed=failed)


def _ms(values: list[float], p: float) -> str:
    if not values:
        return "-"
    return f"{percentile(sorted(values), p) * 1000:.0f}"


def print_report(report: DemoReport, console: Console | None = None) -> None:
    console = console or Console()
    console.print(
        "Per provider: attempts, failures, requests served (of which after a fallback), "
        "latency of served requests and time to first token (streams), in ms"
    )
    rows = [
        [
            escape(name),
            str(r.attempts),
            str(r.failed_attempts),
            str(r.served),
            str(r.fallbacks_served),
            _ms(r.latencies, 50),
            _ms(r.latencies, 95),
            _ms(r.latencies, 99),
            _ms(r.ttfts, 50),
            _ms(r.ttfts, 95),
        ]
        for name, r in report.rows.items()
    ]
    headers = ("tries", "failed", "served", "fallbk", "p50", "p95", "p99", "ttft50", "ttft95")
    for table in fit_tables(
        "hafs demo", [Col("provider", "left")], [Col(h) for h in headers], rows, console.width
    ):
        console.print(table)
    rate = report.requests / report.wall_time if report.wall_time > 0 else 0.0
    console.print(
        f"[bold]{report.requests}[/] requests in {report.wall_time:.1f} s ({rate:.0f}/s): "
        f"[green]{report.succeeded} succeeded[/], {report.fallbacks} via fallback, "
        f"[red]{report.failed} failed[/]"
        + (
            f" ({', '.join(f'{k}: {v}' for k, v in report.errors.items())})"
            if report.errors
            else ""
        )
    )
    console.print("\n[bold]Supervision events[/]")
    for line in report.supervisor_events or ["  (none)"]:
        console.print("  " + line)
    console.print("\n[bold]Breaker events[/]")
    for line in report.breaker_events[:30] or ["  (none)"]:
        console.print("  " + line)
    if len(report.breaker_events) > 30:
        console.print(f"  ... and {len(report.breaker_events) - 30} more")
