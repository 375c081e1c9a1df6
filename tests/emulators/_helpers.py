"""Helpers for the emulator tests: stream parsers, request shapes, a served emulator."""

from __future__ import annotations

import json
import select
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx

from hafs_actors.testing.emulators import Emulator, EmulatorConfig, open_emulator
from tests._paths import FIXTURES as FIXTURES


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) for each SSE event; bare non-``data:`` blocks come back as (None, raw)."""
    events: list[tuple[str | None, str]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name: str | None = None
        data: list[str] = []
        raw = True
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
                raw = False
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
                raw = False
        events.append((name, "\n".join(data)) if not raw else ("<raw>", block))
    return events


def sse_json(text: str) -> list[Any]:
    """The JSON payloads of the ``data:`` events (``[DONE]`` kept as the string)."""
    out: list[Any] = []
    for _name, data in sse_events(text):
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def ndjson(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def auth_headers(emu: Emulator) -> dict[str, str]:
    """The headers each provider's real client sends."""
    key = emu.api_key
    if emu.provider == "anthropic":
        return {"x-api-key": key, "anthropic-version": "2023-06-01"}
    if emu.provider == "gemini":
        return {"x-goog-api-key": key}
    return {"authorization": f"Bearer {key}"}


# One representative chat request per provider: (path, body, streaming variant of the body).
CHAT = {
    "openai": (
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]},
    ),
    "anthropic": (
        "/v1/messages",
        {
            "model": "claude-sonnet-4",
            "max_tokens": 256,
            "messages": [{"role": "user", "content": "Say hello"}],
        },
    ),
    "gemini": (
        "/v1beta/models/gemini-3-flash-preview:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]},
    ),
    "ollama": (
        "/api/chat",
        {
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "Say hello"}],
            "stream": False,
        },
    ),
    "llamacpp": (
        "/v1/chat/completions",
        {"model": "any", "messages": [{"role": "user", "content": "Say hello"}]},
    ),
}


def chat_request(provider: str, stream: bool = False) -> tuple[str, dict[str, Any]]:
    path, body = CHAT[provider]
    body = dict(body)
    if provider == "gemini":
        if stream:
            path = path.replace(":generateContent", ":streamGenerateContent?alt=sse")
    elif provider == "openai" or provider == "llamacpp":
        body["stream"] = stream
        if stream:
            body["stream_options"] = {"include_usage": True}
    else:
        body["stream"] = stream
    return path, body


def reply_text(provider: str, body: Any) -> str:
    """The text of a non-streamed reply, read the way each provider's SDK reads it."""
    if provider in ("openai", "llamacpp"):
        return str(body["choices"][0]["message"]["content"])
    if provider == "anthropic":
        return "".join(b["text"] for b in body["content"] if b["type"] == "text")
    if provider == "gemini":
        return "".join(p["text"] for p in body["candidates"][0]["content"]["parts"])
    return str(body["message"]["content"])


@asynccontextmanager
async def serving(
    provider: str, config: EmulatorConfig | None = None, timeout: float | None = 30.0
) -> AsyncIterator[tuple[Emulator, httpx.AsyncClient]]:
    """An emulator and an httpx client aimed at it."""
    async with (
        open_emulator(provider, config=config) as emu,
        httpx.AsyncClient(base_url=emu.base_url, timeout=timeout) as client,
    ):
        yield emu, client


@contextmanager
def hafs_emulate(*args: str, timeout: float = 30.0) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``python -m hafs_actors emulate ARGS``; yield it and its first stdout line.

    The process is terminated (then killed) on exit unless the test already stopped it.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "hafs_actors", "emulate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline() if ready else ""
        if not line:
            process.kill()
            _, err = process.communicate()
            raise AssertionError(f"hafs emulate did not start: {err}")
        yield process, line
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
