"""Replay: every recorded fixture served verbatim over a real socket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hafs_actors.testing.emulators import EmulatorConfig, Fault, FaultPlan

from ._helpers import FIXTURES, auth_headers, chat_request, serving

FIXTURE_FILES = sorted(p for p in FIXTURES.glob("*/*") if p.is_file())
STATUS = {
    "error_429_rate_limit.json": 429,
    "error_overloaded_529.json": 529,
    "error_quota_exceeded_429_vertex.json": 429,
    "health_loading_503.json": 503,
    "error.json": 500,
}
CONTENT_TYPE = {
    ".sse": "text/event-stream",
    ".ndjson": "application/x-ndjson",
    ".json": "application/json",
}


def test_every_fixture_is_covered() -> None:
    assert len(FIXTURE_FILES) == 22


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
async def test_fixture_is_replayed_byte_for_byte(path: Path) -> None:
    provider = path.parent.name
    status = STATUS.get(path.name, 200)
    fault = Fault(kind="replay", body=path.read_bytes(), status=status, headers={"x-replayed": "1"})
    request_path, body = chat_request(provider, stream=path.suffix in (".sse", ".ndjson"))
    config = EmulatorConfig(faults=FaultPlan([fault]))
    async with serving(provider, config) as (emu, client):
        response = await client.post(request_path, json=body, headers=auth_headers(emu))
    assert response.status_code == status
    assert response.content == path.read_bytes()
    assert response.headers["content-type"] == CONTENT_TYPE[path.suffix]
    assert response.headers["x-replayed"] == "1"
    streaming = path.suffix in (".sse", ".ndjson")
    assert ("transfer-encoding" in response.headers) == streaming
    assert emu.stats().faults == {"replay": 1}


async def test_replay_from_a_plan_file_with_a_relative_body_file(tmp_path: Path) -> None:
    (tmp_path / "body.sse").write_bytes(
        (FIXTURES / "gemini/stream_error_midstream_vertex.sse").read_bytes()
    )
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(
        json.dumps(
            {
                "faults": [
                    {
                        "kind": "replay",
                        "body_file": "body.sse",
                        "content_type": "text/event-stream",
                        "endpoint": "streamGenerateContent",
                    }
                ]
            }
        )
    )
    config = EmulatorConfig(faults=FaultPlan.from_file(plan_file))
    path, body = chat_request("gemini", stream=True)
    async with serving("gemini", config) as (emu, client):
        replayed = await client.post(path, json=body, headers=auth_headers(emu))
        unary_path, unary_body = chat_request("gemini")
        normal = await client.post(unary_path, json=unary_body, headers=auth_headers(emu))
    assert replayed.content == (tmp_path / "body.sse").read_bytes()
    assert normal.json()["candidates"][0]["finishReason"] == "STOP"
