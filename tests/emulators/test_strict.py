"""Strict emulators: each accepts the bodies its real API accepts and rejects the rest with the
real API's status, envelope and wording (issue 13, item 4)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ._helpers import CHAT, auth_headers, serving

# --- bodies ---------------------------------------------------------------------------------

PARAMS = [
    "temperature",
    "max_tokens",
    "top_p",
    "seed",
    "stop_string",
    "stop_list",
    "presence_penalty",
    "frequency_penalty",
]
VALUES: dict[str, Any] = {
    "temperature": 0.3,
    "max_tokens": 32,
    "top_p": 0.9,
    "seed": 7,
    "stop_string": "\n\n",
    "stop_list": ["\n\n", "END"],
    "presence_penalty": 0.5,
    "frequency_penalty": -0.5,
}
# Where each provider's API takes a parameter: (container, field name); None: it has none.
NATIVE: dict[str, dict[str, tuple[str | None, str] | None]] = {
    "openai": {
        "temperature": (None, "temperature"),
        "max_tokens": (None, "max_tokens"),
        "top_p": (None, "top_p"),
        "seed": (None, "seed"),
        "stop_string": (None, "stop"),
        "stop_list": (None, "stop"),
        "presence_penalty": (None, "presence_penalty"),
        "frequency_penalty": (None, "frequency_penalty"),
    },
    "anthropic": {
        "temperature": (None, "temperature"),
        "max_tokens": (None, "max_tokens"),
        "top_p": (None, "top_p"),
        "seed": None,
        "stop_string": None,  # stop_sequences is a list only
        "stop_list": (None, "stop_sequences"),
        "presence_penalty": None,
        "frequency_penalty": None,
    },
    "gemini": {
        "temperature": ("generationConfig", "temperature"),
        "max_tokens": ("generationConfig", "maxOutputTokens"),
        "top_p": ("generationConfig", "topP"),
        "seed": ("generationConfig", "seed"),
        "stop_string": None,  # stopSequences is a list only
        "stop_list": ("generationConfig", "stopSequences"),
        "presence_penalty": ("generationConfig", "presencePenalty"),
        "frequency_penalty": ("generationConfig", "frequencyPenalty"),
    },
    "ollama": {
        "temperature": ("options", "temperature"),
        "max_tokens": ("options", "num_predict"),
        "top_p": ("options", "top_p"),
        "seed": ("options", "seed"),
        "stop_string": None,  # Options.FromMap wants an array
        "stop_list": ("options", "stop"),
        "presence_penalty": ("options", "presence_penalty"),
        "frequency_penalty": ("options", "frequency_penalty"),
    },
}
NATIVE["llamacpp"] = NATIVE["openai"]
# What a provider without the parameter answers when a client sends it anyway.
ABSENT: dict[tuple[str, str], tuple[int, str, dict[str, Any]]] = {
    ("anthropic", "seed"): (400, "seed: Extra inputs are not permitted", {"seed": 7}),
    ("anthropic", "presence_penalty"): (
        400,
        "presence_penalty: Extra inputs are not permitted",
        {"presence_penalty": 0.5},
    ),
    ("anthropic", "frequency_penalty"): (
        400,
        "frequency_penalty: Extra inputs are not permitted",
        {"frequency_penalty": -0.5},
    ),
    ("anthropic", "stop_string"): (
        400,
        "stop_sequences: Input should be a valid list",
        {"stop_sequences": "\n\n"},
    ),
    ("gemini", "stop_string"): (
        400,
        "Invalid value at 'generation_config.stop_sequences' (TYPE_STRING), \"\\n\\n\"",
        {"generationConfig": {"stopSequences": "\n\n"}},
    ),
    ("ollama", "stop_string"): (
        500,
        'option "stop" must be of type array',
        {"options": {"stop": "\n\n"}},
    ),
}


def body_for(provider: str, extra: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    path, body = CHAT[provider]
    body = copy.deepcopy(body)
    for name, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(body.get(name), dict):
            body[name].update(value)
        else:
            body[name] = value
    return path, body


def error_message(provider: str, body: Any) -> str:
    """The message, after checking the envelope is exactly the provider's."""
    if provider == "openai":
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert body["error"]["type"] == "invalid_request_error"
        return str(body["error"]["message"])
    if provider == "anthropic":
        assert body["type"] == "error"
        assert body["error"]["type"] == "invalid_request_error"
        return str(body["error"]["message"])
    if provider == "gemini":
        assert body["error"]["code"] in (400, 500)
        assert body["error"]["status"] == "INVALID_ARGUMENT"
        return str(body["error"]["message"])
    if provider == "ollama":
        assert set(body) == {"error"}
        return str(body["error"])
    assert set(body["error"]) >= {"code", "message", "type"}
    return str(body["error"]["message"])


async def post(provider: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with serving(provider) as (emu, client):
        response = await client.post(path, json=body, headers=auth_headers(emu))
    return response.status_code, response.json()


# --- typed parameters -----------------------------------------------------------------------


@pytest.mark.parametrize("param", PARAMS)
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "ollama", "llamacpp"])
async def test_typed_parameter_placed_natively(provider: str, param: str) -> None:
    place = NATIVE[provider][param]
    if place is None:
        status, message, extra = ABSENT[(provider, param)]
        path, body = body_for(provider, extra)
        got_status, got = await post(provider, path, body)
        assert got_status == status
        assert error_message(provider, got) == message
        return
    container, name = place
    value = VALUES[param]
    path, body = body_for(provider, {container: {name: value}} if container else {name: value})
    status, got = await post(provider, path, body)
    assert status == 200, got


# --- known-bad bodies -----------------------------------------------------------------------

BAD: dict[str, list[tuple[str, dict[str, Any], int, str]]] = {
    "openai": [
        ("unknown", {"foo": 1}, 400, "Unrecognized request argument supplied: foo"),
        (
            "misplaced",
            {"stop_sequences": ["x"]},
            400,
            "Unrecognized request argument supplied: stop_sequences",
        ),
        (
            "type",
            {"temperature": "hot"},
            400,
            "Invalid type for 'temperature': expected a decimal, but got a string instead.",
        ),
        (
            "range",
            {"temperature": 3},
            400,
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got "
            "3 instead.",
        ),
        (
            "length",
            {"stop": ["a", "b", "c", "d", "e"]},
            400,
            "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an "
            "array with length 5 instead.",
        ),
        (
            "role",
            {"messages": [{"role": "bot", "content": "hi"}]},
            400,
            "Invalid value: 'bot'. Supported values are: 'system', 'developer', 'user', "
            "'assistant', 'tool', and 'function'.",
        ),
        (
            "missing",
            {"messages": None},
            400,
            "Missing required parameter: 'messages'.",
        ),
        (
            "tool_call_id",
            {"messages": [{"role": "tool", "content": "42"}]},
            400,
            "Missing required parameter: 'messages[0].tool_call_id'.",
        ),
        (
            "tool order",
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "tool", "content": "4", "tool_call_id": "c"},
                ]
            },
            400,
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
            "message with 'tool_calls'.",
        ),
    ],
    "anthropic": [
        ("unknown", {"foo": 1}, 400, "foo: Extra inputs are not permitted"),
        (
            "misplaced",
            {"response_format": {"type": "json_object"}},
            400,
            "response_format: Extra inputs are not permitted",
        ),
        ("misplaced stop", {"stop": ["x"]}, 400, "stop: Extra inputs are not permitted"),
        ("type", {"max_tokens": "many"}, 400, "max_tokens: Input should be a valid integer"),
        (
            "range",
            {"temperature": 1.5},
            400,
            "temperature: Input should be less than or equal to 1",
        ),
        (
            "role",
            {"messages": [{"role": "system", "content": "hi"}]},
            400,
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        ("missing", {"max_tokens": None}, 400, "max_tokens: Field required"),
        (
            "tool order",
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "4"}
                        ],
                    }
                ]
            },
            400,
            "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
            "toolu_1. Each `tool_result` block must have a corresponding `tool_use` block in the "
            "previous message.",
        ),
    ],
    "gemini": [
        (
            "unknown",
            {"foo": 1},
            400,
            'Invalid JSON payload received. Unknown name "foo": Cannot find field.',
        ),
        (
            "misplaced",
            {"top_p": 0.9},
            400,
            'Invalid JSON payload received. Unknown name "top_p": Cannot find field.',
        ),
        (
            "misplaced nested",
            {"generationConfig": {"max_tokens": 5}},
            400,
            "Invalid JSON payload received. Unknown name \"max_tokens\" at 'generation_config': "
            "Cannot find field.",
        ),
        (
            "type",
            {"generationConfig": {"temperature": "hot"}},
            400,
            "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\"",
        ),
        (
            "role",
            {"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}]},
            400,
            "Please use a valid role: user, model.",
        ),
        (
            "missing",
            {"contents": None},
            400,
            "* GenerateContentRequest.contents: contents is not specified\n",
        ),
    ],
    "ollama": [
        (
            "misplaced",
            {"temperature": 0.2},
            400,
            '"temperature" is not a request field (Ollama would ignore it there); '
            'set it in "options"',
        ),
        (
            "type",
            {"stream": "no"},
            400,
            "json: cannot unmarshal string into Go struct field ChatRequest.stream of type bool",
        ),
        (
            "nested type",
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
            400,
            "json: cannot unmarshal array into Go struct field Message.messages.content of type "
            "string",
        ),
        (
            "option type",
            {"options": {"temperature": "hot"}},
            500,
            'option "temperature" must be of type float32',
        ),
        (
            "role",
            {"messages": [{"role": "bot", "content": "hi"}]},
            400,
            "invalid role in messages[0]: 'bot'",
        ),
        ("missing", {"model": None}, 400, "model is required"),
    ],
    "llamacpp": [
        ("unsupported", {"best_of": 2}, 400, "Unsupported param: best_of"),
        ("n", {"n": 2}, 400, "Only one completion choice is allowed"),
        (
            "missing content",
            {"messages": [{"role": "user"}]},
            400,
            "Expected 'content' (ref: https://github.com/ggml-org/llama.cpp/issues/8367)",
        ),
    ],
}
BAD_CASES = [(p, *case) for p, cases in BAD.items() for case in cases]


@pytest.mark.parametrize(
    ("provider", "what", "extra", "status", "message"),
    BAD_CASES,
    ids=[f"{p}-{what}" for p, what, *_ in BAD_CASES],
)
async def test_known_bad_body_gets_the_real_error(
    provider: str, what: str, extra: dict[str, Any], status: int, message: str
) -> None:
    path, body = body_for(provider)
    for name, value in extra.items():
        if value is None:
            body.pop(name, None)
        elif isinstance(value, dict) and isinstance(body.get(name), dict):
            body[name].update(value)
        else:
            body[name] = value
    got_status, got = await post(provider, path, body)
    assert got_status == status, got
    assert error_message(provider, got) == message


async def test_openai_error_names_the_param_and_code() -> None:
    path, body = body_for("openai", {"temperature": "hot"})
    _, got = await post("openai", path, body)
    assert got["error"]["param"] == "temperature"
    assert got["error"]["code"] == "invalid_type"
    path, body = body_for("openai", {"foo": 1})
    _, got = await post("openai", path, body)
    assert (got["error"]["param"], got["error"]["code"]) == (None, None)


async def test_openai_assistant_tool_calls_need_every_answer() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "user", "content": "y"},
    ]
    path, body = body_for("openai", {"messages": messages})
    status, got = await post("openai", path, body)
    assert status == 400
    assert got["error"]["message"].endswith("did not have response messages: call_1")
    messages[2] = {"role": "tool", "content": "4", "tool_call_id": "call_1"}
    status, _ = await post("openai", path, body)
    assert status == 200


async def test_openai_embeddings_reject_unknown_arguments() -> None:
    body = {"model": "text-embedding-3-small", "input": "hi", "task_type": "x"}
    status, got = await post("openai", "/v1/embeddings", body)
    assert status == 400
    assert error_message("openai", got) == "Unrecognized request argument supplied: task_type"


async def test_anthropic_merges_turns_and_allows_an_assistant_first() -> None:
    messages = [
        {"role": "assistant", "content": "Hello, how can I help?"},
        {"role": "user", "content": "Say hello"},
        {"role": "user", "content": "in French"},
    ]
    path, body = body_for("anthropic", {"messages": messages})
    status, got = await post("anthropic", path, body)
    assert status == 200, got


@pytest.mark.parametrize(
    ("model", "status"), [("claude-sonnet-4-5", 400), ("claude-sonnet-4", 200)]
)
async def test_anthropic_newer_models_take_one_sampler(model: str, status: int) -> None:
    path, body = body_for("anthropic", {"model": model, "temperature": 0.5, "top_p": 0.9})
    got_status, got = await post("anthropic", path, body)
    assert got_status == status
    if status == 400:
        assert error_message("anthropic", got) == (
            "`temperature` and `top_p` cannot both be specified for this model. "
            "Please use only one."
        )


async def test_anthropic_tool_use_needs_its_result_next() -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "4"}
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": "y"},
    ]
    path, body = body_for("anthropic", {"messages": messages})
    status, got = await post("anthropic", path, body)
    assert status == 400
    assert error_message("anthropic", got).startswith(
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
        "toolu_1."
    )
    messages[2] = {"role": "user", "content": [result]}
    status, got = await post("anthropic", path, body)
    assert status == 200, got


async def test_gemini_takes_snake_case_and_proto3_numbers() -> None:
    extra = {
        "generation_config": {"max_output_tokens": "16", "temperature": "0.5", "top_k": 40.0},
        "system_instruction": {"parts": [{"text": "be brief"}]},
    }
    path, body = body_for("gemini", extra)
    status, got = await post("gemini", path, body)
    assert status == 200, got


async def test_gemini_error_names_the_field() -> None:
    path, body = body_for("gemini", {"generationConfig": {"max_tokens": 5}})
    _, got = await post("gemini", path, body)
    (detail,) = got["error"]["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert detail["fieldViolations"][0]["field"] == "generation_config"


async def test_gemini_embeddings_are_checked_too() -> None:
    path = "/v1beta/models/text-embedding-004:embedContent"
    body = {"content": {"parts": [{"text": "hi"}]}, "dimensions": 8}
    status, got = await post("gemini", path, body)
    assert status == 400
    assert error_message("gemini", got) == (
        'Invalid JSON payload received. Unknown name "dimensions": Cannot find field.'
    )


async def test_ollama_ignores_unknown_fields_and_options_like_the_real_server() -> None:
    path, body = body_for("ollama", {"flavour": "x", "options": {"not_an_option": 1}})
    status, got = await post("ollama", path, body)
    assert status == 200, got


async def test_llamacpp_ignores_unknown_and_its_own_fields() -> None:
    extra = {"cache_prompt": True, "top_k": 40, "min_p": 0.05, "n_predict": 16, "grammar": ""}
    path, body = body_for("llamacpp", {**extra, "whatever": 1})
    status, got = await post("llamacpp", path, body)
    assert status == 200, got
