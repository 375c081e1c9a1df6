"""The closed loop of ``_harness.closed_loop`` under asyncio, for peers that cannot run under
trio (LiteLLM, pydantic-ai, any-llm), run from their own venvs: only the standard library and
``_harness``'s CPU reader."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from _harness import cpu_seconds_reader


async def asyncio_closed_loop(
    case: dict[str, Any], one_request: Callable[[], Awaitable[object]]
) -> dict[str, Any]:
    """``case["concurrency"]`` tasks awaiting ``one_request`` again and again; one measured
    window after the warm-up. A falsy answer counts as an error (an empty completion)."""
    done = [0]
    errors: Counter[str] = Counter()
    server_cpu = cpu_seconds_reader(case.get("server_pid"))

    async def worker() -> None:
        while True:
            try:
                if not await one_request():
                    raise RuntimeError("empty completion")
            except Exception as exc:
                errors[type(exc).__name__] += 1
                await asyncio.sleep(0.01)
            else:
                done[0] += 1

    def sample() -> tuple[int, float, float, float | None]:
        return done[0], time.perf_counter(), time.process_time(), server_cpu()

    tasks = [asyncio.create_task(worker()) for _ in range(case["concurrency"])]
    try:
        await asyncio.sleep(case["warmup"])
        start = sample()
        await asyncio.sleep(case["duration"])
        end = sample()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    requests = end[0] - start[0]
    wall, cpu = end[1] - start[1], end[2] - start[2]
    result: dict[str, Any] = {
        **case,
        "requests": requests,
        "rate": requests / wall,
        "cpu_us": cpu / requests * 1e6 if requests else None,
        "client_share": cpu / wall,
        "errors": dict(errors),
    }
    if start[3] is not None and end[3] is not None:
        result["server_share"] = (end[3] - start[3]) / wall
    return result
