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
from typing import Any

from _asyncio_loop import asyncio_closed_loop
from _harness import emit_result


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

    async def one_request() -> str:
        response = await router.acompletion(model="bench", messages=messages)
        return str(response.choices[0].message.content or "")

    result = await asyncio_closed_loop(case, one_request)
    result["import_seconds"] = import_seconds
    result["litellm_version"] = getattr(litellm, "__version__", None) or _version()
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
