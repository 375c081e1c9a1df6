"""Property-based tests of the stream decoders.

* Any chunking of a valid stream (and CRLF line endings for SSE) decodes to the same events.
* When a stream fails (an error event at any event boundary, or a truncation), every event
  decoded before the failure is delivered, whatever the chunking, and the error's partial text
  is exactly the text delivered.
* Random bytes, truncations and random JSON events never raise anything but typed errors:
  ProtocolError, or StreamInterruptedError once output was produced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hafs_actors.adapters import (
    AnthropicStreamDecoder,
    GeminiStreamDecoder,
    OllamaStreamDecoder,
    OpenAIStreamDecoder,
    StreamDecoder,
)
from hafs_actors.errors import ProtocolError, ProviderError, StreamInterruptedError
from hafs_actors.types import StreamEvent, TextDelta, UsageEvent
from tests._paths import FIXTURES

DECODERS: dict[str, Callable[[], StreamDecoder]] = {
    "openai": lambda: OpenAIStreamDecoder(provider="openai", model="m"),
    "anthropic": lambda: AnthropicStreamDecoder(provider="anthropic", model="m"),
    "gemini": lambda: GeminiStreamDecoder(provider="gemini", model="m"),
    "ollama": lambda: OllamaStreamDecoder(provider="ollama", model="m"),
}


def _tool_stream() -> bytes:
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Let me check. "}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "function": {"name": "f", "arguments": '{"a"'},
                            }
                        ]
                    },
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [{"index": 0, "function": {"arguments": ': [1, "é"]}'}}]
                    },
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
    ]
    body = "".join(f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks)
    return (body + ": keep-alive\n\ndata: [DONE]\n\n").encode()


def _anthropic_tool_stream() -> bytes:
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "m1",
                "model": "c",
                "content": [],
                "usage": {"input_tokens": 9, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"a": '},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": "[1]}"},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 12},
        },
        {"type": "message_stop"},
    ]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def _gemini_tool_stream() -> bytes:
    chunks = [
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"text": "plan", "thought": True}, {"text": "Calling."}],
                    }
                }
            ]
        },
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"functionCall": {"name": "f", "args": {"a": [1]}}}],
                    },
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 2,
                "candidatesTokenCount": 3,
                "totalTokenCount": 5,
            },
        },
    ]
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode()


VALID: list[tuple[str, bytes]] = [
    ("openai", (FIXTURES / "openai/chat_stream_with_usage.sse").read_bytes()),
    ("openai", _tool_stream()),
    ("anthropic", (FIXTURES / "anthropic/messages_stream.sse").read_bytes()),
    ("anthropic", _anthropic_tool_stream()),
    ("gemini", _gemini_tool_stream()),
    ("gemini", (FIXTURES / "gemini/stream.sse").read_bytes()),
    ("ollama", (FIXTURES / "ollama/generate_stream.ndjson").read_bytes()),
    ("ollama", (FIXTURES / "ollama/chat_nonstream.json").read_bytes().replace(b"\n", b"")),
]


def run(decoder: StreamDecoder, chunks: list[bytes]) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events


def outcome(
    decoder: StreamDecoder, chunks: list[bytes]
) -> tuple[list[StreamEvent], ProviderError | None]:
    """The events, or the typed error; any other exception fails the test."""
    try:
        return run(decoder, chunks), None
    except ProviderError as exc:
        return [], exc


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, last = [], 0
    for point in points:
        pieces.append(data[last:point])
        last = point
    pieces.append(data[last:])
    return pieces


def summary(events: list[StreamEvent]) -> tuple[str, object, list[StreamEvent]]:
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    usage = [e.usage for e in events if isinstance(e, UsageEvent)]
    others = [e for e in events if not isinstance(e, TextDelta)]
    return text, usage[-1] if usage else None, others


@given(
    case=st.sampled_from(range(len(VALID))),
    cuts=st.lists(st.integers(0, 10_000), max_size=40),
    crlf=st.booleans(),
)
def test_any_chunking_gives_the_same_result(case: int, cuts: list[int], crlf: bool) -> None:
    provider, data = VALID[case]
    if crlf and provider != "ollama":
        data = data.replace(b"\n", b"\r\n")
    whole = summary(run(DECODERS[provider](), [data]))
    chunked = summary(run(DECODERS[provider](), split(data, cuts)))
    assert chunked == whole
    assert whole[0]  # every valid case has text


@given(case=st.sampled_from(range(len(VALID))), cut=st.integers(0, 10_000))
def test_truncation_raises_only_typed_errors(case: int, cut: int) -> None:
    provider, data = VALID[case]
    truncated = data[: cut % (len(data) + 1)]
    decoder = DECODERS[provider]()
    events, error = outcome(decoder, [truncated])
    if isinstance(error, StreamInterruptedError):
        assert error.partial_text
        assert error.partial_text == decoder.partial_text
        assert isinstance(error.cause, ProtocolError)
    elif error is not None:
        assert type(error) is ProtocolError
        assert not decoder.has_output
    else:
        # a complete decode is only possible once the end marker made it in
        assert decoder.finished
        assert events


@given(
    provider=st.sampled_from(sorted(DECODERS)),
    data=st.binary(max_size=512),
    cuts=st.lists(st.integers(0, 512), max_size=8),
)
def test_random_bytes_raise_only_typed_errors(provider: str, data: bytes, cuts: list[int]) -> None:
    _, error = outcome(DECODERS[provider](), split(data, cuts))
    assert error is None or type(error) in (ProtocolError, StreamInterruptedError)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.sampled_from(["", "x", "text", "{", "STOP", "end_turn", "tool_use", "[DONE]"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "index",
                    "delta",
                    "text",
                    "content",
                    "choices",
                    "usage",
                    "finish_reason",
                    "tool_calls",
                    "function",
                    "name",
                    "arguments",
                    "id",
                    "candidates",
                    "parts",
                    "functionCall",
                    "args",
                    "finishReason",
                    "usageMetadata",
                    "message",
                    "content_block",
                    "partial_json",
                    "stop_reason",
                    "done",
                    "response",
                    "thinking",
                    "error",
                    "promptFeedback",
                    "blockReason",
                    "prompt_eval_count",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)
EVENT_NAMES = st.sampled_from(
    [
        "",
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "error",
        "ping",
    ]
)


@given(
    provider=st.sampled_from(sorted(DECODERS)),
    events=st.lists(st.tuples(EVENT_NAMES, JSON), max_size=8),
)
def test_random_json_events_raise_only_typed_errors(
    provider: str, events: list[tuple[str, Any]]
) -> None:
    if provider == "ollama":
        body = b"".join(json.dumps(payload).encode() + b"\n" for _, payload in events)
    else:
        body = b"".join(
            (f"event: {name}\n" if name else "").encode()
            + b"data: "
            + json.dumps(payload).encode()
            + b"\n\n"
            for name, payload in events
        )
    # outcome() lets any exception that is not a typed ProviderError fail the test (an error
    # object in the data legitimately becomes its own typed error, e.g. ServerError)
    outcome(DECODERS[provider](), [body])


def _payloads(provider: str, data: bytes) -> list[tuple[str, Any]]:
    """The (event name, JSON payload) pairs of a valid stream."""
    if provider == "ollama":
        return [("", json.loads(line)) for line in data.splitlines() if line.strip()]
    out = []
    for block in data.decode().split("\n\n"):
        name, payload = "", None
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:") and line[5:].strip() != "[DONE]":
                payload = json.loads(line[5:])
        if payload is not None:
            out.append((name, payload))
    return out


def _mutate(value: Any, draw: Callable[..., Any], rate: int) -> Any:
    if draw(st.integers(0, rate)) == 0:
        return draw(JSON)
    if isinstance(value, dict):
        return {k: _mutate(v, draw, rate) for k, v in value.items()}
    if isinstance(value, list):
        return [_mutate(v, draw, rate) for v in value]
    return value


@settings(max_examples=300)
@given(case=st.sampled_from(range(len(VALID))), rate=st.sampled_from([3, 10, 30]), data=st.data())
def test_mutated_valid_events_raise_only_typed_errors(
    case: int, rate: int, data: st.DataObject
) -> None:
    """Valid events with random fields replaced by random JSON: typed errors only."""
    provider, raw = VALID[case]
    events = [
        (name, _mutate(payload, data.draw, rate)) for name, payload in _payloads(provider, raw)
    ]
    if provider == "ollama":
        body = b"".join(json.dumps(payload).encode() + b"\n" for _, payload in events)
    else:
        body = b"".join(
            (f"event: {name}\n" if name else "").encode()
            + b"data: "
            + json.dumps(payload).encode()
            + b"\n\n"
            for name, payload in events
        )
    outcome(DECODERS[provider](), [body])  # only typed errors may escape


#: One in-stream error per provider, in its own wire format (Gemini: a bare JSON object).
ERROR_EVENTS = {
    "openai": b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n',
    "anthropic": (
        b"event: error\n"
        b'data: {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}\n\n'
    ),
    "gemini": b'{\n  "error": {\n    "code": 503,\n    "message": "busy"\n  }\n}\n',
    "ollama": b'{"error": "boom"}\n',
}


def delivered(
    decoder: StreamDecoder, chunks: list[bytes]
) -> tuple[list[StreamEvent], ProviderError | None]:
    """What a caller gets: every event returned, plus those kept with the error."""
    events: list[StreamEvent] = []
    try:
        for chunk in chunks:
            events.extend(decoder.feed(chunk))
        events.extend(decoder.close())
    except ProviderError as exc:
        events.extend(decoder.undelivered)
        return events, exc
    return events, None


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def event_ends(provider: str, data: bytes) -> list[int]:
    """The offsets just after each complete event (or line, for NDJSON)."""
    separator = b"\n" if provider == "ollama" else b"\n\n"
    return [i + len(separator) for i in range(len(data)) if data.startswith(separator, i)] or [0]


@given(
    case=st.sampled_from(range(len(VALID))),
    where=st.integers(0, 10_000),
    cuts=st.lists(st.integers(0, 10_000), max_size=40),
)
def test_events_before_an_error_event_are_delivered_whatever_the_chunking(
    case: int, where: int, cuts: list[int]
) -> None:
    provider, data = VALID[case]
    ends = event_ends(provider, data)
    at = ends[where % len(ends)]
    body = data[:at] + ERROR_EVENTS[provider] + data[at:]
    # everything the events before the error decode to, fed on their own
    expected = DECODERS[provider]().feed(data[:at])
    events, error = delivered(DECODERS[provider](), split(body, cuts))
    if error is None:  # the error came after the provider's end marker: ignored
        whole, _ = delivered(DECODERS[provider](), [data])
        assert summary(events) == summary(whole)
        return
    assert summary(events) == summary(expected)
    if isinstance(error, StreamInterruptedError):
        assert error.partial_text == text_of(events)
        assert error.partial_text
    else:
        assert not text_of(events)


@given(
    case=st.sampled_from(range(len(VALID))),
    where=st.integers(0, 10_000),
    offset=st.integers(-3, 1),
    cuts=st.lists(st.integers(0, 10_000), max_size=40),
)
def test_a_truncated_stream_delivers_the_same_events_whatever_the_chunking(
    case: int, where: int, offset: int, cuts: list[int]
) -> None:
    # cut near the end of an event, where the last event may lack only its terminator
    provider, data = VALID[case]
    ends = event_ends(provider, data)
    truncated = data[: max(0, ends[where % len(ends)] + offset)]
    whole, whole_error = delivered(DECODERS[provider](), [truncated])
    events, error = delivered(DECODERS[provider](), split(truncated, cuts))
    assert summary(events) == summary(whole)
    assert type(error) is type(whole_error)
    if isinstance(error, StreamInterruptedError):
        assert error.partial_text == text_of(events)
