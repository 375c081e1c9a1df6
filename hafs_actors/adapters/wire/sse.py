"""Sans-IO Server-Sent Events framing that never drops data it does not understand.

Line splitting and field handling come from ``httpx-sse`` (its ``SSELineDecoder`` and
``SSEDecoder``). Its public API only reads from an ``httpx.Response`` and its decoder silently
ignores any line that is not an SSE field, so this module wraps the two decoders:

* bytes are fed in (any chunking), decoded as UTF-8 incrementally;
* SSE field lines (``data:``, ``event:``, ``id:``, ``retry:``), comments and blank lines go
  to the library decoder, which yields :class:`httpx_sse.ServerSentEvent` values;
* any other line (Gemini ends a failed stream with a bare multi-line JSON error object, see
  docs/design.md) is collected into a :class:`StrayBlock` instead of vanishing;
* :meth:`SSEParser.close` flushes a last event that has no trailing blank line;
* unnamed events without data are dropped (httpx-sse would repeat them after an ``id:``).
"""

from __future__ import annotations

import codecs

import attrs
from httpx_sse import ServerSentEvent
from httpx_sse._decoders import SSEDecoder, SSELineDecoder

__all__ = ["SSEFramingError", "SSEItem", "SSEParser", "ServerSentEvent", "StrayBlock"]

_FIELD_PREFIXES = ("data:", "event:", "id:", "retry:", ":")
_BARE_FIELDS = frozenset(("data", "event", "id", "retry"))


class SSEFramingError(ValueError):
    """The byte stream is not valid UTF-8; the stream decoders turn this into ProtocolError.

    ``items`` holds what the failing call parsed before the bad byte, so a caller can deliver
    it before the error.
    """

    def __init__(self, message: str, items: list[SSEItem] | None = None) -> None:
        super().__init__(message)
        self.items: list[SSEItem] = items if items is not None else []


@attrs.frozen
class StrayBlock:
    """Consecutive non-SSE lines (joined with ``\\n``), ended by a blank line, a field or EOF."""

    text: str


SSEItem = ServerSentEvent | StrayBlock


class SSEParser:
    """Feed bytes, get complete events and stray blocks, in arrival order."""

    __slots__ = ("_decoder", "_lines", "_stray", "_utf8")

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self._lines = SSELineDecoder()
        self._decoder = SSEDecoder()
        self._stray: list[str] = []

    def feed(self, data: bytes) -> list[SSEItem]:
        try:
            text = self._utf8.decode(data)
        except UnicodeDecodeError as exc:
            raise self._framing_error("stream is not valid UTF-8", exc) from None
        if not text:
            return []
        return self._consume(self._lines.decode(text))

    def close(self) -> list[SSEItem]:
        """End of stream: flush a partial last line and a last event without a blank line."""
        try:
            tail = self._utf8.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise self._framing_error("stream ends inside a UTF-8 sequence", exc) from None
        lines = self._lines.decode(tail) if tail else []
        lines.extend(self._lines.flush())
        lines.append("")
        return self._consume(lines)

    def _framing_error(self, what: str, exc: UnicodeDecodeError) -> SSEFramingError:
        """The error for a bad byte, carrying the items completed by the valid bytes before it
        (``exc.object`` is the decoder's buffered bytes plus this call's data)."""
        valid = exc.object[: exc.start].decode("utf-8")
        items = self._consume(self._lines.decode(valid)) if valid else []
        return SSEFramingError(f"{what}: {exc.reason}", items)

    def _consume(self, lines: list[str]) -> list[SSEItem]:
        out: list[SSEItem] = []
        stray = self._stray
        decode = self._decoder.decode
        for line in lines:
            if line and not line.startswith(_FIELD_PREFIXES) and line not in _BARE_FIELDS:
                stray.append(line)
                continue
            if stray:
                out.append(StrayBlock("\n".join(stray)))
                stray.clear()
            event = decode(line)
            # httpx-sse also dispatches an empty event at each blank line once an ``id`` was
            # seen; the SSE spec dispatches nothing for an empty data buffer.
            if event is not None and (event.data or event.event != "message"):
                out.append(event)
        return out
