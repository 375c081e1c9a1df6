"""Tools, structured output, images, prompt caching and thinking on each emulator's wire: the
real shapes are accepted and answered in the provider's own event shapes, malformed ones get
the provider's own error body."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from hafs_actors.testing.emulators import EmulatorConfig

from ._helpers import auth_headers, ndjson, serving, sse_events, sse_json

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "hours": {"type": "array", "items": {"type": "integer"}, "minItems": 2},
    },
    "required": ["city", "unit", "days", "hours"],
    "additionalProperties": False,
}
PLACE = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 12},
        "founded": {"type": "string", "format": "date"},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
    },
    "required": ["city", "founded", "ratio", "tags"],
    "additionalProperties": False,
    "$defs": {"tag": {"anyOf": [{"type": "string", "enum": ["old", "new"]}, {"type": "null"}]}},
}
PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
LONG = " ".join(f"Rule {n}: answer briefly and cite the source." for n in range(200))


def openai_tool(name: str, schema: dict[str, Any] = WEATHER_SCHEMA) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": schema}}


# --- OpenAI -------------------------------------------------------------------------------------

OPENAI = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}


async def test_openai_tool_calls_stream_by_index_and_arrive_whole_unstreamed() -> None:
    request = {
        **OPENAI,
        "messages": [{"role": "user", "content": "call get_time, then call get_weather"}],
        "tools": [openai_tool("get_weather"), openai_tool("get_time", {"type": "object"})],
    }
    async with serving("openai") as (emu, client):
        plain = await client.post("/v1/chat/completions", json=request, headers=auth_headers(emu))
        streamed = await client.post(
            "/v1/chat/completions", json={**request, "stream": True}, headers=auth_headers(emu)
        )
    calls = plain.json()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_time", "get_weather"]  # as named
    jsonschema.validate(json.loads(calls[1]["function"]["arguments"]), WEATHER_SCHEMA)
    deltas = [
        call
        for chunk in sse_json(streamed.text)[:-1]
        if chunk["choices"]
        for call in chunk["choices"][0]["delta"].get("tool_calls", ())
    ]
    for index, call in enumerate(calls):
        mine = [d for d in deltas if d["index"] == index]
        assert (mine[0]["id"], mine[0]["function"]) == (
            call["id"],
            {**call["function"], "arguments": ""},
        )
        assert all("id" not in d and "name" not in d["function"] for d in mine[1:])
        assert "".join(d["function"]["arguments"] for d in mine) == call["function"]["arguments"]


async def test_openai_structured_output_reasoning_and_cache_usage() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": PLACE}}
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    messages = [
        {"role": "system", "content": LONG},
        {"role": "user", "content": [{"type": "text", "text": "Describe"}, image]},
    ]
    request = {"model": "gpt-5.2-mini", "messages": messages, "response_format": fmt}
    async with serving("openai") as (emu, client):
        first = await client.post("/v1/chat/completions", json=request, headers=auth_headers(emu))
        second = await client.post(
            "/v1/chat/completions",
            json={**request, "reasoning_effort": "low"},
            headers=auth_headers(emu),
        )
    jsonschema.validate(json.loads(first.json()["choices"][0]["message"]["content"]), PLACE)
    usage = first.json()["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    again = second.json()["usage"]
    cached = again["prompt_tokens_details"]["cached_tokens"]
    assert cached >= 1024
    assert cached % 128 == 0
    reasoning = again["completion_tokens_details"]["reasoning_tokens"]
    assert reasoning > 0
    assert again["completion_tokens"] == usage["completion_tokens"] + reasoning


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}


_USER_IMAGE = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "U"}}]}]


@pytest.mark.parametrize(
    ("change", "message", "param", "code"),
    [
        (
            {"tool_choice": "required"},
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            "tool_choice",
            None,
        ),
        (
            {"parallel_tool_calls": False},
            "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed "
            "when 'tools' are specified.",
            "parallel_tool_calls",
            None,
        ),
        (
            {"tools": [openai_tool("a")], "tool_choice": {"type": "function"}},
            "Missing required parameter: 'tool_choice.function'.",
            "tool_choice.function",
            "missing_required_parameter",
        ),
        (
            {
                "tools": [openai_tool("a")],
                "tool_choice": {"type": "function", "function": {"name": "b"}},
            },
            "Invalid value for 'tool_choice': tool 'b' not found in 'tools'.",
            "tool_choice",
            None,
        ),
        (
            {"tools": [openai_tool("get weather")]},
            "Invalid 'tools[0].function.name': string does not match pattern. Expected a string "
            "that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            "tools[0].function.name",
            None,
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
            "Missing required parameter: 'response_format.json_schema.name'.",
            "response_format.json_schema.name",
            "missing_required_parameter",
        ),
        (
            {
                "response_format": _strict(
                    {"type": "object", "properties": {"a": {"type": "string"}}}
                )
            },
            "Invalid schema for response_format 'x': In context=(), 'additionalProperties' is "
            "required to be supplied and to be false.",
            "response_format",
            None,
        ),
        (
            {
                "response_format": _strict(
                    {"type": "object", "properties": {"a": {}}, "additionalProperties": False}
                )
            },
            "Invalid schema for response_format 'x': In context=(), 'required' is required to "
            "be supplied and to be an array including every key in properties. Missing 'a'.",
            "response_format",
            None,
        ),
        (
            {"response_format": {"type": "json_object"}},
            "'messages' must contain the word 'json' in some form, to use 'response_format' of "
            "type 'json_object'.",
            "messages",
            None,
        ),
        (
            {"reasoning_effort": "low"},
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
            "reasoning_effort",
            "unsupported_parameter",
        ),
        (
            {"messages": [{"role": "system", "content": _USER_IMAGE[0]["content"]}]},
            "Invalid 'messages[0]'. Image URLs are only allowed for messages with role 'user', "
            "but this message with role 'system' contains an image URL.",
            "messages[0]",
            None,
        ),
        (
            {"messages": _USER_IMAGE},
            "Invalid 'messages[0].content[0].image_url.url'. Expected a base64-encoded data URL "
            "with an image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but "
            "got a value with an invalid format.",
            "messages[0].content[0].image_url.url",
            "invalid_value",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {"url": f"data:image/bmp;base64,{PNG}"},
                            }
                        ],
                    }
                ]
            },
            "You uploaded an unsupported image. Please make sure your image has of one the "
            "following formats: ['png', 'jpeg', 'gif', 'webp'].",
            "messages[0].content[0].image_url.url",
            "invalid_image_format",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "video", "video": {}}]}]},
            "Invalid value: 'video'. Supported values are: 'text', 'image_url', 'input_audio', "
            "'file', and 'refusal'.",
            "messages[0].content[0].type",
            "invalid_value",
        ),
    ],
)
async def test_openai_rejects_malformed_features(
    change: dict[str, Any], message: str, param: str, code: str | None
) -> None:
    async with serving("openai") as (emu, client):
        response = await client.post(
            "/v1/chat/completions", json={**OPENAI, **change}, headers=auth_headers(emu)
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error == {
        "message": message,
        "type": "invalid_request_error",
        "param": param,
        "code": code,
    }


# --- Anthropic ----------------------------------------------------------------------------------

ANTHROPIC = {
    "model": "claude-sonnet-4",
    "max_tokens": 4096,
    "messages": [{"role": "user", "content": "call get_weather for Paris"}],
    "tools": [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
}


async def test_anthropic_thinking_then_tool_use_streamed_and_whole() -> None:
    async with serving("anthropic") as (emu, client):
        whole = await client.post("/v1/messages", json=ANTHROPIC, headers=auth_headers(emu))
        streamed = await client.post(
            "/v1/messages", json={**ANTHROPIC, "stream": True}, headers=auth_headers(emu)
        )
    body = whole.json()
    thinking, call = body["content"]
    assert thinking["type"] == "thinking"
    assert thinking["thinking"]
    assert thinking["signature"]
    assert call["type"] == "tool_use"
    jsonschema.validate(call["input"], WEATHER_SCHEMA)
    assert body["stop_reason"] == "tool_use"
    events = sse_events(streamed.text)
    data = [json.loads(d) for _, d in events]
    starts = [d["content_block"] for d in data if d["type"] == "content_block_start"]
    assert starts == [
        {"type": "thinking", "thinking": "", "signature": ""},
        {"type": "tool_use", "id": call["id"], "name": "get_weather", "input": {}},
    ]
    deltas = [d["delta"] for d in data if d["type"] == "content_block_delta"]
    kinds = [d["type"] for d in deltas]
    first_json = kinds.index("input_json_delta")
    assert set(kinds[: first_json - 1]) == {"thinking_delta"}
    assert kinds[first_json - 1] == "signature_delta"
    assert "".join(d.get("thinking", "") for d in deltas) == thinking["thinking"]
    assert deltas[first_json - 1]["signature"] == thinking["signature"]
    assert json.loads("".join(d.get("partial_json", "") for d in deltas)) == call["input"]
    names = [name for name, _ in events]
    assert names.count("content_block_stop") == 2
    assert data[-2]["usage"]["output_tokens"] == body["usage"]["output_tokens"]


async def test_anthropic_cache_breakpoint_writes_then_reads_and_images_pass() -> None:
    system = [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    request = {
        "model": "claude-sonnet-4",
        "max_tokens": 100,
        "system": system,
        "messages": [{"role": "user", "content": [image, {"type": "text", "text": "What?"}]}],
    }
    async with serving("anthropic") as (emu, client):
        first = (await client.post("/v1/messages", json=request, headers=auth_headers(emu))).json()
        second = (await client.post("/v1/messages", json=request, headers=auth_headers(emu))).json()
        short = {**request, "model": "claude-haiku-4-5"}  # needs 4096 tokens to cache
        haiku = (await client.post("/v1/messages", json=short, headers=auth_headers(emu))).json()
    written = first["usage"]["cache_creation_input_tokens"]
    assert written >= 1024
    assert first["usage"]["cache_read_input_tokens"] == 0
    assert second["usage"]["cache_read_input_tokens"] == written
    assert second["usage"]["cache_creation_input_tokens"] == 0
    assert second["usage"]["input_tokens"] == first["usage"]["input_tokens"]
    assert haiku["usage"]["cache_creation_input_tokens"] == 0


async def test_anthropic_checks_replayed_thinking() -> None:
    async with serving("anthropic") as (emu, client):
        first = await client.post("/v1/messages", json=ANTHROPIC, headers=auth_headers(emu))
        turn = first.json()["content"]
        result = {"type": "tool_result", "tool_use_id": turn[1]["id"], "content": "sunny"}

        async def replay(blocks: list[dict[str, Any]], **change: Any) -> Any:
            messages = [
                *ANTHROPIC["messages"],  # type: ignore[misc]
                {"role": "assistant", "content": blocks},
                {"role": "user", "content": [result]},
            ]
            body = {**ANTHROPIC, "messages": messages, **change}
            return await client.post("/v1/messages", json=body, headers=auth_headers(emu))

        accepted = await replay(turn)
        altered = await replay([{**turn[0], "signature": turn[0]["signature"][:-2]}, turn[1]])
        edited = await replay([{**turn[0], "thinking": turn[0]["thinking"] + "!"}, turn[1]])
        dropped = await replay(turn[1:])
        unthinking = await replay(turn[1:], thinking={"type": "disabled"})
    assert accepted.status_code == 200
    assert accepted.json()["content"][-1]["type"] == "text"
    for refused in (altered, edited):
        assert refused.status_code == 400
        assert refused.json() == {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "messages.1.content.0: Invalid `signature` in `thinking` block",
            },
        }
    assert dropped.status_code == 400
    assert dropped.json()["error"]["message"].startswith(
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
        "`tool_use`. When `thinking` is enabled, a final `assistant` message must start with a "
        "thinking block"
    )
    assert unthinking.status_code == 200


_BASE64_IMAGE = {"type": "base64", "data": PNG}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"thinking": {"type": "enabled", "budget_tokens": 512}},
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            {"thinking": {"type": "enabled"}},
            "thinking.enabled.budget_tokens: Field required",
        ),
        (
            {"thinking": {"type": "on"}},
            "thinking: Input tag 'on' found using 'type' does not match any of the expected "
            "tags: 'enabled', 'disabled'",
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 4096}},
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
            "documentation at https://docs.claude.com/en/docs/build-with-claude/"
            "extended-thinking#max-tokens-and-context-window-size",
        ),
        (
            {"tool_choice": {"type": "any"}},
            "Thinking may not be enabled when tool_choice forces tool use.",
        ),
        (
            {"temperature": 0.5},
            "`temperature` may only be set to 1 when thinking is enabled. Please consult our "
            "documentation at https://docs.claude.com/en/docs/build-with-claude/"
            "extended-thinking#feature-compatibility",
        ),
        ({"tool_choice": {"type": "tool"}}, "tool_choice.tool.name: Field required"),
        (
            {"tool_choice": {"type": "none", "disable_parallel_tool_use": True}},
            "tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted",
        ),
        ({"tools": [{"name": "get_weather"}]}, "tools.0.custom.input_schema: Field required"),
        (
            {"system": [{"type": "text", "text": "x", "cache_control": {"type": "persistent"}}]},
            "system.0.cache_control.type: Input should be 'ephemeral'",
        ),
        (
            {
                "system": [
                    {"type": "text", "text": str(n), "cache_control": {"type": "ephemeral"}}
                    for n in range(5)
                ]
            },
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": _BASE64_IMAGE}]}
                ]
            },
            "messages.0.content.0.image.source.base64.media_type: Field required",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    **_BASE64_IMAGE,
                                    "media_type": "image/png",
                                    "data": "@@",
                                },
                            }
                        ],
                    }
                ]
            },
            "messages.0.content.0.image.source.base64.data: The image data is not valid base64.",
        ),
    ],
)
async def test_anthropic_rejects_malformed_features(change: dict[str, Any], message: str) -> None:
    body = {**ANTHROPIC, "max_tokens": 2048, **change}
    async with serving("anthropic") as (emu, client):
        response = await client.post("/v1/messages", json=body, headers=auth_headers(emu))
    assert response.status_code == 400
    assert response.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": message},
    }


# --- Gemini -------------------------------------------------------------------------------------

GEMINI_PATH = "/v1beta/models/{model}:{action}"
GEMINI = {
    "contents": [{"role": "user", "parts": [{"text": "call get_weather for Paris"}]}],
    "tools": [
        {"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": WEATHER_SCHEMA}]}
    ],
    "generationConfig": {"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}},
}


def gemini_path(model: str = "gemini-2.5-flash", stream: bool = False) -> str:
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return GEMINI_PATH.format(model=model, action=action)


async def test_gemini_thoughts_then_a_signed_function_call() -> None:
    async with serving("gemini") as (emu, client):
        whole = await client.post(gemini_path(), json=GEMINI, headers=auth_headers(emu))
        streamed = await client.post(
            gemini_path(stream=True), json=GEMINI, headers=auth_headers(emu)
        )
    candidate = whole.json()["candidates"][0]
    thought, call = candidate["content"]["parts"]
    assert thought["thought"] is True
    assert call["thoughtSignature"]
    jsonschema.validate(call["functionCall"]["args"], WEATHER_SCHEMA)
    usage = whole.json()["usageMetadata"]
    assert usage["thoughtsTokenCount"] > 0
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )
    chunks = sse_json(streamed.text)
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert all(p.get("thought") for p in parts[:-1])
    assert "".join(p["text"] for p in parts[:-1]) == thought["text"]
    assert parts[-1] == call  # whole, with its signature
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"] == usage


async def test_gemini_checks_replayed_signatures() -> None:
    async with serving("gemini") as (emu, client):
        for model in ("gemini-2.5-flash", "gemini-3-flash-preview"):
            first = await client.post(gemini_path(model), json=GEMINI, headers=auth_headers(emu))
            turn = first.json()["candidates"][0]["content"]
            answer = {
                "role": "user",
                "parts": [{"functionResponse": {"name": "get_weather", "response": {"ok": 1}}}],
            }

            async def replay(
                parts: list[dict[str, Any]], model: str = model, answer: Any = answer
            ) -> Any:
                contents = [*GEMINI["contents"], {"role": "model", "parts": parts}, answer]  # type: ignore[misc]
                body = {**GEMINI, "contents": contents}
                return await client.post(gemini_path(model), json=body, headers=auth_headers(emu))

            thought, call = turn["parts"]
            accepted = await replay(turn["parts"])
            assert accepted.status_code == 200
            assert "text" in accepted.json()["candidates"][0]["content"]["parts"][-1]
            corrupted = await replay([thought, {**call, "thoughtSignature": "AAAA"}])
            assert corrupted.status_code == 400
            assert corrupted.json()["error"] == {
                "code": 400,
                "message": "Corrupted thought signature.",
                "status": "INVALID_ARGUMENT",
            }
            unsigned = await replay([{"functionCall": call["functionCall"]}])
            assert unsigned.status_code == (400 if model.startswith("gemini-3") else 200)
    assert unsigned.json()["error"]["message"].startswith(
        "Function call is missing a thought_signature in functionCall parts."
    )


async def test_gemini_structured_output_images_and_implicit_cache() -> None:
    body = {
        "systemInstruction": {"parts": [{"text": LONG}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Describe"},
                    {"inlineData": {"mimeType": "image/png", "data": PNG}},
                    {"fileData": {"mimeType": "image/png", "fileUri": "https://x.test/a.png"}},
                ],
            }
        ],
        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": PLACE},
    }
    openapi = {
        "type": "OBJECT",
        "properties": {
            "n": {"type": "INTEGER"},
            "names": {"type": "ARRAY", "items": {"type": "STRING"}},
        },
        "required": ["n", "names"],
    }
    legacy = {
        **body,
        "generationConfig": {"responseMimeType": "application/json", "responseSchema": openapi},
    }
    async with serving("gemini") as (emu, client):
        first = (await client.post(gemini_path(), json=body, headers=auth_headers(emu))).json()
        second = (await client.post(gemini_path(), json=body, headers=auth_headers(emu))).json()
        typed = (await client.post(gemini_path(), json=legacy, headers=auth_headers(emu))).json()
    text = first["candidates"][0]["content"]["parts"][0]["text"]
    jsonschema.validate(json.loads(text), PLACE)
    reply = json.loads(typed["candidates"][0]["content"]["parts"][0]["text"])
    assert isinstance(reply["n"], int)
    assert reply["names"]
    assert "cachedContentTokenCount" not in first["usageMetadata"]
    assert second["usageMetadata"]["cachedContentTokenCount"] >= 1024


@pytest.mark.parametrize(
    ("change", "message", "model"),
    [
        (
            {"toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}},
            "Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/"
            'google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), "SOMETIMES"',
            "gemini-2.5-flash",
        ),
        (
            {
                "toolConfig": {
                    "functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["x"]}
                }
            },
            "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
            "allowed_function_names can only be set when mode is ANY or VALIDATED.\n",
            "gemini-2.5-flash",
        ),
        (
            {"generationConfig": {"responseMimeType": "text/html"}},
            "* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are "
            "`text/plain`, `application/json`, `application/xml`, `application/yaml` and "
            "`text/x.enum`.\n",
            "gemini-2.5-flash",
        ),
        (
            {"generationConfig": {"responseJsonSchema": PLACE}},
            "* GenerateContentRequest.generation_config.response_mime_type: response_mime_type "
            "must be application/json or text/x.enum when a response schema is set.\n",
            "gemini-2.5-flash",
        ),
        (
            {
                "generationConfig": {
                    "thinkingConfig": {"thinkingBudget": 10, "thinkingLevel": "low"}
                }
            },
            "You can only set only one of thinking budget and thinking level.",
            "gemini-3-flash-preview",
        ),
        (
            {"generationConfig": {"thinkingConfig": {"thinkingLevel": "low"}}},
            "Thinking level is not supported for this model.",
            "gemini-2.5-flash",
        ),
        (
            {"generationConfig": {"thinkingConfig": {"thinkingLevel": "max"}}},
            "Invalid value at 'generation_config.thinking_config.thinking_level' "
            "(type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig."
            'ThinkingLevel), "max"',
            "gemini-3-flash-preview",
        ),
        (
            {"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}},
            "Budget 0 is invalid. This model only works in thinking mode.",
            "gemini-2.5-pro",
        ),
        (
            {"contents": [{"parts": [{"inlineData": {"data": PNG}}]}]},
            "* contents[0].parts[0].inline_data.mime_type: mime_type is not specified\n",
            "gemini-2.5-flash",
        ),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "@@@"}}]}]},
            "Invalid value at 'contents[0].parts[0].inline_data.data' (TYPE_BYTES), Base64 "
            'decoding failed for "@@@"',
            "gemini-2.5-flash",
        ),
        (
            {"contents": [{"parts": [{"fileData": {"mimeType": "image/png"}}]}]},
            "* contents[0].parts[0].file_data.file_uri: file_uri is not specified\n",
            "gemini-2.5-flash",
        ),
    ],
)
async def test_gemini_rejects_malformed_features(
    change: dict[str, Any], message: str, model: str
) -> None:
    async with serving("gemini") as (emu, client):
        response = await client.post(
            gemini_path(model), json={**GEMINI, **change}, headers=auth_headers(emu)
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"], error["message"]) == (400, "INVALID_ARGUMENT", message)


# --- Ollama -------------------------------------------------------------------------------------

OLLAMA = {
    "model": "llama3.2",
    "messages": [{"role": "user", "content": "call get_weather for Paris", "images": [PNG]}],
    "tools": [openai_tool("get_weather")],
    "think": True,
}


async def test_ollama_whole_tool_calls_thinking_and_structured_output() -> None:
    schema_request = {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "Describe Paris"}],
        "format": PLACE,
        "stream": False,
    }
    async with serving("ollama") as (_emu, client):
        whole = (await client.post("/api/chat", json={**OLLAMA, "stream": False})).json()
        lines = ndjson((await client.post("/api/chat", json=OLLAMA)).text)
        structured = (await client.post("/api/chat", json=schema_request)).json()
        as_json = (await client.post("/api/chat", json={**schema_request, "format": "json"})).json()
        generated = (
            await client.post(
                "/api/generate",
                json={"model": "llama3.2", "prompt": "Describe", "format": PLACE, "stream": False},
            )
        ).json()
    message = whole["message"]
    (call,) = message["tool_calls"]
    jsonschema.validate(call["function"]["arguments"], WEATHER_SCHEMA)
    assert message["thinking"]
    thoughts = [line["message"]["thinking"] for line in lines if "thinking" in line["message"]]
    assert "".join(thoughts) == message["thinking"]
    calls = [line["message"]["tool_calls"] for line in lines if "tool_calls" in line["message"]]
    assert calls == [[call]]  # one whole line
    assert lines[-1]["done"] is True
    assert lines[-1]["eval_count"] == whole["eval_count"]
    jsonschema.validate(json.loads(structured["message"]["content"]), PLACE)
    assert isinstance(json.loads(as_json["message"]["content"]), dict)
    jsonschema.validate(json.loads(generated["response"]), PLACE)


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        (
            {"format": "xml", "stream": False},
            500,
            'invalid format: "\\"xml\\""; expected "json" or a valid JSON Schema object',
        ),
        (
            {"think": "max"},
            400,
            'invalid think value: "max" (must be "high", "medium", "low", true, or false)',
        ),
        (
            {"messages": [{"role": "user", "content": "x", "images": ["https://x.test/a.png"]}]},
            400,
            "illegal base64 data at input byte 5",
        ),
        (
            {"messages": [{"role": "user", "content": "x", "images": [7]}]},
            400,
            "json: cannot unmarshal number into Go struct field Message.messages.images of type "
            "api.ImageData",
        ),
    ],
)
async def test_ollama_rejects_malformed_features(
    change: dict[str, Any], status: int, message: str
) -> None:
    async with serving("ollama") as (_emu, client):
        response = await client.post("/api/chat", json={**OLLAMA, **change})
    assert response.status_code == status
    assert response.json() == {"error": message}


async def test_ollama_bad_format_in_a_stream_is_an_error_line() -> None:
    async with serving("ollama") as (_emu, client):
        response = await client.post("/api/chat", json={**OLLAMA, "format": 3})
    assert response.status_code == 200
    assert ndjson(response.text) == [
        {"error": 'invalid format: "3"; expected "json" or a valid JSON Schema object'}
    ]


# --- determinism --------------------------------------------------------------------------------


async def test_cache_state_is_per_emulator() -> None:
    """A fresh emulator has an empty cache: the same request reads nothing the first time."""
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": LONG}]}
    for _ in range(2):
        async with serving("openai", EmulatorConfig(seed=3)) as (emu, client):
            response = await client.post(
                "/v1/chat/completions", json=request, headers=auth_headers(emu)
            )
        assert response.json()["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
