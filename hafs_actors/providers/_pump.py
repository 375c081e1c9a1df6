"""The stream pump: adapter events to the caller's bounded channel, under TTFT and idle timeouts."""

from __future__ import annotations

import math
from typing import Any

import trio

from ..errors import ProviderTimeoutError
from ..types import (
    FinishEvent,
    FinishReason,
    ProviderTurn,
    RateLimitInfo,
    StreamStart,
    ThoughtDelta,
    ToolCall,
    ToolCallEvent,
    TurnEvent,
    Usage,
    UsageEvent,
)
from ._messages import StreamCall
from ._streams import CONTENT_EVENTS, StreamSink


class StreamState:
    __slots__ = (
        "finish",
        "first_token_at",
        "model",
        "native",
        "rate_limit",
        "raw_finish",
        "request_id",
        "thoughts",
        "tool_calls",
        "usage",
    )

    def __init__(self) -> None:
        self.first_token_at: float | None = None
        self.usage: Usage | None = None
        self.finish = FinishReason.STOP
        self.raw_finish: str | None = None
        self.request_id: str | None = None
        self.model: str | None = None
        self.rate_limit: RateLimitInfo | None = None
        self.thoughts: list[str] = []
        self.tool_calls: list[ToolCall] = []
        self.native: ProviderTurn | None = None


async def pump(
    events: Any,
    sink: StreamSink,
    state: StreamState,
    call: StreamCall,
    start: float,
    provider: str,
) -> None:
    """Forward adapter events to the sink, enforcing the TTFT and idle-gap timeouts.

    One cancel scope for the whole stream whose deadline moves with each event: a scope per
    event would cost more than parsing the event.
    """
    ttft = call.ttft_timeout if call.ttft_timeout is not None else math.inf
    idle = call.idle_timeout if call.idle_timeout is not None else math.inf
    with trio.CancelScope(deadline=start + ttft) as scope:
        async for event in events:
            if isinstance(event, CONTENT_EVENTS):
                if state.first_token_at is None:
                    state.first_token_at = trio.current_time()
                if isinstance(event, ThoughtDelta):
                    state.thoughts.append(event.text)
                elif isinstance(event, ToolCallEvent):
                    state.tool_calls.append(event.tool_call)
            elif isinstance(event, UsageEvent):
                state.usage = event.usage
            elif isinstance(event, TurnEvent):
                state.native = event.turn
            elif isinstance(event, FinishEvent):
                state.finish = event.finish_reason
                state.raw_finish = event.raw_finish_reason
            elif isinstance(event, StreamStart):
                state.request_id = event.request_id
                state.model = event.model
                state.rate_limit = event.rate_limit
            if sink.send_nowait(event):  # delivered at once: nothing waited on the reader
                scope.deadline = trio.current_time() + idle
                continue
            # Time blocked on a slow reader (backpressure) is not the provider going quiet.
            deadline, scope.deadline = scope.deadline, math.inf
            await sink.send(event)
            scope.deadline = (
                deadline if state.first_token_at is None else trio.current_time() + idle
            )
    if scope.cancelled_caught:
        waiting_first = state.first_token_at is None
        span = ttft if waiting_first else idle
        raise ProviderTimeoutError(
            f"no {'first token' if waiting_first else 'chunk'} within {span:g}s",
            phase="ttft" if waiting_first else "idle",
            provider=provider,
            model=call.request.model,
            retryable=True,
        )
