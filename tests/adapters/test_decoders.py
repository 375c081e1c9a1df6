"""Stream decoders from memory: the provider quirks the fixtures do not show."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hafs_actors.adapters import (
    AnthropicStreamDecoder,
    GeminiStreamDecoder,
    OllamaStreamDecoder,
    OpenAIStreamDecoder,
    StreamCollector,
    StreamDecoder,
    ToolArgumentsError,
)
from hafs_actors.adapters.openai import parse_chat_completion
from hafs_actors.errors import (
    ContentFilterError,
    ContextLengthError,
    OverloadedError,
    ProtocolError,
    ServerError,
    StreamInterruptedError,
)
from hafs_actors.types import (
    FinishEvent,
    FinishReason,
    GenerateResult,
    TextDelta,
    ToolCall,
    Usage,
)


def sse(*payloads: Any, names: list[str] | None = None) -> bytes:
    out = []
    for index, payload in enumerate(payloads):
        data = payload if isinstance(payload, str) else json.dumps(payload)
        head = f"event: {names[index]}\n" if names else ""
        out.append(f"{head}data: {data}\n\n")
    return "".join(out).encode()


def decode(decoder: StreamDecoder, data: bytes) -> GenerateResult:
    collector = StreamCollector(provider=decoder.provider, model=decoder.model)
    for event in [*decoder.feed(data), *decoder.close()]:
        collector.add(event)
    return collector.result()


def openai() -> OpenAIStreamDecoder:
    return OpenAIStreamDecoder(provider="openai", model="m")


def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_openai_parallel_tool_calls_in_index_order() -> None:
    data = sse(
        choice(
            {
                "tool_calls": [
                    {"index": 1, "id": "b", "function": {"name": "g", "arguments": ""}},
                    {"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}},
                ]
            }
        ),
        choice(
            {
                "tool_calls": [
                    {"index": 0, "function": {"arguments": '{"x": 1}'}},
                    {"index": 1, "function": {"arguments": "{}"}},
                ]
            }
        ),
        choice({}, "tool_calls"),
        "[DONE]",
    )
    result = decode(openai(), data)
    assert result.tool_calls == (ToolCall("a", "f", {"x": 1}), ToolCall("b", "g", {}))
    assert result.finish_reason is FinishReason.TOOL_CALLS


def test_openai_invalid_tool_arguments_are_a_protocol_error() -> None:
    call = {"index": 0, "id": "a", "function": {"name": "f", "arguments": "{oops"}}
    data = sse(choice({"tool_calls": [call]}), choice({}, "tool_calls"), "[DONE]")
    # the call's deltas were delivered: interrupted, the raw arguments kept on the cause
    with pytest.raises(StreamInterruptedError, match="not valid JSON") as first:
        decode(openai(), data)
    assert isinstance(first.value.cause, ToolArgumentsError)
    assert first.value.cause.raw_arguments == "{oops"
    with pytest.raises(StreamInterruptedError) as info:  # after some text: interrupted
        decode(
            openai(),
            sse(
                choice({"content": "Let me see."}),
                choice({"tool_calls": [call]}),
                choice({}, "tool_calls"),
            ),
        )
    assert info.value.partial_text == "Let me see."
    assert isinstance(info.value.cause, ProtocolError)


def test_openai_events_after_done_are_ignored() -> None:
    data = sse(choice({"content": "hi"}), choice({}, "stop"), "[DONE]") + b"garbage\n\n"
    assert decode(openai(), data).content == "hi"


def test_openai_finish_without_done_is_accepted_but_no_finish_is_truncated() -> None:
    assert decode(openai(), sse(choice({"content": "a"}, "length"))).finish_reason is (
        FinishReason.LENGTH
    )
    with pytest.raises(StreamInterruptedError) as info:
        decode(openai(), sse(choice({"content": "a"})))
    assert info.value.retryable
    with pytest.raises(ProtocolError):
        decode(openai(), b"")  # nothing at all: no output, a truncated stream


def test_openai_refusal_only_is_content_filtered() -> None:
    data = sse(choice({"refusal": "I can't"}), choice({}, "stop"), "[DONE]")
    with pytest.raises(ContentFilterError, match="I can't"):
        decode(openai(), data)
    payload = {
        "choices": [{"message": {"content": None, "refusal": "No."}, "finish_reason": "stop"}]
    }
    with pytest.raises(ContentFilterError, match=r"No\."):
        parse_chat_completion(payload, provider="openai", model="m")


def test_openai_content_parts_list_is_joined() -> None:
    payload = {
        "choices": [
            {
                "message": {
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
                },
                "finish_reason": "stop",
            }
        ]
    }
    assert parse_chat_completion(payload, provider="p", model="m").content == "ab"


def test_llamacpp_legacy_error_line() -> None:
    data = sse(choice({"content": "x"})) + (
        b'error: {"code":500,"message":"slot unavailable","type":"server_error"}\n\n'
    )
    with pytest.raises(StreamInterruptedError) as info:
        decode(openai(), data)
    assert isinstance(info.value.cause, ServerError)
    assert "slot unavailable" in info.value.message


def test_llamacpp_context_error_event_before_output() -> None:
    error = {
        "error": {
            "code": 400,
            "type": "exceed_context_size_error",
            "message": "the request exceeds the available context size",
        }
    }
    with pytest.raises(ContextLengthError):
        decode(openai(), sse(error))


def test_anthropic_message_delta_replaces_usage_and_keeps_input() -> None:
    names = [
        "message_start",
        "content_block_delta",
        "message_delta",
        "message_delta",
        "message_stop",
    ]
    data = sse(
        {"type": "message_start", "message": {"usage": {"input_tokens": 20, "output_tokens": 1}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a"}},
        {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 5}},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens"},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
        names=names,
    )
    result = decode(AnthropicStreamDecoder(provider="a", model="m"), data)
    assert result.usage == Usage(input_tokens=20, output_tokens=9)  # replaced, not 15
    assert result.finish_reason is FinishReason.LENGTH


def test_anthropic_server_tool_input_is_not_a_tool_call() -> None:
    names = [
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    data = sse(
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "server_tool_use", "id": "s", "name": "web_search"},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"query": "x"}'},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}},
        {"type": "message_stop"},
        names=names,
    )
    result = decode(AnthropicStreamDecoder(provider="a", model="m"), data)
    assert result.tool_calls == ()


def test_anthropic_no_argument_tool() -> None:
    names = ["content_block_start", "content_block_delta", "content_block_stop", "message_stop"]
    data = sse(
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t", "name": "now", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "message_stop"},
        names=names,
    )
    result = decode(AnthropicStreamDecoder(provider="a", model="m"), data)
    assert result.tool_calls == (ToolCall("t", "now", {}),)


def test_anthropic_error_event_before_output_is_the_mapped_error() -> None:
    data = sse(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        names=["error"],
    )
    with pytest.raises(OverloadedError) as info:
        decode(AnthropicStreamDecoder(provider="a", model="m"), data)
    assert info.value.retryable


def test_gemini_error_as_data_event_and_safety_finish() -> None:
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    with pytest.raises(OverloadedError):
        decode(GeminiStreamDecoder(provider="g", model="m"), sse(error))
    safety = {"candidates": [{"finishReason": "SAFETY", "content": {"parts": []}}]}
    with pytest.raises(ContentFilterError, match="SAFETY"):
        decode(GeminiStreamDecoder(provider="g", model="m"), sse(safety))
    partial = [{"candidates": [{"content": {"parts": [{"text": "Once"}]}}]}, safety]
    result = decode(GeminiStreamDecoder(provider="g", model="m"), sse(*partial))
    assert result.content == "Once"
    assert result.finish_reason is FinishReason.CONTENT_FILTER


def test_gemini_without_finish_reason_is_truncated() -> None:
    data = sse({"candidates": [{"content": {"parts": [{"text": "Once"}]}}]})
    with pytest.raises(StreamInterruptedError) as info:
        decode(GeminiStreamDecoder(provider="g", model="m"), data)
    assert info.value.partial_text == "Once"


def test_ollama_chat_stream_counts_and_omitted_zero() -> None:
    lines = [
        {"message": {"role": "assistant", "content": "Hi"}, "done": False},
        {
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "eval_count": 2,
        },
    ]
    data = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    result = decode(OllamaStreamDecoder(provider="o", model="m"), data)
    assert result.usage == Usage(input_tokens=0, output_tokens=2)


def test_ollama_without_done_line_is_truncated() -> None:
    data = b'{"response":"Hi","done":false}\n'
    with pytest.raises(StreamInterruptedError):
        decode(OllamaStreamDecoder(provider="o", model="m"), data)


# --- an error in the same chunk as events: the events are kept for the caller ----------------

OPENAI_ERROR = {"error": {"code": 500, "message": "boom", "type": "server_error"}}
GEMINI_ERROR = {"error": {"code": 503, "message": "The model is overloaded.", "status": "X"}}


def gemini_text(text: str) -> dict[str, Any]:
    return {"candidates": [{"content": {"parts": [{"text": text}]}}]}


def anthropic_text(text: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    }


def ndjson(*lines: Any) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


TEXT_THEN_ERROR: dict[str, tuple[Any, bytes]] = {
    "openai": (openai, sse(choice({"content": "Hel"}), choice({"content": "lo"}), OPENAI_ERROR)),
    "anthropic": (
        lambda: AnthropicStreamDecoder(provider="a", model="m"),
        sse(
            anthropic_text("Hel"),
            anthropic_text("lo"),
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        ),
    ),
    "gemini data event": (
        lambda: GeminiStreamDecoder(provider="g", model="m"),
        sse(gemini_text("Hel"), gemini_text("lo"), GEMINI_ERROR),
    ),
    "gemini bare object": (
        lambda: GeminiStreamDecoder(provider="g", model="m"),
        sse(gemini_text("Hel"), gemini_text("lo")) + json.dumps(GEMINI_ERROR).encode() + b"\n\n",
    ),
    "llamacpp error line": (
        openai,
        sse(choice({"content": "Hel"}), choice({"content": "lo"}))
        + b'error: {"code":500,"message":"slot unavailable","type":"server_error"}\n\n',
    ),
    "ollama": (
        lambda: OllamaStreamDecoder(provider="o", model="m"),
        ndjson(
            {"response": "Hel", "done": False}, {"response": "lo", "done": False}, {"error": "x"}
        ),
    ),
    "invalid utf-8": (openai, sse(choice({"content": "Hel"}), choice({"content": "lo"})) + b"\xff"),
}


@pytest.mark.parametrize("case", list(TEXT_THEN_ERROR))
def test_feed_keeps_the_events_decoded_before_an_error_in_the_same_chunk(case: str) -> None:
    make, data = TEXT_THEN_ERROR[case]
    decoder: StreamDecoder = make()
    with pytest.raises(StreamInterruptedError) as info:
        decoder.feed(data)
    delivered = [event.text for event in decoder.undelivered if isinstance(event, TextDelta)]
    assert delivered == ["Hel", "lo"]
    assert info.value.partial_text == "Hello"


@pytest.mark.parametrize(
    ("make", "data"),
    [
        (
            openai,
            sse(choice({"content": "Hel"})) + b'data: {"choices": [{"delta": {"content": "lo"}}]}',
        ),
        (
            lambda: GeminiStreamDecoder(provider="g", model="m"),
            sse(gemini_text("Hel")) + b"data: " + json.dumps(gemini_text("lo")).encode(),
        ),
        (
            lambda: OllamaStreamDecoder(provider="o", model="m"),
            ndjson({"response": "Hel", "done": False}) + b'{"response": "lo", "done": false}',
        ),
    ],
    ids=["openai", "gemini", "ollama"],
)
def test_close_keeps_the_last_events_before_a_truncation_error(make: Any, data: bytes) -> None:
    decoder: StreamDecoder = make()
    assert [type(event) for event in decoder.feed(data)] == [TextDelta]
    with pytest.raises(StreamInterruptedError) as info:
        decoder.close()  # the last event had no terminator, and no finish came
    assert [event.text for event in decoder.undelivered if isinstance(event, TextDelta)] == ["lo"]
    assert info.value.partial_text == "Hello"


def test_invalid_bytes_after_the_end_of_the_stream_are_ignored() -> None:
    decoder = openai()
    data = sse(choice({"content": "Hi"}, "stop"), "[DONE]") + b"\xff\xfe"
    events = decoder.feed(data)
    assert [type(event) for event in events] == [TextDelta, FinishEvent]
    assert decoder.close() == []
