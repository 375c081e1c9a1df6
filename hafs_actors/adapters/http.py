"""Plumbing shared by the built-in adapters: one pooled client, JSON calls, error mapping,
and streams with time-to-first-token and idle-gap timeouts.

Lifecycle: :meth:`HttpAdapter.initialize` creates the adapter's one ``httpx.AsyncClient``
through :func:`hafs_actors.transport.create_pooled_client` (on the ``transport=`` given, if
any) and keeps the :class:`HafsTransport` under it, if any, for its direct path; every request
reuses it and :meth:`HttpAdapter.aclose` closes it. A client given as ``http_client=`` is used
as is and never closed here: its owner closes it. A call before ``initialize()`` (or after
``aclose()``) creates the client lazily, so an adapter is usable either way.

Bounded reads: every body is decoded and counted as it arrives (``max_response_bytes``), every
stream event or line is bounded (``max_event_bytes``), and only the first ``max_error_bytes``
of an error body are read; passing a limit raises :class:`ResponseTooLarge`. A body that does
not parse (not JSON, not UTF-8, nested too deeply) is a :class:`ProtocolError` of its request.

Streams: :meth:`HttpAdapter.open_stream` returns an async context manager whose value is a
plain async iterator object (:class:`EventStream`, not an async generator), so a cancel scope
never spans a ``yield``. Leaving the context closes the HTTP response, shielded, so a cancelled
caller never leaks a connection and the client stays usable.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, ClassVar

import attrs
import httpx
import trio

from ..errors import (
    BadRequestError,
    ProtocolError,
    ProviderError,
    ProviderTimeoutError,
    ResponseTooLarge,
)
from ..transport import HafsTransport, TransportStatistics, create_pooled_client
from ..types import (
    EmbeddingResult,
    EmbedRequest,
    GenerateRequest,
    GenerateResult,
    HealthStatus,
    RateLimitInfo,
    StreamEvent,
    StreamStart,
    Usage,
)
from .base import AdapterSettings
from .errormap import error_from_body, map_transport_error, request_id_from
from .ratelimit import RATE_LIMIT_HEADER_PREFIXES, parse_rate_limit_headers
from .wire.body import ACCEPT_ENCODING, BodyTooLarge, EventBound, bound_response
from .wire.decoders import SSEStreamDecoder, StreamDecoder
from .wire.fields import dump_json

__all__ = ["EventStream", "HttpAdapter", "ResponseMeta"]

_CLOSE_GRACE = 5.0  # seconds allowed to close a response or client while being cancelled
_MESSAGE_LIMIT = 4096  # characters of a server's text kept in an error message


@attrs.frozen
class ResponseMeta:
    """What every successful response tells besides its body."""

    status: int
    request_id: str | None
    rate_limit: RateLimitInfo | None
    latency: float


class HttpAdapter:
    """Base of the built-in adapters (see the module docstring)."""

    supports_streaming: bool = True
    supports_embeddings: bool = True
    #: ``parse_rate_limit_headers`` dialect: ``"openai"`` or ``"anthropic"``.
    rate_limit_dialect: ClassVar[str] = "openai"
    #: The provider's documented embedding batch limit (``None``: no embeddings).
    embed_batch_limit: ClassVar[int | None] = None
    health_path: str = ""

    def __init__(
        self,
        settings: AdapterSettings,
        *,
        provider: str,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``http_client``: a client of the caller's, used as is (its timeouts, limits, proxies
        and hooks apply; the adapter adds its headers to each request) and not closed by
        :meth:`aclose`. ``transport``: the transport the adapter's own client runs on (say
        ``httpx.MockTransport``); closing the adapter closes it. At most one of the two."""
        if not isinstance(settings, AdapterSettings):
            raise TypeError(f"settings must be AdapterSettings, got {type(settings).__name__}")
        if http_client is not None and transport is not None:
            raise TypeError(
                "give http_client= or transport=, not both (the client has its own transport)"
            )
        self.settings = settings
        self.provider = provider
        self.base_url = self.normalize_base_url(settings.base_url)
        self._base = _directory(httpx.URL(self.base_url))
        self._user_client = http_client
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._direct: HafsTransport | None = None
        self._headers = self._request_headers()
        self._timeouts: dict[str, float | None] = {}
        self._targets: dict[str, tuple[httpx.URL, list[tuple[bytes, bytes]]]] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r}, base_url={self.base_url!r})"

    # --- configuration hooks ----------------------------------------------------------------

    def normalize_base_url(self, url: str) -> str:
        url = url.strip().rstrip("/")
        if url and "://" not in url:
            url = f"http://{url}"
        return url

    def auth_headers(self) -> dict[str, str]:
        key = self.settings.api_key
        return {"authorization": f"Bearer {key}"} if key else {}

    # --- the protocol's operations, implemented per provider --------------------------------

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        raise NotImplementedError

    def stream(
        self, request: GenerateRequest
    ) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        raise NotImplementedError

    async def embed(self, request: EmbedRequest) -> EmbeddingResult:
        raise NotImplementedError

    # --- lifecycle --------------------------------------------------------------------------

    def _request_headers(self) -> dict[str, str]:
        headers = {
            "accept": "application/json",
            "accept-encoding": ACCEPT_ENCODING,  # only what the bounded reader can inflate
            "content-type": "application/json",
        }
        headers.update(self.auth_headers())
        headers.update(self.settings.extra_headers)
        return headers

    def _build_client(self) -> tuple[httpx.AsyncClient, HafsTransport | None]:
        """The client and its project transport (the direct path), if it runs on one."""
        if self._user_client is not None:
            return self._user_client, None
        s = self.settings
        pooled = create_pooled_client(
            base_url=self.base_url,
            headers=self._headers,
            timeout=httpx.Timeout(
                connect=s.connect_timeout,
                read=s.read_timeout,
                write=s.write_timeout,
                pool=s.pool_timeout,
            ),
            max_connections=s.max_connections,
            max_keepalive_connections=s.max_keepalive_connections,
            transport=s.transport if self._transport is None else self._transport,
            proxy=s.proxy,
            http2=s.http2,
            verify=s.verify,
        )
        return pooled.client, pooled.hafs

    async def initialize(self) -> None:
        """Create the adapter's one pooled client (no network traffic)."""
        self._open_client()

    @property
    def client(self) -> httpx.AsyncClient:
        client = self._client
        return self._open_client() if client is None else client

    def _open_client(self) -> httpx.AsyncClient:
        client = self._client
        if client is None:
            client, self._direct = self._build_client()
            self._client = client
            self._timeouts = client.timeout.as_dict()
            self._targets.clear()
        return client

    def transport_statistics(self) -> TransportStatistics | None:
        """The pool statistics of the client's project transport; None before the client
        exists, on httpx's own transport, and for a caller's ``http_client``."""
        direct = self._direct
        return None if direct is None else direct.statistics()

    def build_request(self, method: str, path: str, content: bytes | None) -> httpx.Request:
        """A request to ``path`` with the client's headers and timeouts, ready for :meth:`send`.

        On the project transport the head (``Host`` and the client's headers) is built once
        per URL and the body given as a ready stream: what ``httpx.Request`` would otherwise
        recompute for every request, about a third of its cost.
        """
        client = self.client  # opened first: a new client starts with fresh targets
        url, head = self._target(path)
        if self._direct is None or content is None:
            # a caller's client lacks the adapter's headers: they go with each request
            headers = None if self._user_client is None else self._headers
            return client.build_request(method, url, content=content, headers=headers)
        request = httpx.Request(
            method,
            url,
            headers=[*head, (b"Content-Length", b"%d" % len(content))],
            stream=httpx.ByteStream(content),
            extensions={"timeout": self._timeouts},
        )
        request.read()
        return request

    async def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send ``request``; unless ``stream``, the body is read and the connection released.

        On the project transport the request goes straight to it: the client's cookie jar, auth
        and redirect flows and event hooks serve no provider API and cost ~45 us a request
        (docs/transport.md). httpx's own transport (proxies, HTTP/2) gets the full client.
        Either way the body is bounded (:func:`bound_response`): a 2xx body to
        ``max_response_bytes`` (:class:`BodyTooLarge` beyond), any other cut quietly at
        ``max_error_bytes`` (an error message needs its start only).
        """
        direct = self._direct
        if direct is None:
            response = await self.client.send(request, stream=True)
        else:
            response = await direct.handle_async_request(request)
            response.request = request
        s = self.settings
        try:
            if 200 <= response.status_code < 300:
                bound_response(response, limit=s.max_response_bytes, setting="max_response_bytes")
            else:
                bound_response(
                    response, limit=s.max_error_bytes, setting="max_error_bytes", truncate=True
                )
            if not stream:
                await response.aread()
        except BaseException:
            await _close_response(response)
            raise
        return response

    def url(self, path: str) -> httpx.URL:
        """The absolute URL of ``path`` (built once, see :meth:`_target`)."""
        return self._target(path)[0]

    def _target(self, path: str) -> tuple[httpx.URL, list[tuple[bytes, bytes]]]:
        """The absolute URL of ``path`` and its request head (``Host`` and the client's
        headers), built once: httpx's per-request merge of a relative path into ``base_url``
        costs ~25 us (docs/benchmarks.md)."""
        targets = self._targets
        target = targets.get(path)
        if target is None:
            if len(targets) >= 256:  # paths embed model names: bounded whatever callers send
                targets.clear()
            url = self._base.join(path)
            target = targets[path] = (url, [(b"Host", url.netloc), *self.client.headers.raw])
        return target

    async def aclose(self) -> None:
        """Close the client and its connections (shielded: safe in a cancelled scope); a
        caller's ``http_client`` stays open (its owner closes it)."""
        client, self._client = self._client, None
        self._direct = None
        if client is not None and client is not self._user_client:
            with trio.move_on_after(_CLOSE_GRACE) as scope:
                scope.shield = True
                await client.aclose()

    # --- helpers for subclasses -------------------------------------------------------------

    def model_for(self, model: str | None) -> str:
        chosen = model or self.settings.default_model
        if not chosen:
            raise BadRequestError(
                "no model given and no default_model configured", provider=self.provider
            )
        return chosen

    def _meta(
        self, response: httpx.Response, started: float
    ) -> tuple[dict[str, str], ResponseMeta]:
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in response.headers.raw
        }
        info = None
        if any(name.startswith(RATE_LIMIT_HEADER_PREFIXES) for name in headers):
            info = parse_rate_limit_headers(self.rate_limit_dialect, headers)
        return headers, ResponseMeta(
            status=response.status_code,
            request_id=request_id_from(headers),
            rate_limit=None if info is None or info.empty else info,
            latency=trio.current_time() - started,
        )

    def status_error(
        self,
        response: httpx.Response,
        body: bytes,
        headers: dict[str, str],
        meta: ResponseMeta,
        *,
        model: str,
    ) -> ProviderError:
        if response.status_code >= 400:
            try:
                error = self._error_from_body(body, response, headers, meta, model=model)
            except RecursionError:  # errormap parses with json.loads, which may recurse out
                error = self._error_from_body(
                    b"(error body nested too deeply to parse)", response, headers, meta, model=model
                )
            return _cut_message(self._scrub(error))
        return ProtocolError(
            f"unexpected HTTP {response.status_code} response",
            provider=self.provider,
            model=model,
            status=response.status_code,
            request_id=meta.request_id,
        )

    def _error_from_body(
        self,
        body: bytes,
        response: httpx.Response,
        headers: dict[str, str],
        meta: ResponseMeta,
        *,
        model: str,
    ) -> ProviderError:
        return error_from_body(
            body,
            provider=self.provider,
            model=model,
            status=response.status_code,
            headers=headers,
            rate_limit=meta.rate_limit,
        )

    def _scrub(self, error: ProviderError) -> ProviderError:
        """Servers sometimes echo the key they rejected: remove this adapter's key from the
        message even when it does not look like a known key format."""
        key = self.settings.api_key
        if key and len(key) >= 4 and key in error.message:
            error.message = error.message.replace(key, "[REDACTED]")
            error.args = (error.message,)
        return error

    async def call_json(
        self, method: str, path: str, body: Any | None, *, model: str
    ) -> tuple[Any, ResponseMeta]:
        """One request with a JSON answer: the parsed body, or the typed error."""
        started = trio.current_time()
        try:
            response = await self.send(
                self.build_request(method, path, None if body is None else dump_json(body))
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, provider=self.provider, model=model) from exc
        headers, meta = self._meta(response, started)
        content = response.content
        if not 200 <= response.status_code < 300:
            raise self.status_error(response, content, headers, meta, model=model)
        try:
            payload = json.loads(content)
        except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or nested too deep
            what = "nested too deeply" if isinstance(exc, RecursionError) else "not JSON"
            raise ProtocolError(
                f"response body is {what} ({len(content)} bytes): {content[:200]!r}",
                provider=self.provider,
                model=model,
                status=response.status_code,
                request_id=meta.request_id,
            ) from None
        return payload, meta

    def open_stream(
        self, path: str, body: Any, *, model: str, decoder: StreamDecoder
    ) -> StreamContext:
        return StreamContext(self, path, dump_json(body), model=model, decoder=decoder)

    async def embed_in_batches(
        self,
        request: EmbedRequest,
        call: Callable[[str, Sequence[str]], Awaitable[tuple[list[list[float]], Usage]]],
    ) -> EmbeddingResult:
        """Split ``request.texts`` to the batch limit, call ``call(model, batch)`` for each batch
        in order and reassemble; usage counts are summed (unknown if any batch did not say)."""
        model = self.model_for(request.model)
        texts = request.texts
        if not texts:
            raise BadRequestError("no texts to embed", provider=self.provider, model=model)
        size = self.settings.embed_batch_size or self.embed_batch_limit or len(texts)
        started = trio.current_time()
        vectors: list[list[float]] = []
        inputs: int | None = 0
        totals: int | None = 0
        for start in range(0, len(texts), size):
            batch = texts[start : start + size]
            got, usage = await call(model, batch)
            if len(got) != len(batch):
                raise ProtocolError(
                    f"asked for {len(batch)} embeddings, got {len(got)}",
                    provider=self.provider,
                    model=model,
                )
            vectors.extend(got)
            inputs = (
                None
                if inputs is None or usage.input_tokens is None
                else (inputs + usage.input_tokens)
            )
            totals = (
                None
                if totals is None or usage.total_tokens is None
                else (totals + usage.total_tokens)
            )
        return EmbeddingResult(
            vectors=vectors,
            provider=self.provider,
            model=model,
            usage=Usage(input_tokens=inputs, total_tokens=totals),
            latency=trio.current_time() - started,
        )

    async def health(self) -> HealthStatus:
        """GET :attr:`health_path`; a 2xx is healthy. Never raises for provider failures."""
        started = trio.current_time()
        try:
            response = await self.send(self.build_request("GET", self.health_path, None))
        except httpx.HTTPError as exc:
            error = transport_error(exc, provider=self.provider, model="")
            return HealthStatus(ok=False, detail=str(error))
        latency = trio.current_time() - started
        if 200 <= response.status_code < 300:
            return HealthStatus(ok=True, detail=f"HTTP {response.status_code}", latency=latency)
        headers, meta = self._meta(response, started)
        error = self.status_error(response, response.content, headers, meta, model="")
        return HealthStatus(ok=False, detail=str(error), latency=latency)


class StreamContext:
    """``async with adapter.stream(request) as events``: sends the request on enter (within the
    time-to-first-token budget), maps an error status to its typed error, and closes the
    response on exit whatever happened."""

    def __init__(
        self,
        adapter: HttpAdapter,
        path: str,
        content: bytes,
        *,
        model: str,
        decoder: StreamDecoder,
    ) -> None:
        self._adapter = adapter
        self._path = path
        self._content = content
        self._model = model
        self._decoder = decoder
        self._events: EventStream | None = None

    async def __aenter__(self) -> EventStream:
        adapter = self._adapter
        provider, model = adapter.provider, self._model
        started = trio.current_time()
        ttft = adapter.settings.stream_ttft_timeout
        deadline = math.inf if ttft is None else started + ttft
        request = adapter.build_request("POST", self._path, self._content)
        try:
            with trio.fail_at(deadline):
                response = await adapter.send(request, stream=True)
        except trio.TooSlowError:
            raise ProviderTimeoutError(
                f"no first token within {ttft:g}s (waiting for response headers)",
                phase="ttft",
                provider=provider,
                model=model,
            ) from None
        except httpx.HTTPError as exc:
            raise transport_error(exc, provider=provider, model=model) from exc
        try:
            headers, meta = adapter._meta(response, started)
            if not 200 <= response.status_code < 300:
                try:
                    body = await response.aread()  # its first max_error_bytes only
                except httpx.HTTPError:
                    body = b""
                raise adapter.status_error(response, body, headers, meta, model=model)
            self._decoder.request_id = meta.request_id
            self._events = EventStream(
                response,
                self._decoder,
                StreamStart(request_id=meta.request_id, model=model, rate_limit=meta.rate_limit),
                started=started,
                ttft_deadline=deadline,
                ttft_timeout=ttft,
                max_event_bytes=adapter.settings.max_event_bytes,
            )
        except BaseException:
            await _close_response(response)
            raise
        return self._events

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._events is not None:
            await self._events.aclose()


def transport_error(
    exc: httpx.HTTPError,
    *,
    provider: str,
    model: str,
    streaming_body: bool = False,
    request_id: str | None = None,
) -> ProviderError:
    """:func:`map_transport_error`, and :class:`ResponseTooLarge` for a passed limit."""
    if isinstance(exc, BodyTooLarge):
        return _too_large(
            exc.what, exc.limit, exc.setting, provider=provider, model=model, request_id=request_id
        )
    return map_transport_error(
        exc, provider=provider, model=model, streaming_body=streaming_body, request_id=request_id
    )


def _too_large(
    what: str, limit: int, setting: str, *, provider: str, model: str, request_id: str | None
) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"{what} exceeds {limit} bytes (AdapterSettings.{setting}); the read stopped there",
        limit=limit,
        setting=setting,
        provider=provider,
        model=model,
        request_id=request_id,
        retryable=False,
    )


def _cut_message(error: ProviderError) -> ProviderError:
    """Keep the first :data:`_MESSAGE_LIMIT` characters of a message made from a server's
    text, the cut marked: a message is logged, returned and shown, never a body dump."""
    message = error.message
    if len(message) > _MESSAGE_LIMIT:
        error.message = f"{message[:_MESSAGE_LIMIT]}... [cut: {len(message)} characters]"
        error.args = (error.message,)
    return error


def _directory(url: httpx.URL) -> httpx.URL:
    """``url`` ending in ``/``, so that joining a relative path appends it (as httpx does with
    a client's ``base_url``)."""
    path = url.raw_path
    return url if path.endswith(b"/") else url.copy_with(raw_path=path + b"/")


async def _close_response(response: httpx.Response) -> None:
    with trio.move_on_after(_CLOSE_GRACE) as scope:
        scope.shield = True
        with contextlib.suppress(httpx.HTTPError):
            await response.aclose()


class EventStream:
    """The events of one streamed response: ``StreamStart`` first, then what the decoder makes
    of each chunk. ``ttft`` is set (seconds) once the first content event was decoded."""

    def __init__(
        self,
        response: httpx.Response,
        decoder: StreamDecoder,
        start: StreamStart,
        *,
        started: float,
        ttft_deadline: float,
        ttft_timeout: float | None,
        max_event_bytes: int,
    ) -> None:
        self._response = response
        self._decoder = decoder
        self._bound = EventBound(max_event_bytes, sse=isinstance(decoder, SSEStreamDecoder))
        self._chunks: AsyncIterator[bytes] = response.aiter_bytes()
        self._pending: deque[StreamEvent] = deque((start,))
        self._started = started
        self._deadline = ttft_deadline
        self._ttft_timeout = ttft_timeout
        self._done = False
        #: an error that arrived in the same read as events: raised once they are delivered
        self._error: ProviderError | None = None
        self.ttft: float | None = None

    @property
    def decoder(self) -> StreamDecoder:
        return self._decoder

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> StreamEvent:
        pending = self._pending
        while not pending:
            if self._done:
                error = self._error
                if error is not None:
                    self._error = None
                    raise error
                raise StopAsyncIteration
            await self._pull()
        return pending.popleft()

    async def _pull(self) -> None:
        decoder = self._decoder
        try:
            try:
                if decoder.has_output or self._deadline == math.inf:
                    chunk = await self._chunks.__anext__()
                else:
                    with trio.fail_at(self._deadline):
                        chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._done = True
                events = decoder.close()
            except trio.TooSlowError:
                raise ProviderTimeoutError(
                    f"no first token within {self._ttft_timeout:g}s",
                    phase="ttft",
                    provider=decoder.provider,
                    model=decoder.model,
                    request_id=decoder.request_id,
                ) from None
            except httpx.HTTPError as exc:
                raise decoder.fail(
                    transport_error(
                        exc,
                        provider=decoder.provider,
                        model=decoder.model,
                        streaming_body=True,
                        request_id=decoder.request_id,
                    )
                ) from exc
            else:
                events = decoder.feed(chunk)
                if self._bound.over(chunk) and not decoder.finished:
                    self._done = True  # deliver the chunk's complete events, then fail
                    self._error = decoder.fail(self._event_too_large())
        except RecursionError:  # a decoder's json.loads on absurdly nested data
            self._done = True
            raise decoder.protocol_error("stream data nested too deeply to parse") from None
        except ProviderError as exc:
            self._done = True
            # events decoded before the error (in the same read) are delivered first
            events = decoder.undelivered
            if not events:
                raise
            self._error = exc
        except BaseException:
            self._done = True
            raise
        if self.ttft is None and decoder.has_output:
            self.ttft = trio.current_time() - self._started
        self._pending.extend(events)

    def _event_too_large(self) -> ResponseTooLarge:
        decoder = self._decoder
        what = "stream event" if self._bound.sse else "stream line"
        return _too_large(
            what,
            self._bound.limit,
            "max_event_bytes",
            provider=decoder.provider,
            model=decoder.model,
            request_id=decoder.request_id,
        )

    async def aclose(self) -> None:
        """Stop reading and close the response (idempotent, shielded).

        httpx reads bodies through a chain of nested async generators, and closing the outer
        one leaves the inner ones suspended (trio then warns when they are collected). So the
        response is closed first, which closes the connection, and the chain is then run to
        its end: each layer finishes on the closed stream's error or end.
        """
        self._done = True
        with trio.move_on_after(_CLOSE_GRACE) as scope:
            scope.shield = True
            with contextlib.suppress(httpx.HTTPError):
                await self._response.aclose()
            with contextlib.suppress(httpx.HTTPError, httpx.StreamError):
                async for _ in self._chunks:
                    pass
