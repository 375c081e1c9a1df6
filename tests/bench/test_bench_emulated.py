"""The emulator in a separate process: banner parsing, start and stop, death mid-run."""

from __future__ import annotations

import json
import os
import signal

import pytest
import trio

from hafs_actors.bench.emulator_process import emulator_process, parse_emulator_banner
from hafs_actors.bench.errors import BenchError


def test_banner_parsing():
    line = json.dumps(
        {
            "openai": {"base_url": "http://127.0.0.1:9000", "port": 9000, "api_key": "k"},
            "ollama": {"base_url": "http://127.0.0.1:9001", "port": 9001, "api_key": "k"},
            "env": {"OPENAI_BASE_URL": "http://127.0.0.1:9000/v1"},
        }
    )
    endpoints = parse_emulator_banner(line)
    assert list(endpoints) == ["openai", "ollama"]
    assert endpoints["openai"].base_url == "http://127.0.0.1:9000/v1"  # the adapter's form
    assert endpoints["ollama"].base_url == "http://127.0.0.1:9001"
    assert endpoints["openai"].api_key == "k"
    assert "'k'" not in repr(endpoints["openai"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("listening", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"env": {}}', "lists no providers"),
        ('{"openai": {"base_url": ""}}', "no usable base_url"),
    ],
)
def test_bad_banners(line, message):
    with pytest.raises(BenchError, match=message):
        parse_emulator_banner(line)


async def test_emulator_process_serves_and_stops():
    async with emulator_process(latency="zero", server="trio") as emulator:
        assert set(emulator.endpoints) == {"openai", "anthropic", "gemini", "ollama", "llamacpp"}
        host, port = emulator.endpoints["ollama"].base_url.rsplit("/", 1)[1].split(":")
        stream = await trio.open_tcp_stream(host, int(port))
        await stream.aclose()
        pid = emulator.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_an_emulator_dying_mid_run_ends_the_run():
    async def run_until_the_emulator_dies() -> None:
        async with emulator_process(latency="zero", server="trio") as emulator:
            os.kill(emulator.pid, signal.SIGKILL)
            await trio.sleep_forever()

    with pytest.raises(BenchError, match=r"exited during the run \(status -9\)"):
        await run_until_the_emulator_dies()
