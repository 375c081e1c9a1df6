"""One peer case of ``peers.py``, run by the python of a separate venv with the peers.

pydantic-ai (an ``Agent`` over a ``FallbackModel`` of its OpenAI model) and any-llm
(``acompletion``) are not project dependencies and run under asyncio; the closed loop and the
measurement are ``overhead.py``'s: ``concurrency`` tasks each await one completion again and
again; after a warm-up, completions and ``time.process_time`` are sampled over a window.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from _asyncio_loop import asyncio_closed_loop
from _harness import emit_result


def _pydantic_ai(case: dict[str, Any]) -> Callable[[], Awaitable[str]]:
    agent_mod: Any = importlib.import_module("pydantic_ai")
    models: Any = importlib.import_module("pydantic_ai.models.openai")
    fallback: Any = importlib.import_module("pydantic_ai.models.fallback")
    providers: Any = importlib.import_module("pydantic_ai.providers.openai")
    provider = providers.OpenAIProvider(base_url=case["api_url"], api_key=case["api_key"])
    model = models.OpenAIChatModel(case["model"], provider=provider)
    agent = agent_mod.Agent(fallback.FallbackModel(model))

    async def one() -> str:
        result = await agent.run(case["prompt"])
        return str(result.output)

    return one


def _any_llm(case: dict[str, Any]) -> Callable[[], Awaitable[str]]:
    any_llm: Any = importlib.import_module("any_llm")
    messages = [{"role": "user", "content": case["prompt"]}]

    async def one() -> str:
        response = await any_llm.acompletion(
            model=f"openai:{case['model']}",
            messages=messages,
            api_base=case["api_url"],
            api_key=case["api_key"],
        )
        return str(response.choices[0].message.content)

    return one


async def run(case: dict[str, Any]) -> dict[str, Any]:
    one = {"pydantic-ai": _pydantic_ai, "any-llm": _any_llm}[case["kind"]](case)
    return await asyncio_closed_loop(case, one)


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] != "--worker":
        print("usage: _peers_worker.py --worker CASE_JSON", file=sys.stderr)
        return 2
    emit_result(asyncio.run(run(json.loads(sys.argv[2]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
