"""Client CPU per SSE event: a stream through the orchestrator against the bare transport.

Against one emulated OpenAI provider in its own process on its own core (granian, zero latency,
200-token streamed replies), closed loops of 1 and 128 tasks each stream a completion again and
again through

* (a) the bare transport: ``create_http_client`` + ``client.stream`` + ``aiter_lines``, counting
  the ``data:`` events (no parsing beyond the lines);
* (b) the orchestrator: ``async with orch.stream(...)`` + ``events()`` (router actor, provider
  actor, breaker, limiter, the OpenAI adapter's SSE decoder, the bounded channel to the caller).

Each case runs in a fresh process pinned to the other core; figures are medians of rounds. The
ratio b/a is the target of issue 19 (at most 1.5).

    .venv/bin/python benchmarks/streams.py            # 3 rounds, about a minute
    .venv/bin/python benchmarks/streams.py --quick    # 1 short round
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from _harness import (
    BENCH_KEY,
    MODEL,
    EmulatorProcess,
    closed_loop,
    describe_machine,
    emit_result,
    emulator_spec,
    median,
    median_round,
    run_worker,
    split_cores,
)

CONCURRENCY = (1, 128)
REPLY_TOKENS = 200
PROMPT = "Summarise the benefits of structured concurrency in one sentence."


async def _bare(case: dict[str, Any]) -> dict[str, Any]:
    import httpx

    from hafs_actors.transport import create_http_client

    headers = {"content-type": "application/json", "authorization": f"Bearer {BENCH_KEY}"}
    client = create_http_client(
        base_url=case["api_url"], headers=headers, max_connections=case["concurrency"]
    )
    url = httpx.URL(case["api_url"].rstrip("/") + "/chat/completions")
    body = json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    ).encode()

    async def one_stream() -> int:
        events = 0
        async with client.stream("POST", url, content=body) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            async for line in response.aiter_lines():
                if line.startswith("data:") and line != "data: [DONE]":
                    events += 1
        return events

    async with client:
        return await closed_loop(case, one_stream)


async def _orchestrator(case: dict[str, Any]) -> dict[str, Any]:
    from hafs_actors import UnifiedOrchestrator
    from hafs_actors.config import HafsConfig

    config = HafsConfig.for_emulators({"openai": case["api_url"]}, api_key=BENCH_KEY)
    async with UnifiedOrchestrator(config) as orch:

        async def one_stream() -> int:
            events = 0
            async with orch.stream(PROMPT, provider="openai", model=MODEL) as stream:
                async for _event in stream.events():
                    events += 1
            return events

        return await closed_loop(case, one_stream)


def worker_main(case_json: str) -> None:
    import trio

    case = json.loads(case_json)
    emit_result(trio.run(_bare if case["kind"] == "bare" else _orchestrator, case))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CPU per SSE event, orchestrator vs transport")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--rounds", type=int, default=None, help="default 3 (1 with --quick)")
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0
    rounds = args.rounds or (1 if args.quick else 3)
    warmup, duration = (0.5, 1.5) if args.quick else (1.0, 3.0)
    server_cpu, client_cpu = split_cores()
    print(describe_machine(server_cpu, client_cpu))
    print(f"{REPLY_TOKENS}-token streams; {rounds} round(s) of {duration}s per case")
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with EmulatorProcess(emulator_spec(reply_tokens=REPLY_TOKENS), cpu=server_cpu) as emulator:
        for _ in range(rounds):
            for concurrency in CONCURRENCY:
                for kind in ("bare", "orchestrator"):
                    case = {
                        "kind": kind,
                        "concurrency": concurrency,
                        "api_url": emulator.api_url,
                        "server_pid": emulator.process.pid,
                        "warmup": warmup,
                        "duration": duration,
                    }
                    result = run_worker(
                        __file__, case, timeout=warmup + duration + 60, cpu=client_cpu
                    )
                    results.setdefault((kind, concurrency), []).append(result)
    print("\nclient CPU µs per SSE event (median of rounds)")
    print(f"{'in flight':>9} | {'(a) transport':>13} | {'(b) orchestrator':>16} | {'b/a':>5}")
    for concurrency in CONCURRENCY:
        bare = results[("bare", concurrency)]
        orch = results[("orchestrator", concurrency)]
        ratios = [
            o["cpu_per_event_us"] / b["cpu_per_event_us"]
            for b, o in zip(bare, orch, strict=True)
            if b.get("cpu_per_event_us") and o.get("cpu_per_event_us")
        ]
        a_us = median_round(bare, "cpu_per_event_us")
        b_us = median_round(orch, "cpu_per_event_us")
        ratio = median(ratios) if ratios else float("nan")
        print(
            f"{concurrency:>9} | {a_us.get('cpu_per_event_us', 0):>13.1f} | "
            f"{b_us.get('cpu_per_event_us', 0):>16.1f} | {ratio:>5.2f}"
        )
        errors = [r.get("failed") or r.get("errors") for r in bare + orch]
        if any(errors):
            print(f"  problems: {errors}")
    print("target: b/a <= 1.5")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
