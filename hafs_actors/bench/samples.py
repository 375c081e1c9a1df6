"""Per-request records: the mutable trace a target fills in, and the frozen sample kept.

The trace is the only thing touched per chunk, and only by appending one float, so the
harness's own overhead stays negligible next to the request it measures.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

__all__ = ["RequestSample", "RequestTrace", "TokensSource"]

TokensSource: TypeAlias = Literal["usage", "chunks"]
InputSource: TypeAlias = Literal["usage", "estimate"]


@attrs.define(slots=True)
class RequestTrace:
    """What a :class:`~hafs_actors.bench.targets.BenchTarget` records while one request runs.

    ``chunk_times`` holds the ``trio.current_time()`` of every non-empty output chunk (text or
    reasoning); the first one is the time to first token. ``output_tokens`` is the provider's
    count when it reports usage; otherwise the harness falls back to the number of chunks.
    """

    chunk_times: list[float] = attrs.field(factory=list)
    output_tokens: int | None = None
    input_tokens: int | None = None
    provider: str | None = None
    model: str | None = None
    fallback_used: bool = False


@attrs.frozen
class RequestSample:
    """One request as measured. Times are seconds; ``start`` and ``scheduled`` are offsets from
    the target's run start, ``chunks`` are offsets from this request's ``start``. ``queued`` is
    how long an open-loop arrival waited for a ``max_concurrency`` slot (``start`` is when it
    was sent). ``input_tokens`` is the provider's count (``input_source`` ``"usage"``) or the
    prompt's estimate; ``max_tokens`` the output budget the request asked for.
    """

    index: int
    warmup: bool
    start: float
    e2e: float
    chunks: tuple[float, ...] = ()
    scheduled: float | None = None
    queued: float = 0.0
    output_tokens: int | None = None
    input_tokens: int | None = None
    max_tokens: int | None = None
    tokens_source: TokensSource | None = None
    input_source: InputSource | None = None
    error_type: str | None = None
    error: str | None = None
    provider: str | None = None
    model: str | None = None
    fallback_used: bool = False

    @property
    def ok(self) -> bool:
        return self.error_type is None

    @property
    def ttft(self) -> float | None:
        """Time to the first output chunk, or ``None`` when nothing arrived."""
        return self.chunks[0] if self.chunks else None

    @property
    def tpot(self) -> float | None:
        """Time per output token after the first: ``(e2e - ttft) / (tokens - 1)``."""
        ttft = self.ttft
        tokens = self.output_tokens
        if ttft is None or tokens is None or tokens < 2:
            return None
        return (self.e2e - ttft) / (tokens - 1)

    def itl(self) -> list[float]:
        """Gaps between successive output chunks (inter-token latency, per chunk)."""
        c = self.chunks
        return [c[i] - c[i - 1] for i in range(1, len(c))]
