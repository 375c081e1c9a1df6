"""The dispatcher between the runtime and the observers.

The runtime holds a dispatcher only while at least one observer is registered and guards every
call with ``if self.observers:``, so with no observer the hot path pays one attribute test. The
dispatcher keeps the little per-request state the events need (the current attempt, stream
chunk times) keyed by the request's :class:`~hafs_actors.routing.RouteSpec`, which the caller
and the router's chain task share.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from ..errors import StreamAbandoned
from ..types import EmbeddingResult, GenerateResult, StreamEvent, TextDelta, ThoughtDelta
from ..types import ToolCallEvent as _ToolCallEvent
from ._events import (
    AttemptEnded,
    AttemptStarted,
    BreakerTransition,
    LimiterWait,
    Observer,
    RequestFailed,
    RequestInfo,
    RequestSucceeded,
    StreamEventInfo,
    SupervisorEventInfo,
)

if TYPE_CHECKING:
    from ..orchestrator import StreamResponse
    from ..providers import ProviderCell, StreamItem, StreamOutcome
    from ..resilience import BreakerEvent
    from ..routing import RouteSpec
    from ..routing._planner import Candidate

__all__ = ["ObserverDispatcher", "StreamWatch"]

log = logging.getLogger("hafs_actors.observability")

T = TypeVar("T")

_HOOKS = (
    "on_request",
    "on_attempt",
    "on_result",
    "on_error",
    "on_stream_event",
    "on_breaker_transition",
    "on_supervisor_event",
    "on_limiter_wait",
)
_CHUNKS = (TextDelta, ThoughtDelta, _ToolCallEvent)
_OPERATIONS = {"generate": "chat", "stream": "chat", "embed": "embeddings"}


class _Request:
    __slots__ = ("attempt", "chunks", "first_chunk", "info", "last_chunk", "number")

    def __init__(self, info: RequestInfo) -> None:
        self.info = info
        self.attempt: AttemptStarted | None = None
        self.number = 0
        self.chunks = 0
        self.first_chunk: float | None = None
        self.last_chunk: float | None = None


class ObserverDispatcher:
    """Fans each runtime event out to the observers that override its hook."""

    def __init__(self, observers: Iterable[Observer] = ()) -> None:
        self._observers: list[Observer] = []
        self._hooks: dict[str, list[Callable[[Any], object]]] = {name: [] for name in _HOOKS}
        self._requests: dict[int, _Request] = {}
        self._ids = itertools.count(1)
        self._reported: set[tuple[int, str]] = set()
        #: exceptions raised by hooks so far (each logged once per observer and hook)
        self.hook_errors = 0
        for observer in observers:
            self.add(observer)

    @property
    def observers(self) -> tuple[Observer, ...]:
        return tuple(self._observers)

    def add(self, observer: Observer) -> None:
        if not isinstance(observer, Observer):
            raise TypeError(f"observers subclass hafs_actors.observability.Observer: {observer!r}")
        self._observers.append(observer)
        for name in _HOOKS:
            # Hooks the observer leaves at the base class's no-op are never called.
            if getattr(type(observer), name) is not getattr(Observer, name):
                self._hooks[name].append(getattr(observer, name))

    def _emit(self, hook: str, event: object) -> None:
        for fn in self._hooks[hook]:
            try:
                fn(event)
            except Exception:
                self.hook_errors += 1
                key = (id(getattr(fn, "__self__", fn)), hook)
                if key not in self._reported:
                    self._reported.add(key)
                    log.exception("observer hook %s.%s failed (logged once)", _owner(fn), hook)

    # --- requests: the caller's task ------------------------------------------------------------

    def _start(self, spec: RouteSpec) -> _Request:
        route = spec.route
        kind = route.operation
        info = RequestInfo(
            id=next(self._ids),
            kind=kind,
            operation=_OPERATIONS[kind],  # type: ignore[arg-type]
            request=spec.request,
            provider=route.provider,
            model=route.model,
            tier=route.tier,
            started=trio.current_time(),
        )
        state = self._requests[id(spec)] = _Request(info)
        self._emit("on_request", info)
        return state

    def _succeed(self, spec: RouteSpec, result: GenerateResult | EmbeddingResult) -> None:
        state = self._requests.pop(id(spec), None)
        if state is None:
            return
        first, last = state.first_chunk, state.last_chunk
        started = state.info.started
        self._emit(
            "on_result",
            RequestSucceeded(
                request=state.info,
                result=result,
                duration=trio.current_time() - started,
                provider=state.attempt.provider if state.attempt else None,
                provider_kind=state.attempt.provider_kind if state.attempt else None,
                ttft=None if first is None else first - started,
                generation=None if first is None or last is None else last - first,
                chunks=state.chunks,
            ),
        )

    def _fail(self, spec: RouteSpec, error: BaseException, *, cancelled: bool = False) -> None:
        state = self._requests.pop(id(spec), None)
        if state is None:
            return
        attempt = state.attempt
        started = state.info.started
        self._emit(
            "on_error",
            RequestFailed(
                request=state.info,
                error=error,
                duration=trio.current_time() - started,
                cancelled=cancelled or isinstance(error, trio.Cancelled),
                provider=attempt.provider if attempt else None,
                provider_kind=attempt.provider_kind if attempt else None,
                ttft=None if state.first_chunk is None else state.first_chunk - started,
            ),
        )

    async def observe(self, spec: RouteSpec, call: Awaitable[T]) -> T:
        """Await a generate or embed call, reporting the request's start and end around it."""
        self._start(spec)
        try:
            result = await call
        except BaseException as exc:
            self._fail(spec, exc)
            raise
        if isinstance(result, GenerateResult | EmbeddingResult):
            self._succeed(spec, result)
        return result

    def watch_stream(self, spec: RouteSpec) -> StreamWatch:
        """Report a stream's start now; the returned watch follows it to its end."""
        self._start(spec)
        return StreamWatch(self, spec)

    # --- attempts: the router's chain task ------------------------------------------------------

    def attempt_started(
        self, spec: RouteSpec, cell: ProviderCell, cand: Candidate, retry: int
    ) -> None:
        state = self._requests.get(id(spec))
        if state is None:
            return
        previous = state.attempt
        moved = previous is not None and (previous.provider, previous.model) != (
            cand.provider,
            cand.model,
        )
        fallback_from = previous.provider if moved and previous is not None else None
        state.attempt = AttemptStarted(
            request=state.info,
            provider=cand.provider,
            provider_kind=cell.config.kind or "custom",
            model=cand.model,
            retry=retry,
            number=state.number,
            started=trio.current_time(),
            fallback_from=fallback_from,
        )
        state.number += 1
        self._emit("on_attempt", state.attempt)

    def attempt_ended(
        self,
        spec: RouteSpec,
        *,
        result: GenerateResult | EmbeddingResult | None = None,
        error: BaseException | None = None,
    ) -> None:
        state = self._requests.get(id(spec))
        if state is None or state.attempt is None:
            return
        attempt = state.attempt
        self._emit(
            "on_attempt",
            AttemptEnded(
                attempt, trio.current_time() - attempt.started, result=result, error=error
            ),
        )

    # --- the runtime ----------------------------------------------------------------------------

    def breaker_transition(self, provider: str, event: BreakerEvent) -> None:
        self._emit("on_breaker_transition", BreakerTransition(provider, event))

    def supervisor_event(self, provider: str, event: object) -> None:
        self._emit("on_supervisor_event", SupervisorEventInfo(provider, event))

    def limiter_waited(self, provider: str, model: str, seconds: float) -> None:
        self._emit("on_limiter_wait", LimiterWait(provider, model, seconds))


class StreamWatch:
    """Follows one stream from the caller's side: its ticket, its events, its end."""

    __slots__ = ("_dispatcher", "_outcome", "_spec")

    def __init__(self, dispatcher: ObserverDispatcher, spec: RouteSpec) -> None:
        self._dispatcher = dispatcher
        self._spec = spec
        self._outcome: StreamOutcome | None = None

    async def started(self, call: Awaitable[T]) -> T:
        """Await the stream's ticket; a stream that never starts ends here, failed."""
        try:
            return await call
        except BaseException as exc:
            self._dispatcher._fail(self._spec, exc)
            raise

    def response(
        self,
        receive: trio.MemoryReceiveChannel[StreamItem],
        outcome: StreamOutcome,
        cancel: Callable[[], None],
    ) -> StreamResponse:
        """The caller's :class:`StreamResponse`, reporting each event it hands out."""
        from ._stream import observed_stream_response

        self._outcome = outcome
        return observed_stream_response(self, receive, outcome, cancel)

    def event(self, event: StreamEvent) -> None:
        state = self._dispatcher._requests.get(id(self._spec))
        if state is None:
            return
        now = trio.current_time()
        chunk: int | None = None
        gap: float | None = None
        if isinstance(event, _CHUNKS):
            chunk = state.chunks
            state.chunks += 1
            if state.last_chunk is None:
                state.first_chunk = now
            else:
                gap = now - state.last_chunk
            state.last_chunk = now
        self._dispatcher._emit(
            "on_stream_event", StreamEventInfo(state.info, event, now, chunk, gap)
        )

    def close(self) -> None:
        """The stream ended or the caller left it: report the outcome (once)."""
        outcome = self._outcome
        if outcome is not None and outcome.result is not None:
            self._dispatcher._succeed(self._spec, outcome.result)
        elif outcome is not None and outcome.error is not None:
            self._dispatcher._fail(self._spec, outcome.error)
        else:
            abandoned = StreamAbandoned("the caller stopped reading before the stream ended")
            self._dispatcher._fail(self._spec, abandoned, cancelled=True)


def _owner(fn: Callable[..., object]) -> str:
    owner = getattr(fn, "__self__", None)
    return type(owner).__name__ if owner is not None else getattr(fn, "__qualname__", repr(fn))
