"""The server-independent request and reply values of the emulator.

The protocol logic turns an :class:`HttpRequest` into a :class:`Reply`: a status, headers and a
*plan* of body pieces, each with the delay to wait before sending it, plus how the exchange ends
(normally, by cutting the connection, or by never answering). A server (the in-process h11/trio
server, or the granian RSGI app in a benchmark process) only executes the plan with its own
clock, so faults and latency behave the same under every server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import parse_qs

import attrs

__all__ = [
    "Ending",
    "HttpRequest",
    "Piece",
    "Rendered",
    "Reply",
    "json_bytes",
    "json_pretty",
    "ndjson_line",
    "sse_event",
]

Ending = Literal["complete", "drop", "hang"]

_encode_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return _encode_compact(obj).encode("utf-8")


def json_pretty(obj: Any) -> bytes:
    """Indented JSON, as Google APIs print error bodies."""
    return json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8")


def sse_event(data: bytes, event: str | None = None) -> bytes:
    """One server-sent event: optional ``event:`` line, one ``data:`` line, blank line."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode("ascii") + b"\ndata: " + data + b"\n\n"


def ndjson_line(obj: Any) -> bytes:
    return json_bytes(obj) + b"\n"


@attrs.frozen(slots=True)
class HttpRequest:
    """A received request: header names are lower-case, ``path`` excludes the query string."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""

    def query_param(self, name: str) -> str | None:
        if not self.query:
            return None
        values = parse_qs(self.query, keep_blank_values=True).get(name)
        return values[-1] if values else None


@attrs.frozen(slots=True)
class Piece:
    """A slice of the body sent after waiting ``delay`` seconds."""

    data: bytes
    delay: float = 0.0


@attrs.frozen(slots=True)
class Reply:
    """What to send and when.

    ``chunked`` bodies (streams) use chunked transfer encoding; others carry a content-length
    (``content_length`` when it differs from the pieces, i.e. a body cut short by a fault).
    ``delay`` is waited before the status line. ``ending="drop"`` closes the connection after
    the pieces without finishing the message; ``"hang"`` sends nothing at all.
    """

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    pieces: tuple[Piece, ...] = ()
    chunked: bool = False
    delay: float = 0.0
    ending: Ending = "complete"
    content_length: int | None = None

    @property
    def body(self) -> bytes:
        return b"".join(piece.data for piece in self.pieces)


@attrs.frozen(slots=True)
class Rendered:
    """A provider's answer before faults and pacing: status, headers and body events.

    A non-streamed answer has one event (the whole body). For a stream, ``tokens[i]`` says how
    many generated tokens event ``i`` carries, which is what the latency model paces.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    events: tuple[bytes, ...]
    streaming: bool = False
    tokens: tuple[int, ...] = ()

    @classmethod
    def json(
        cls, status: int, obj: Any, headers: tuple[tuple[str, str], ...] = (), pretty: bool = False
    ) -> Rendered:
        body = json_pretty(obj) if pretty else json_bytes(obj)
        return cls(status, (("content-type", "application/json"), *headers), (body,))

    def with_headers(self, extra: tuple[tuple[str, str], ...]) -> Rendered:
        if not extra:
            return self
        return attrs.evolve(self, headers=self.headers + extra)
