"""Counters and the admin endpoints (/_emulator/stats, /_emulator/faults, /_emulator/info)."""

from __future__ import annotations

from hafs_actors.testing.emulators import (
    EmulatorConfig,
    EmulatorStats,
    Fault,
    FaultPlan,
    open_emulators,
)

from ._helpers import auth_headers, chat_request, serving


async def test_stats_count_requests_faults_tokens_and_reset() -> None:
    config = EmulatorConfig(faults=FaultPlan([Fault(kind="http_error", status=503, nth=2)]))
    path, body = chat_request("openai")
    async with serving("openai", config) as (emu, client):
        ok = await client.post(path, json=body, headers=auth_headers(emu))
        await client.post(path, json=body, headers=auth_headers(emu))
        await client.post(path, json=body)  # no key: 401
        await client.post(
            "/v1/embeddings",
            json={"model": "text-embedding-3-small", "input": "a b"},
            headers=auth_headers(emu),
        )
        stats = emu.stats()
        emu.reset_stats()
        after_reset = emu.stats()
    assert isinstance(stats, EmulatorStats)
    assert stats.requests == {
        ("chat.completions", 200): 1,
        ("chat.completions", 503): 1,
        ("chat.completions", 401): 1,
        ("embeddings", 200): 1,
    }
    assert stats.total == 4
    assert stats.count("chat.completions") == 3
    assert stats.count(status=200) == 2
    assert stats.faults == {"http_error": 1}
    usage = ok.json()["usage"]
    assert stats.input_tokens == usage["prompt_tokens"] + 2
    assert stats.output_tokens == usage["completion_tokens"]
    assert stats.connections == 1  # keep-alive: one connection for everything
    assert after_reset == EmulatorStats(provider="openai")


async def test_admin_endpoints_over_http() -> None:
    path, body = chat_request("gemini")
    async with serving("gemini") as (emu, client):
        await client.post(path, json=body, headers=auth_headers(emu))
        stats = (await client.get("/_emulator/stats")).json()
        plan = {
            "faults": [{"kind": "http_error", "status": 500, "nth": 1}],
            "quota": {"requests_per_minute": 9},
        }
        posted = await client.post("/_emulator/faults", json=plan)
        current = (await client.get("/_emulator/faults")).json()
        failed = await client.post(path, json=body, headers=auth_headers(emu))
        bad = await client.post("/_emulator/faults", json={"faults": [{"kind": "explode"}]})
        cleared = await client.delete("/_emulator/faults")
        info = (await client.get("/_emulator/info")).json()
        reset = await client.post("/_emulator/stats/reset")
        unknown = await client.get("/_emulator/nope")
    assert stats["requests"] == {"generateContent": {"200": 1}}
    assert stats["total"] == 1
    assert posted.json() == {"ok": True, "faults": 1}
    assert current["faults"] == [{"kind": "http_error", "nth": 1, "status": 500}]
    assert current["quota"]["requests_per_minute"] == 9
    assert failed.status_code == 500
    assert bad.status_code == 400
    assert "kind" in bad.json()["error"]
    assert cleared.status_code == 200
    assert emu.faults == FaultPlan()
    assert info["provider"] == "gemini"
    assert "gemini-3-pro-preview" in info["models"]
    assert "api_key" not in info
    assert reset.json() == {"ok": True}
    assert emu.stats().total == 0
    assert unknown.status_code == 404


async def test_admin_can_be_turned_off() -> None:
    async with serving("ollama", EmulatorConfig(admin=False)) as (_emu, client):
        response = await client.get("/_emulator/stats")
    assert response.status_code == 404
    assert response.json() == {"error": "404 page not found"}


async def test_open_emulators_starts_all_five_on_consecutive_ports() -> None:
    async with open_emulators(port=None, configs={"ollama": EmulatorConfig(seed=3)}) as emus:
        assert list(emus) == ["openai", "anthropic", "gemini", "ollama", "llamacpp"]
        ports = [emu.port for emu in emus.values()]
        assert ports == list(range(ports[0], ports[0] + 5))
        assert emus["ollama"].config.seed == 3
        assert emus["openai"].env() == {
            "OPENAI_BASE_URL": f"{emus['openai'].base_url}/v1",
            "OPENAI_API_KEY": "emulator-key",
        }
        assert emus["ollama"].env() == {"OLLAMA_HOST": emus["ollama"].base_url}
        assert "emulator-key" not in repr(emus["openai"]) + repr(emus["openai"].config)
