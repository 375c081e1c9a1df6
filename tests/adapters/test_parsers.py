"""The sans-IO framing parsers: SSE (wrapping httpx-sse) and NDJSON."""

from __future__ import annotations

import pytest

from hafs_actors.adapters import NDJSONParser, SSEParser, StrayBlock
from hafs_actors.adapters.wire.sse import ServerSentEvent, SSEFramingError


def events(parser: SSEParser, *chunks: bytes) -> list[object]:
    out: list[object] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    out.extend(parser.close())
    return out


def simple(items: list[object]) -> list[tuple[str, str]]:
    result = []
    for item in items:
        if isinstance(item, StrayBlock):
            result.append(("STRAY", item.text))
        else:
            assert isinstance(item, ServerSentEvent)
            result.append((item.event, item.data))
    return result


def test_sse_basic_events_and_names() -> None:
    data = b"event: a\ndata: 1\n\ndata: 2\n\n"
    assert simple(events(SSEParser(), data)) == [("a", "1"), ("message", "2")]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_sse_line_endings(newline: bytes) -> None:
    data = b"data: x" + newline + b"data: y" + newline + newline + b"data: z" + newline * 2
    assert simple(events(SSEParser(), data)) == [("message", "x\ny"), ("message", "z")]


def test_sse_crlf_split_across_chunks() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert simple(parser.feed(b"\n\r\n")) == [("message", "a")]


def test_sse_last_event_without_blank_line_is_flushed_at_close() -> None:
    parser = SSEParser()
    assert parser.feed(b"event: message_stop\ndata: {}") == []
    assert simple(parser.close()) == [("message_stop", "{}")]


def test_sse_comments_and_unknown_fields_are_ignored() -> None:
    data = b": ping\nid: 7\nretry: 100\ndata: x\n\n:keep-alive\n\n"
    assert simple(events(SSEParser(), data)) == [("message", "x")]


def test_sse_bare_field_names_are_fields_not_stray() -> None:
    assert simple(events(SSEParser(), b"event: ping\ndata\n\n")) == [("ping", "")]


def test_sse_stray_lines_never_vanish() -> None:
    data = b'data: {"a":1}\n\n{\n  "error": {\n    "code": 499\n  }\n}\n'
    items = simple(events(SSEParser(), data))
    assert items == [("message", '{"a":1}'), ("STRAY", '{\n  "error": {\n    "code": 499\n  }\n}')]


def test_sse_stray_block_ends_at_a_field_line() -> None:
    items = simple(events(SSEParser(), b"garbage\ndata: x\n\n"))
    assert items == [("STRAY", "garbage"), ("message", "x")]


def test_sse_multibyte_utf8_split_anywhere() -> None:
    text = "data: héllo ✓ 😀\n\n".encode()
    for cut in range(1, len(text)):
        parser = SSEParser()
        out = events(parser, text[:cut], text[cut:])
        assert simple(out) == [("message", "héllo ✓ 😀")]


def test_sse_invalid_utf8_is_a_framing_error() -> None:
    with pytest.raises(SSEFramingError):
        SSEParser().feed(b"data: \xff\xfe\n\n")


def test_sse_framing_error_carries_the_events_completed_before_the_bad_byte() -> None:
    parser = SSEParser()
    assert parser.feed("data: é".encode()[:-1]) == []  # half a character, still buffered
    with pytest.raises(SSEFramingError) as info:
        parser.feed("é".encode()[-1:] + b"\n\ndata: two\n\ndata: thr\xffee\n\n")
    assert simple(info.value.items) == [("message", "é"), ("message", "two")]


def test_sse_truncated_utf8_at_eof_is_a_framing_error() -> None:
    parser = SSEParser()
    parser.feed("data: é".encode()[:-1])
    with pytest.raises(SSEFramingError):
        parser.close()


def test_ndjson_any_chunking_and_blank_lines() -> None:
    data = b'{"a":1}\n\n{"b":2}\r\n{"c":3}'
    for cut in range(len(data) + 1):
        parser = NDJSONParser()
        lines = parser.feed(data[:cut]) + parser.feed(data[cut:]) + parser.close()
        assert lines == [b'{"a":1}', b'{"b":2}', b'{"c":3}']
