"""Bounded response bodies: decoded and counted as they arrive, so no server can make a request
hold more than its limits (docs/transport.md, "Bounded reads").

:class:`BoundedBody` replaces a response's stream: it inflates ``gzip``/``deflate`` itself, at
most :data:`PIECE` bytes of output per step, and counts the decoded bytes as they are produced,
so a compression bomb stops at the limit instead of expanding whole. :class:`EventBound`
counts the bytes of a stream since its last event boundary (an SSE blank line, an NDJSON
newline), which is what a stream decoder must hold until that boundary comes.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import AsyncIterator

import httpx

__all__ = [
    "ACCEPT_ENCODING",
    "PIECE",
    "BodyTooLarge",
    "BoundedBody",
    "EventBound",
    "bound_response",
]

#: What the adapters ask for: only encodings whose output this module can bound.
ACCEPT_ENCODING = "gzip, deflate"
#: Largest piece of decoded output produced at once.
PIECE = 65536

_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class BodyTooLarge(httpx.DecodingError):
    """A body or stream event passed its limit; the adapter raises ``ResponseTooLarge``.

    An httpx error so that it travels through httpx's response reading like any other."""

    def __init__(self, what: str, *, limit: int, setting: str, request: httpx.Request) -> None:
        super().__init__(f"{what} exceeds {setting}={limit}", request=request)
        self.what = what
        self.limit = limit
        self.setting = setting


def bound_response(
    response: httpx.Response, *, limit: int, setting: str, truncate: bool = False
) -> None:
    """Make every read of ``response`` (``aread``, ``aiter_bytes``, ...) bounded.

    The body is decoded here, so ``content-encoding`` is removed from the headers (httpx would
    otherwise inflate it again, unbounded). ``truncate``: stop quietly at the limit (an error
    body, of which the first bytes are enough) instead of raising :class:`BodyTooLarge`.
    """
    stream = response.stream
    if not isinstance(stream, httpx.AsyncByteStream):
        raise TypeError("an async response is needed")
    headers = response.headers
    encoding = headers.get("content-encoding")
    if encoding is not None:
        del headers["content-encoding"]
    response.stream = BoundedBody(
        stream,
        response.request,
        encoding=encoding,
        limit=limit,
        setting=setting,
        truncate=truncate,
    )


class BoundedBody(httpx.AsyncByteStream):
    """A raw body stream, decoded (identity, gzip or deflate) and cut off at ``limit`` bytes of
    decoded output. A plain async iterator, not a generator: closing it closes the raw stream."""

    __slots__ = (
        "_chunks",
        "_done",
        "_first",
        "_inflate",
        "_left",
        "_limit",
        "_raw",
        "_request",
        "_setting",
        "_truncate",
        "_wbits",
    )

    def __init__(
        self,
        raw: httpx.AsyncByteStream,
        request: httpx.Request,
        *,
        encoding: str | None,
        limit: int,
        setting: str,
        truncate: bool = False,
    ) -> None:
        self._raw = raw
        self._chunks: AsyncIterator[bytes] = raw.__aiter__()
        self._request = request
        self._limit = self._left = limit
        self._setting = setting
        self._truncate = truncate
        self._done = False
        self._first = True
        self._wbits = _wbits(encoding, request)
        self._inflate = None if self._wbits is None else zlib.decompressobj(self._wbits)

    def __aiter__(self) -> BoundedBody:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            inflate = self._inflate
            if inflate is not None and inflate.unconsumed_tail:
                piece = self._inflated(inflate.unconsumed_tail)
            else:
                try:
                    data = await self._chunks.__anext__()
                except StopAsyncIteration:
                    self._done = True
                    piece = b"" if inflate is None else self._flush(inflate)
                else:
                    piece = data if inflate is None else self._inflated(data)
            if piece:
                return await self._count(piece)
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Close the raw stream (its connection), then run its iterator to the end: httpx's
        layers are nested async generators, each finishing on the closed stream's end or error
        (left suspended, trio would warn when they are collected)."""
        self._done = True
        await self._raw.aclose()
        if self._chunks is not self._raw:  # type: ignore[comparison-overlap]
            with contextlib.suppress(httpx.HTTPError, httpx.StreamError):
                async for _ in self._chunks:
                    pass

    async def _count(self, piece: bytes) -> bytes:
        left = self._left - len(piece)
        if left >= 0:
            self._left = left
            return piece
        if not self._truncate:
            raise BodyTooLarge(
                "response body", limit=self._limit, setting=self._setting, request=self._request
            )
        await self.aclose()  # the rest is not wanted: close the connection, read no more
        piece = piece[: self._left]
        self._left = 0
        return piece

    def _inflated(self, data: bytes) -> bytes:
        inflate = self._inflate
        assert inflate is not None
        try:
            piece = inflate.decompress(data, PIECE)
        except zlib.error as exc:
            if not (self._first and self._wbits == zlib.MAX_WBITS):
                raise httpx.DecodingError(str(exc), request=self._request) from exc
            # "deflate" is sometimes sent raw, without its zlib header (as httpx allows)
            self._wbits = -zlib.MAX_WBITS
            inflate = self._inflate = zlib.decompressobj(self._wbits)
            return self._inflated(data)
        self._first = False
        return piece

    def _flush(self, inflate: zlib._Decompress) -> bytes:
        try:
            return inflate.flush(PIECE)
        except zlib.error as exc:
            raise httpx.DecodingError(str(exc), request=self._request) from exc


def _wbits(encoding: str | None, request: httpx.Request) -> int | None:
    """zlib's ``wbits`` for a ``content-encoding`` value, ``None`` for identity."""
    if encoding is None:
        return None
    codings = [c for c in (x.strip().lower() for x in encoding.split(",")) if c != "identity"]
    if not codings:
        return None
    wbits = _WBITS.get(codings[0]) if len(codings) == 1 else None
    if wbits is None:
        raise httpx.DecodingError(
            f"unsupported content-encoding {encoding!r} (asked for {ACCEPT_ENCODING})",
            request=request,
        )
    return wbits


class EventBound:
    """Counts the bytes since the stream's last event boundary: an SSE blank line (``sse``), or
    any newline (NDJSON). :meth:`over` says when that passes ``limit``.

    A blank line is two line ends in a row; with ``\\r\\n``, ``\\r`` and ``\\n`` all ending
    lines, that is exactly where ``\\n\\n``, ``\\r\\r`` or ``\\n\\r`` occurs (so one byte of the
    previous chunk is enough context)."""

    __slots__ = ("_held", "_last", "limit", "sse")

    def __init__(self, limit: int, *, sse: bool) -> None:
        self.limit = limit
        self.sse = sse
        self._held = 0
        self._last = b""

    def over(self, chunk: bytes) -> bool:
        if self.sse:
            window = self._last + chunk
            end = max(window.rfind(b"\n\n"), window.rfind(b"\r\r"), window.rfind(b"\n\r"))
            self._last = chunk[-1:]
            if end >= 0:
                self._held = len(window) - end - 2
            else:
                self._held += len(chunk)
        else:
            end = chunk.rfind(b"\n")
            self._held = len(chunk) - end - 1 if end >= 0 else self._held + len(chunk)
        return self._held > self.limit
