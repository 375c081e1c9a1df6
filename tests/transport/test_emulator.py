"""The project transport against the in-process OpenAI emulator: JSON and SSE over keep-alive,
with realistic latency running instantly under MockClock."""

from __future__ import annotations

import json
from typing import Any

from hafs_actors.testing.emulators import EmulatorConfig, open_emulator
from hafs_actors.transport import create_pooled_client


async def test_sse_from_the_emulator(autojump_clock: Any) -> None:
    async with open_emulator("openai", config=EmulatorConfig(latency="realistic")) as emu:
        pooled = create_pooled_client(
            base_url=emu.base_url + "/v1",
            headers={"authorization": f"Bearer {emu.api_key}"},
            trust_env=False,
        )
        client = pooled.client
        async with client:
            body = {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "hello"}],
                "stream": True,
            }
            texts = []
            for _ in range(2):
                async with client.stream("POST", "/chat/completions", json=body) as response:
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith("text/event-stream")
                    events = [
                        line[len("data:") :].strip()
                        async for line in response.aiter_lines()
                        if line.startswith("data:")
                    ]
                assert events[-1] == "[DONE]"
                chunks = [json.loads(event) for event in events[:-1]]
                assert len(chunks) > 2  # streamed token by token, not one blob
                texts.append(
                    "".join(
                        c["choices"][0]["delta"].get("content") or ""
                        for c in chunks
                        if c["choices"]
                    )
                )
            assert texts[0]
            assert texts[0] == texts[1]  # deterministic content
            plain = await client.post("/chat/completions", json={**body, "stream": False})
            assert plain.json()["choices"][0]["message"]["content"] == texts[0]
            stats = pooled.statistics()
            assert stats is not None
            assert stats.connections_opened == 1
            assert stats.requests_on_reused_connections == 2
