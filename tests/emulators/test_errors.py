"""Auth, unknown models and bad bodies: each provider's own status and error envelope."""

from __future__ import annotations

from typing import Any

import pytest

from hafs_actors.testing.emulators import PROVIDERS, EmulatorConfig

from ._helpers import auth_headers, chat_request, serving


def _envelope(provider: str, body: Any) -> tuple[str, str]:
    """(error type or status, message) read from the provider's envelope, checking its shape."""
    if provider == "openai":
        assert set(body["error"]) == {"message", "type", "param", "code"}
        return body["error"]["type"], body["error"]["message"]
    if provider == "anthropic":
        assert body["type"] == "error"
        assert set(body["error"]) == {"type", "message"}
        return body["error"]["type"], body["error"]["message"]
    if provider == "gemini":
        assert {"code", "message", "status"} <= set(body["error"])
        return body["error"]["status"], body["error"]["message"]
    if provider == "ollama":
        assert set(body) == {"error"}
        assert isinstance(body["error"], str)
        return "", body["error"]
    assert set(body["error"]) >= {"code", "message", "type"}
    return body["error"]["type"], body["error"]["message"]


MISSING_KEY = {
    "openai": (401, "invalid_request_error"),
    "anthropic": (401, "authentication_error"),
    "gemini": (403, "PERMISSION_DENIED"),
}
WRONG_KEY = {
    "openai": (401, "invalid_request_error"),
    "anthropic": (401, "authentication_error"),
    "gemini": (400, "INVALID_ARGUMENT"),
}


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_keys_are_checked_like_the_real_service(provider: str) -> None:
    path, body = chat_request(provider)
    async with serving(provider) as (emu, client):
        headers = auth_headers(emu)
        extra = {"anthropic-version": "2023-06-01"} if provider == "anthropic" else {}
        missing = await client.post(path, json=body, headers=extra)
        wrong_headers = {
            k: ("wrong-key" if v == emu.api_key else v.replace(emu.api_key, "wrong-key"))
            for k, v in headers.items()
        }
        wrong = await client.post(path, json=body, headers=wrong_headers)
        right = await client.post(path, json=body, headers=headers)
    assert (missing.status_code, _envelope(provider, missing.json())[0]) == MISSING_KEY[provider]
    assert (wrong.status_code, _envelope(provider, wrong.json())[0]) == WRONG_KEY[provider]
    assert "wrong-key" not in wrong.text  # keys are never echoed
    assert right.status_code == 200
    if provider == "openai":
        assert wrong.json()["error"]["code"] == "invalid_api_key"
    if provider == "gemini":
        (info, _) = wrong.json()["error"]["details"]
        assert info["reason"] == "API_KEY_INVALID"


async def test_gemini_accepts_the_key_in_the_query_string() -> None:
    path, body = chat_request("gemini")
    async with serving("gemini") as (emu, client):
        response = await client.post(f"{path}?key={emu.api_key}", json=body)
    assert response.status_code == 200


async def test_anthropic_requires_the_version_header() -> None:
    path, body = chat_request("anthropic")
    async with serving("anthropic") as (emu, client):
        response = await client.post(path, json=body, headers={"x-api-key": emu.api_key})
        bearer = await client.post(
            path,
            json=body,
            headers={"authorization": f"Bearer {emu.api_key}", "anthropic-version": "2023-06-01"},
        )
    assert response.status_code == 400
    assert _envelope("anthropic", response.json()) == (
        "invalid_request_error",
        "anthropic-version: header is required",
    )
    assert response.headers["request-id"].startswith("req_")
    assert bearer.status_code == 200


@pytest.mark.parametrize("provider", ["ollama", "llamacpp"])
async def test_local_servers_need_no_key_unless_configured(provider: str) -> None:
    path, body = chat_request(provider)
    async with serving(provider) as (emu, client):
        open_response = await client.post(path, json=body)
    async with serving(provider, EmulatorConfig(require_auth=True)) as (emu, client):
        locked = await client.post(path, json=body)
        unlocked = await client.post(path, json=body, headers=auth_headers(emu))
        health = await client.get("/health" if provider == "llamacpp" else "/api/version")
    assert open_response.status_code == 200
    assert locked.status_code == 401
    assert unlocked.status_code == 200
    if provider == "llamacpp":
        assert locked.json() == {
            "error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}
        }
        assert health.status_code == 200  # /health stays public
    else:
        assert locked.json() == {"error": "unauthorized"}


UNKNOWN_MODEL = {
    "openai": "invalid_request_error",
    "anthropic": "not_found_error",
    "gemini": "NOT_FOUND",
    "ollama": "",
    "llamacpp": "not_found_error",
}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_unknown_model_is_a_404_in_the_providers_format(provider: str) -> None:
    path, body = chat_request(provider)
    if provider == "gemini":
        path = path.replace("gemini-3-flash-preview", "no-such-model")
    else:
        body = {**body, "model": "no-such-model"}
    config = EmulatorConfig(accept_any_model=False)
    async with serving(provider, config) as (emu, client):
        response = await client.post(path, json=body, headers=auth_headers(emu))
    assert response.status_code == 404
    kind, message = _envelope(provider, response.json())
    assert kind == UNKNOWN_MODEL[provider]
    assert "no-such-model" in message
    assert emu.stats().count(status=404) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_accept_any_model(provider: str) -> None:
    path, body = chat_request(provider)
    if provider == "gemini":
        path = path.replace("gemini-3-flash-preview", "my-finetune")
    else:
        body = {**body, "model": "my-finetune"}
    async with serving(provider, EmulatorConfig(accept_any_model=True)) as (emu, client):
        response = await client.post(path, json=body, headers=auth_headers(emu))
    assert response.status_code == 200


BAD_JSON = {
    "openai": "invalid_request_error",
    "anthropic": "invalid_request_error",
    "gemini": "INVALID_ARGUMENT",
    "ollama": "",
    "llamacpp": "invalid_request_error",
}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_bad_json_is_a_400_in_the_providers_format(provider: str) -> None:
    path, _ = chat_request(provider)
    async with serving(provider) as (emu, client):
        headers = {**auth_headers(emu), "content-type": "application/json"}
        response = await client.post(path, content=b'{"model": ', headers=headers)
    assert response.status_code == 400
    assert _envelope(provider, response.json())[0] == BAD_JSON[provider]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_unknown_path_is_a_404(provider: str) -> None:
    async with serving(provider) as (emu, client):
        response = await client.post("/v9/whatever", json={}, headers=auth_headers(emu))
    assert response.status_code == 404
    _envelope(provider, response.json())
    assert emu.stats().requests == {("unknown", 404): 1}
