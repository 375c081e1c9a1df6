"""Custom adapters: :func:`wrap_custom_adapter` makes any user object a :class:`ProviderAdapter`.

Two shapes are accepted:

* **native**: the object already speaks this library's protocol (its ``generate`` takes a
  :class:`~hafs_actors.types.GenerateRequest` as a first parameter named ``request``, or it
  subclasses :class:`NativeAdapter`). Missing optional parts (``health``, ``aclose``, flags)
  are filled in.
* **seed-style**: the ``CustomAdapter`` of ``docs/usage.md``: ``async generate(prompt,
  model=..., max_tokens=..., temperature=...)`` returning a string or an object with
  ``.content`` (and optionally ``.tokens_used``), ``async embed(text, model=...)`` returning a
  list of floats, optional ``initialize``, ``stream(prompt, ...)`` (async iterator of str),
  ``health()`` and ``aclose()``/``close()``. The conversation is flattened into the prompt with
  :meth:`GenerateRequest.flattened_prompt`; only the keyword arguments its signature accepts
  are passed.

Errors: a typed :class:`~hafs_actors.errors.ProviderError` raised by the custom adapter passes
through (provider and model filled in). Any other exception is a bug in the adapter and
propagates unchanged, so the provider actor crashes and its supervisor restarts it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

import attrs
import trio

from ..errors import ConfigError, ProtocolError, ProviderError, UnsupportedError
from ..types import (
    OPTIONAL_PARAMS,
    EmbeddingResult,
    EmbedRequest,
    FinishEvent,
    FinishReason,
    GenerateRequest,
    GenerateResult,
    HealthStatus,
    RateLimitInfo,
    StreamEvent,
    StreamStart,
    TextDelta,
    ThoughtDelta,
    ToolCallEvent,
    Usage,
)
from .base import ProviderAdapter
from .wire.decoders import StreamDecoder

__all__ = ["CustomAdapterWrapper", "NativeAdapter", "wrap_custom_adapter"]

_GENERATE_KWARGS = ("model", "max_tokens", "temperature", "stop")


class NativeAdapter:
    """Optional base class for custom adapters written against the native protocol.

    Subclasses implement ``generate`` (and ``stream``/``embed`` if they set the matching
    ``supports_*`` flag); the rest has working defaults.
    """

    provider: str = "custom"
    supports_streaming: bool = False
    supports_embeddings: bool = False

    async def initialize(self) -> None:
        return None

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        raise NotImplementedError

    def stream(self, request: GenerateRequest) -> Any:
        raise UnsupportedError(
            "this adapter does not stream", provider=self.provider, model=request.model
        )

    async def embed(self, request: EmbedRequest) -> EmbeddingResult:
        raise UnsupportedError(
            "this adapter has no embeddings", provider=self.provider, model=request.model
        )

    async def health(self) -> HealthStatus:
        return HealthStatus(ok=True, detail="no health check")

    async def aclose(self) -> None:
        return None


def _is_native(obj: object) -> bool:
    if isinstance(obj, NativeAdapter):
        return True
    generate = getattr(obj, "generate", None)
    if not callable(generate):
        return False
    try:
        params = list(inspect.signature(generate).parameters.values())
    except (TypeError, ValueError):
        return False
    if not params:
        return False
    first = params[0]
    return first.name == "request" or first.annotation in (GenerateRequest, "GenerateRequest")


def wrap_custom_adapter(obj: object, provider: str) -> ProviderAdapter:
    """A :class:`ProviderAdapter` for ``obj`` registered as ``provider`` (see module docs)."""
    if not provider:
        raise ConfigError("a custom adapter needs a provider name")
    if not callable(getattr(obj, "generate", None)):
        raise ConfigError(
            f"custom adapter {type(obj).__name__} has no generate() method", key=provider
        )
    if _is_native(obj):
        if isinstance(obj, ProviderAdapter) and obj.provider == provider:
            return obj
        return _NativeShim(obj, provider)
    return CustomAdapterWrapper(obj, provider)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _own(error: ProviderError, provider: str, model: str) -> ProviderError:
    if not error.provider:
        error.provider = provider
    if not error.model:
        error.model = model
    return error


class _NativeShim:
    """A native-protocol object under another provider name, with defaults filled in."""

    def __init__(self, obj: Any, provider: str) -> None:
        self.adapter = obj
        self.provider = provider
        self.supports_streaming = bool(
            getattr(obj, "supports_streaming", callable(getattr(obj, "stream", None)))
        )
        self.supports_embeddings = bool(
            getattr(obj, "supports_embeddings", callable(getattr(obj, "embed", None)))
        )

    def __repr__(self) -> str:
        return f"wrap_custom_adapter({type(self.adapter).__name__}, provider={self.provider!r})"

    async def initialize(self) -> None:
        init = getattr(self.adapter, "initialize", None)
        if init is not None:
            await _maybe_await(init())

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        try:
            result = await _maybe_await(self.adapter.generate(request))
        except ProviderError as exc:
            raise _own(exc, self.provider, request.model) from None
        if not isinstance(result, GenerateResult):
            raise ProtocolError(
                f"generate() returned {type(result).__name__}, expected GenerateResult",
                provider=self.provider,
                model=request.model,
            )
        return attrs.evolve(result, provider=self.provider)

    def stream(self, request: GenerateRequest) -> Any:
        method = getattr(self.adapter, "stream", None)
        if method is None:
            raise UnsupportedError(
                "this adapter does not stream", provider=self.provider, model=request.model
            )
        return method(request)

    async def embed(self, request: EmbedRequest) -> EmbeddingResult:
        method = getattr(self.adapter, "embed", None)
        if method is None:
            raise UnsupportedError(
                "this adapter has no embeddings", provider=self.provider, model=request.model
            )
        try:
            result = await _maybe_await(method(request))
        except ProviderError as exc:
            raise _own(exc, self.provider, request.model) from None
        if not isinstance(result, EmbeddingResult):
            raise ProtocolError(
                f"embed() returned {type(result).__name__}, expected EmbeddingResult",
                provider=self.provider,
                model=request.model,
            )
        return attrs.evolve(result, provider=self.provider)

    async def health(self) -> HealthStatus:
        return await _health(self.adapter)

    async def aclose(self) -> None:
        await _close(self.adapter)


async def _health(obj: Any) -> HealthStatus:
    method = getattr(obj, "health", None)
    if method is None:
        return HealthStatus(ok=True, detail="no health check (custom adapter)")
    started = trio.current_time()
    try:
        value = await _maybe_await(method())
    except ProviderError as exc:
        return HealthStatus(ok=False, detail=str(exc))
    latency = trio.current_time() - started
    if isinstance(value, HealthStatus):
        return value
    if value is None:
        return HealthStatus(ok=True, latency=latency)
    return HealthStatus(ok=bool(value), latency=latency)


async def _close(obj: Any) -> None:
    method = getattr(obj, "aclose", None) or getattr(obj, "close", None)
    if method is not None:
        await _maybe_await(method())


def _keywords(function: Callable[..., Any]) -> tuple[frozenset[str], bool]:
    """Keyword parameters a callable accepts after its first (the prompt/text), and whether it
    takes ``**kwargs``."""
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return frozenset(), True
    names = frozenset(
        p.name
        for p in params[1:]
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    )
    return names, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


class CustomAdapterWrapper:
    """A seed-style custom adapter (plain prompt in, ``.content`` out) as a ProviderAdapter."""

    def __init__(self, obj: Any, provider: str) -> None:
        self.adapter = obj
        self.provider = provider
        self._generate_kw = _keywords(obj.generate)
        embed = getattr(obj, "embed", None)
        stream = getattr(obj, "stream", None)
        self.supports_embeddings = callable(embed)
        self.supports_streaming = callable(stream)
        self._embed_kw = _keywords(embed) if callable(embed) else (frozenset(), False)
        self._stream_kw = _keywords(stream) if callable(stream) else (frozenset(), False)
        names, anything = self._generate_kw
        #: the sampling parameters its generate() takes; a request with others skips it
        self.supported_params = frozenset(p for p in OPTIONAL_PARAMS if anything or p in names)

    def __repr__(self) -> str:
        return f"wrap_custom_adapter({type(self.adapter).__name__}, provider={self.provider!r})"

    async def initialize(self) -> None:
        init = getattr(self.adapter, "initialize", None)
        if init is not None:
            await _maybe_await(init())

    def _kwargs(
        self, request: GenerateRequest, accepted: tuple[frozenset[str], bool]
    ) -> dict[str, Any]:
        names, anything = accepted
        offered: dict[str, Any] = {}
        if request.model:
            offered["model"] = request.model
        if request.max_tokens is not None:
            offered["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            offered["temperature"] = request.temperature
        if request.stop:
            offered["stop"] = list(request.stop)
        for name in ("top_p", "seed", "presence_penalty", "frequency_penalty"):
            value = getattr(request, name)
            if value is not None:
                offered[name] = value
        offered.update(request.extra)
        return {k: v for k, v in offered.items() if anything or k in names}

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        started = trio.current_time()
        try:
            value = await _maybe_await(
                self.adapter.generate(
                    request.flattened_prompt(), **self._kwargs(request, self._generate_kw)
                )
            )
        except ProviderError as exc:
            raise _own(exc, self.provider, request.model) from None
        return self._result(value, request, trio.current_time() - started)

    def _result(self, value: Any, request: GenerateRequest, latency: float) -> GenerateResult:
        if isinstance(value, GenerateResult):
            return attrs.evolve(value, provider=self.provider, latency=latency)
        if isinstance(value, str):
            return GenerateResult(
                content=value, provider=self.provider, model=request.model, latency=latency
            )
        content = getattr(value, "content", None)
        if not isinstance(content, str):
            raise ProtocolError(
                f"custom adapter generate() returned {type(value).__name__}; expected a str or"
                " an object with a str .content",
                provider=self.provider,
                model=request.model,
            )
        usage = getattr(value, "usage", None)
        if not isinstance(usage, Usage):
            tokens = getattr(value, "tokens_used", None)
            # The seed's CustomResponse defaults tokens_used to 0, meaning "not reported".
            known = isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0
            usage = Usage(total_tokens=tokens) if known else Usage()
        rate_limit = getattr(value, "rate_limit", None)
        raw_finish = getattr(value, "finish_reason", None)
        finish = FinishReason.STOP
        if isinstance(raw_finish, FinishReason):
            finish, raw_finish = raw_finish, raw_finish.value
        elif isinstance(raw_finish, str):
            try:
                finish = FinishReason(raw_finish)
            except ValueError:
                finish = FinishReason.OTHER
        else:
            raw_finish = None
        model = getattr(value, "model", None)
        return GenerateResult(
            content=content,
            provider=self.provider,
            model=model if isinstance(model, str) and model else request.model,
            finish_reason=finish,
            raw_finish_reason=raw_finish,
            usage=usage,
            latency=latency,
            rate_limit=rate_limit if isinstance(rate_limit, RateLimitInfo) else None,
        )

    def stream(self, request: GenerateRequest) -> _CustomStream:
        if not self.supports_streaming:
            raise UnsupportedError(
                "this custom adapter has no stream()", provider=self.provider, model=request.model
            )
        return _CustomStream(self, request)

    async def embed(self, request: EmbedRequest) -> EmbeddingResult:
        if not self.supports_embeddings:
            raise UnsupportedError(
                "this custom adapter has no embed()", provider=self.provider, model=request.model
            )
        names, anything = self._embed_kw
        kwargs: dict[str, Any] = {}
        if request.model and (anything or "model" in names):
            kwargs["model"] = request.model
        kwargs.update({k: v for k, v in request.extra.items() if anything or k in names})
        started = trio.current_time()
        vectors: list[list[float]] = []
        for index, text in enumerate(request.texts):
            try:
                value = await _maybe_await(self.adapter.embed(text, **kwargs))
            except ProviderError as exc:
                raise _own(exc, self.provider, request.model) from None
            if not isinstance(value, (list, tuple)) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in value
            ):
                raise ProtocolError(
                    f"custom adapter embed() returned {type(value).__name__} for text {index};"
                    " expected a list of floats",
                    provider=self.provider,
                    model=request.model,
                )
            vectors.append([float(x) for x in value])
        return EmbeddingResult(
            vectors=vectors,
            provider=self.provider,
            model=request.model,
            latency=trio.current_time() - started,
        )

    async def health(self) -> HealthStatus:
        return await _health(self.adapter)

    async def aclose(self) -> None:
        await _close(self.adapter)


class _CustomStream:
    """``async with wrapper.stream(request) as events``: the custom ``stream()`` pieces as
    StreamStart, TextDelta..., FinishEvent."""

    def __init__(self, wrapper: CustomAdapterWrapper, request: GenerateRequest) -> None:
        self._wrapper = wrapper
        self._request = request
        self._events: _CustomEvents | None = None

    async def __aenter__(self) -> _CustomEvents:
        wrapper, request = self._wrapper, self._request
        try:
            source = await _maybe_await(
                wrapper.adapter.stream(
                    request.flattened_prompt(), **wrapper._kwargs(request, wrapper._stream_kw)
                )
            )
        except ProviderError as exc:
            raise _own(exc, wrapper.provider, request.model) from None
        if not hasattr(source, "__anext__"):
            if not hasattr(source, "__aiter__"):
                raise ProtocolError(
                    f"custom adapter stream() returned {type(source).__name__}; expected an"
                    " async iterator of str",
                    provider=wrapper.provider,
                    model=request.model,
                )
            source = source.__aiter__()
        self._events = _CustomEvents(source, wrapper.provider, request.model)
        return self._events

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._events is not None:
            await self._events.aclose()


class _CustomEvents:
    def __init__(self, source: AsyncIterator[Any], provider: str, model: str) -> None:
        self._source = source
        self._state = StreamDecoder(provider=provider, model=model)
        self._started = False
        self._done = False

    def __aiter__(self) -> _CustomEvents:
        return self

    async def __anext__(self) -> StreamEvent:
        state = self._state
        if not self._started:
            self._started = True
            return StreamStart(model=state.model)
        while not self._done:
            try:
                piece = await self._source.__anext__()
            except StopAsyncIteration:
                self._done = True
                state.finished = True
                return FinishEvent(FinishReason.STOP, None)
            except ProviderError as exc:
                self._done = True
                raise state.fail(_own(exc, state.provider, state.model)) from None
            if isinstance(piece, str):
                if piece:
                    return state.text(piece)
            elif isinstance(piece, (TextDelta, ThoughtDelta, ToolCallEvent)):
                if isinstance(piece, TextDelta):
                    return state.text(piece.text)
                state.has_output = True
                return piece
            else:
                self._done = True
                raise state.protocol_error(
                    f"custom adapter stream() yielded {type(piece).__name__}; expected str"
                )
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._done = True
        closer = getattr(self._source, "aclose", None)
        if closer is not None:
            with trio.CancelScope(shield=True):
                await closer()
