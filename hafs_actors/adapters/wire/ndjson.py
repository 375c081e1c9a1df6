"""Sans-IO newline-delimited JSON framing (Ollama streams).

Splits bytes into complete lines regardless of chunking; JSON decoding is left to the caller,
which knows the provider and can raise a typed error with context. Blank lines are skipped and
a last line without a trailing newline is returned by :meth:`NDJSONParser.close`.
"""

from __future__ import annotations

__all__ = ["NDJSONParser"]


class NDJSONParser:
    """Feed bytes, get complete non-blank lines (as bytes, without the line ending)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        if b"\n" not in data:
            self._buffer += data
            return []
        lines = (self._buffer + data).split(b"\n")
        self._buffer = lines.pop()
        return [stripped for line in lines if (stripped := line.strip())]

    def close(self) -> list[bytes]:
        """End of stream: the last line, if it had no newline."""
        tail = self._buffer.strip()
        self._buffer = b""
        return [tail] if tail else []
