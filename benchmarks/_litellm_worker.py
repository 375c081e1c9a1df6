"""One LiteLLM case of ``overhead.py``, run by the python of a separate venv with litellm.

LiteLLM is not a project dependency and cannot run under trio, so this worker uses asyncio (and
uvloop when that venv has it) and only the standard library besides litellm; the closed loop and
the measurement are the same as ``overhead.py``'s: ``concurrency`` tasks each await
``Router.acompletion`` again and again; after a warm-up, completions and ``time.process_time``
are sampled over a window.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
from collections import Counter
from typing import Any

from _harness import cpu_seconds_reader, emit_result


async def run(case: dict[str, Any]) -> dict[str, Any]:
    imported = time.perf_counter()
    # Imported by name: litellm lives only in the separate venv this worker runs in.
    litellm: Any = importlib.import_module("litellm")
    import_seconds = time.perf_counter() - imported
    litellm.telemetry = False
    litellm.suppress_debug_info = True
    router = litellm.Router(
        model_list=[
            {
                "model_name": "bench",
                "litellm_params": {
                    "model": f"openai/{case['model']}",
                    "api_base": case["api_url"],
                    "api_key": case["api_key"],
                },
            }
        ]
    )
    messages = [{"role": "user", "content": case["prompt"]}]
    done = [0]
    errors: Counter[str] = Counter()
    server_cpu = cpu_seconds_reader(case.get("server_pid"))

    async def worker() -> None:
        while True:
            try:
                response = await router.acompletion(model="bench", messages=messages)
                if not response.choices[0].message.content:
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
        "import_seconds": import_seconds,
        "litellm_version": getattr(litellm, "__version__", None) or _version(),
    }
    if start[3] is not None and end[3] is not None:
        result["server_share"] = (end[3] - start[3]) / wall
    return result


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("litellm")
    except PackageNotFoundError:
        return None


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] != "--worker":
        print("usage: _litellm_worker.py --worker CASE_JSON", file=sys.stderr)
        return 2
    case = json.loads(sys.argv[2])
    try:
        runner: Any = importlib.import_module("uvloop").run
    except ImportError:
        runner = asyncio.run
    emit_result(runner(run(case)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
