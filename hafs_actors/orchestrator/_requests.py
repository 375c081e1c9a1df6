"""The API boundary: the caller's arguments become a validated request and its route spec.

Everything a caller passes is checked here, before it reaches an actor shared by every caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import trio

from ..config import HafsConfig
from ..routing import RouteRequest, RouteSpec
from ..tokens import embed_window_tokens, request_tokens
from ..types import EmbedRequest, GenerateRequest, Message

__all__ = ["ChainLike", "MessageLike", "generate_request", "route_spec"]

ChainLike: TypeAlias = Sequence[Any]
MessageLike: TypeAlias = Message | Mapping[str, Any]


def message(m: MessageLike) -> Message:
    if isinstance(m, Message):
        return m
    try:
        return Message(role=m["role"], content=m["content"])
    except KeyError as exc:
        raise ValueError(f"a message needs 'role' and 'content', got keys {sorted(m)}") from exc


def generate_request(
    prompt: str | None,
    messages: Sequence[MessageLike] | None,
    system_prompt: str | None,
    max_tokens: int | None,
    temperature: float | None,
    stop: Sequence[str],
    tools: Sequence[Mapping[str, Any]],
    extra: Mapping[str, Any] | None,
) -> GenerateRequest:
    if prompt is None and not messages:
        raise ValueError("generate() needs a prompt or messages")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    return GenerateRequest(
        model="",
        prompt=prompt,
        messages=tuple(message(m) for m in messages or ()),
        system_prompt=system_prompt,
        max_tokens=max_tokens,
        temperature=temperature,
        stop=tuple(stop),
        tools=tuple(tools),
        extra=dict(extra or {}),
    )


def route_spec(
    config: HafsConfig,
    operation: str,
    request: GenerateRequest | EmbedRequest,
    *,
    tier: Any,
    provider: Any,
    model: str | None,
    fallback_providers: ChainLike | None,
    allow_fallback: bool,
    timeout: float | None,
    max_cost: float | None,
) -> RouteSpec:
    """The request with its route and its one deadline, as the router takes it."""
    if isinstance(request, GenerateRequest):
        estimate = request_tokens(request)
        max_tokens = request.max_tokens
    else:
        estimate = embed_window_tokens(request)
        max_tokens = None
    route = RouteRequest(
        operation=operation,  # type: ignore[arg-type]
        tier=tier,
        provider=provider,
        model=model,
        fallback_providers=(
            tuple((p, m) for p, m in fallback_providers) if fallback_providers is not None else None
        ),
        allow_fallback=allow_fallback,
        estimated_input_tokens=estimate,
        max_tokens=max_tokens,
        max_cost=max_cost if max_cost is not None else config.cost.max_cost_per_request,
    )
    t = config.timeouts
    deadline_in = timeout if timeout is not None else t.request_deadline
    if not deadline_in > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return RouteSpec(
        route=route,
        request=request,
        deadline=trio.current_time() + deadline_in,
        attempt_timeout=min(t.attempt_timeout, deadline_in),
        ttft_timeout=t.stream_ttft_timeout,
        idle_timeout=t.stream_idle_timeout,
    )
