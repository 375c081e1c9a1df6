"""The orchestrator beside other Python LLM clients, at 128 in flight, in one run.

Against one emulated OpenAI provider in its own process on its own core (zero latency,
16-token replies), closed loops of 128 tasks through: the orchestrator (``orch.generate``,
overhead.py's case), LiteLLM's ``Router.acompletion``, pydantic-ai (an ``Agent`` over a
``FallbackModel`` of its OpenAI model) and any-llm (``acompletion``). Each case runs in a fresh
process pinned to the other core; peers run from separate venvs (they are not project
dependencies); figures are medians of rounds.

    python3 -m venv /tmp/venv-litellm && /tmp/venv-litellm/bin/pip install litellm
    python3 -m venv /tmp/venv-peers && /tmp/venv-peers/bin/pip install \\
        'pydantic-ai-slim[openai]' 'any-llm-sdk[openai]'
    .venv/bin/python benchmarks/peers.py
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _harness import (
    BENCH_KEY,
    HERE,
    MODEL,
    EmulatorProcess,
    describe_machine,
    emulator_spec,
    run_worker,
    split_cores,
)

CONCURRENCY = 128
PROMPT = "Summarise the benefits of structured concurrency in one sentence."


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the orchestrator beside other clients")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--litellm-python", default="/tmp/venv-litellm/bin/python")
    parser.add_argument("--peers-python", default="/tmp/venv-peers/bin/python")
    args = parser.parse_args(argv)
    server_cpu, client_cpu = split_cores()
    print(describe_machine(server_cpu, client_cpu))
    kinds: dict[str, tuple[Path, str | None]] = {
        "orchestrator": (HERE / "overhead.py", None),
        "LiteLLM": (HERE / "_litellm_worker.py", args.litellm_python),
        "pydantic-ai": (HERE / "_peers_worker.py", args.peers_python),
        "any-llm": (HERE / "_peers_worker.py", args.peers_python),
    }
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in kinds}
    with EmulatorProcess(emulator_spec(reply_tokens=16), cpu=server_cpu) as emulator:
        for _ in range(args.rounds):
            for name, (script, python) in kinds.items():
                if python is not None and not Path(python).exists():
                    continue
                case = {
                    "kind": {"orchestrator": "orch", "LiteLLM": "litellm"}.get(name, name),
                    "concurrency": CONCURRENCY,
                    "api_url": emulator.api_url,
                    "server_pid": emulator.process.pid,
                    "warmup": 1.0,
                    "duration": 3.0,
                    "model": MODEL,
                    "prompt": PROMPT,
                    "api_key": BENCH_KEY,
                }
                extra = {} if python is None else {"python": python}
                results[name].append(run_worker(script, case, timeout=180, cpu=client_cpu, **extra))
    print(f"\n{CONCURRENCY} in flight, median of rounds")
    print(f"{'client':<14} {'req/s':>8} {'CPU µs/req':>11} {'orchestrator is':>16}")
    base = _median(results["orchestrator"], "rate")
    for name, runs in results.items():
        if not runs:
            print(f"{name:<14} {'not installed':>8}")
            continue
        failed = [r["failed"] for r in runs if "failed" in r]
        if failed:
            print(f"{name:<14} failed: {failed[0]}")
            continue
        rate, cpu = _median(runs, "rate"), _median(runs, "cpu_us")
        times = f"{base / rate:.1f}x" if name != "orchestrator" else "-"
        print(f"{name:<14} {rate:>8,.0f} {cpu:>11,.0f} {times:>16}")
    return 0


def _median(runs: list[dict[str, Any]], key: str) -> float:
    values = [float(r[key]) for r in runs if "failed" not in r and r.get(key) is not None]
    return statistics.median(values) if values else float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
