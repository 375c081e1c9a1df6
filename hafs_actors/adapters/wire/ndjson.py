"""Sans-IO newline-delimited JSON framing (Ollama streams).

Splits bytes into complete lines regardless of chunking; JSON decoding is left to the caller,
which knows the provider and can raise a typed error with context. Blank lines are skipped and
a last line without a trailing newline is returned by :meth:`NDJSONParser.close`.
"""

from __future__ import annotations

__all__ = ["NDJSONParser"]


class NDJSONParser:
    """Feed bytes, get complete non-blank lines (as bytes, without the line ending).

    A partial line is kept as a list of pieces, joined once its newline comes: a long line
    costs linear time, not quadratic."""

    __slots__ = ("_pieces",)

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def feed(self, data: bytes) -> list[bytes]:
        if b"\n" not in data:
            if data:
                self._pieces.append(data)
            return []
        pieces = self._pieces
        if pieces:
            pieces.append(data)
            data = b"".join(pieces)
        lines = data.split(b"\n")
        tail = lines.pop()
        self._pieces = [tail] if tail else []
        return [stripped for line in lines if (stripped := line.strip())]

    def close(self) -> list[bytes]:
        """End of stream: the last line, if it had no newline."""
        tail = b"".join(self._pieces).strip()
        self._pieces = []
        return [tail] if tail else []
