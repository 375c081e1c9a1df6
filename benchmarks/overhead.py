"""Orchestrator overhead: the same workload straight through httpx and through the orchestrator.

Against one emulated OpenAI provider (a separate process on its own core, zero latency, 16-token
replies), closed loops of 1, 128 and 1,024 tasks each send a request and wait for its answer,
again and again, through

* (a) ``httpx`` on the project transport, one shared client (``create_http_client``): post the
  JSON body to ``/v1/chat/completions`` and parse the JSON answer;
* (b) the orchestrator: ``orch.generate(prompt, provider="openai", model=...)`` (router actor,
  provider actor, breaker, limiter, adapter, the same transport);
* (c) LiteLLM's ``Router.acompletion`` at 1 and 128 in flight, if a LiteLLM venv exists (it is
  not a project dependency; see ``--litellm-python``).

It prints requests/s, client CPU per request (``time.process_time`` of the whole client process)
and the ratios b/a (target >= 0.85 at every concurrency) and b/LiteLLM (target >= 20 at 128).
Every case runs in a fresh process pinned to the client core; figures are medians of rounds.

    .venv/bin/python benchmarks/overhead.py            # full: 3 rounds, about 3 minutes
    .venv/bin/python benchmarks/overhead.py --quick    # 1 short round, about 1 minute

LiteLLM: ``python3 -m venv /tmp/venv-litellm && /tmp/venv-litellm/bin/pip install litellm``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _harness import (
    BENCH_KEY,
    HERE,
    MODEL,
    EmulatorProcess,
    closed_loop,
    describe_machine,
    emit_result,
    emulator_spec,
    median,
    median_round,
    print_table,
    run_worker,
    split_cores,
    verdict,
)

CONCURRENCY = (1, 128, 1024)
LITELLM_CONCURRENCY = (1, 128)
PROMPT = "Summarise the benefits of structured concurrency in one sentence."
REPLY_TOKENS = 16
DEFAULT_LITELLM_PYTHON = "/tmp/venv-litellm/bin/python"
TARGET_RATIO = 0.85
TARGET_LITELLM = 20.0
KIND_NAMES = {
    "direct": "(a) httpx+transport",
    "orch": "(b) orchestrator",
    "adapter": "adapter alone",
    "litellm": "LiteLLM",
}
#: Where the adapter alone (b without router, actors, breaker and limiter) is measured: the
#: ceiling of (b) against LiteLLM.
ADAPTER_CONCURRENCY = (128,)

# -- worker side ---------------------------------------------------------------------------------


async def _direct(case: dict[str, Any]) -> dict[str, Any]:
    from hafs_actors.transport import create_http_client

    headers = {
        "accept": "application/json",
        "content-type": "application/json",
        "authorization": f"Bearer {BENCH_KEY}",
    }
    client = create_http_client(
        base_url=case["api_url"], headers=headers, max_connections=case["concurrency"]
    )

    async def one_request() -> None:
        body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}
        response = await client.post("chat/completions", content=json.dumps(body).encode())
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        if not json.loads(response.content)["choices"][0]["message"]["content"]:
            raise RuntimeError("empty completion")

    async with client:
        return await closed_loop(case, one_request)


async def _adapter(case: dict[str, Any]) -> dict[str, Any]:
    from hafs_actors.adapters import AdapterSettings, create_adapter
    from hafs_actors.types import GenerateRequest

    adapter = create_adapter(
        "openai",
        AdapterSettings(
            base_url=case["api_url"], api_key=BENCH_KEY, max_connections=case["concurrency"]
        ),
    )
    await adapter.initialize()

    async def one_request() -> None:
        result = await adapter.generate(GenerateRequest(prompt=PROMPT, model=MODEL))
        if not result.content:
            raise RuntimeError("empty completion")

    try:
        return await closed_loop(case, one_request)
    finally:
        await adapter.aclose()


def orchestrator_config(api_url: str, concurrency: int, **kwargs: Any) -> Any:
    """An emulator config whose ``openai`` provider admits ``concurrency`` requests at once.

    The provider defaults (256 connections, 256 attempts in flight, a 1,024-message mailbox)
    protect a real provider; here they are raised to the load so both clients get the same
    connection pool.
    """
    import attrs

    from hafs_actors.config import HafsConfig

    config = HafsConfig.for_emulators({"openai": api_url}, api_key=BENCH_KEY, **kwargs)
    openai = attrs.evolve(
        config.providers["openai"],
        max_connections=concurrency,
        max_in_flight=max(concurrency, 256),
        mailbox_size=max(2 * concurrency, 1024),
    )
    return attrs.evolve(config, providers={**config.providers, "openai": openai})


async def _orchestrator(case: dict[str, Any]) -> dict[str, Any]:
    from hafs_actors import UnifiedOrchestrator

    config = orchestrator_config(case["api_url"], case["concurrency"])
    async with UnifiedOrchestrator(config) as orch:

        async def one_request() -> None:
            result = await orch.generate(PROMPT, provider="openai", model=MODEL)
            if not result.content:
                raise RuntimeError("empty completion")

        return await closed_loop(case, one_request)


def worker_main(case_json: str) -> None:
    import trio

    case = json.loads(case_json)
    run = {"direct": _direct, "orch": _orchestrator, "adapter": _adapter}[case["kind"]]
    emit_result(trio.run(run, case))


# -- orchestrating side --------------------------------------------------------------------------


def _cell(result: dict[str, Any] | None) -> tuple[str, str]:
    if result is None:
        return "-", "-"
    if "failed" in result:
        return "fails", "-"
    mark = "!" if result.get("errors") else ""
    cpu = result["cpu_us"]
    return f"{result['rate']:,.0f}{mark}", "-" if cpu is None else f"{cpu:,.0f}"


def _rate(result: dict[str, Any] | None) -> float:
    return 0.0 if result is None or "failed" in result else float(result["rate"])


def _share(result: dict[str, Any] | None) -> str:
    if result is None or "failed" in result:
        return "-"
    server = result.get("server_share")
    text = "n/a" if server is None else f"{server * 100:.0f}%"
    return f"{result['client_share'] * 100:.0f}%/{text}"


def paired_ratio(
    rounds: dict[tuple[str, int], list[dict[str, Any]]], num: str, den: str, c: int, key: str
) -> float:
    """Median over rounds of ``num``/``den`` measured back to back in the same round.

    ``key`` "rate" gives the req/s ratio; "cpu" the CPU ratio ``den`` CPU / ``num`` CPU (so
    higher is better for ``num`` either way). Pairing cancels slow drift of a shared machine.
    """
    ratios = []
    for x, y in zip(rounds.get((num, c), []), rounds.get((den, c), []), strict=False):
        if "failed" in x or "failed" in y:
            continue
        if key == "rate" and y["rate"]:
            ratios.append(x["rate"] / y["rate"])
        elif key == "cpu" and x["cpu_us"] and y["cpu_us"]:
            ratios.append(y["cpu_us"] / x["cpu_us"])
    return median(ratios) if ratios else float("nan")


def report(
    table: dict[tuple[str, int], dict[str, Any]],
    rounds: dict[tuple[str, int], list[dict[str, Any]]],
    litellm_note: str | None,
) -> None:
    concurrencies = sorted({c for _, c in table})
    headers = ["in flight", "(a) req/s", "(a) µs/req", "(b) req/s", "(b) µs/req", "b/a"]
    headers += ["b/a CPU", "(b)-(a) µs", "LiteLLM req/s", "LiteLLM µs/req", "b/LiteLLM"]
    rows = []
    for c in concurrencies:
        a, b, lite = table.get(("direct", c)), table.get(("orch", c)), table.get(("litellm", c))
        ratio = paired_ratio(rounds, "orch", "direct", c, "rate")
        cpu_ratio = f"{paired_ratio(rounds, 'orch', 'direct', c, 'cpu'):.2f}"
        extra = "-"
        if a and b and a.get("cpu_us") and b.get("cpu_us"):
            extra = f"{b['cpu_us'] - a['cpu_us']:+,.0f}"
        vs_lite = "-"
        if lite is not None:
            vs_lite = f"{paired_ratio(rounds, 'orch', 'litellm', c, 'rate'):,.1f}x"
        row = [str(c), *_cell(a), *_cell(b), f"{ratio:.2f}", cpu_ratio, extra, *_cell(lite)]
        rows.append([*row, vs_lite])
    print("\nRequests/s and client CPU per request (median of rounds; ! = some errors)")
    print_table(headers, rows)
    print(
        "  req/s and µs/req: the median round of each; b/a, b/a CPU and b/LiteLLM: medians of the "
        "ratios\n  measured back to back in each round. b/a CPU = (a) CPU per request / (b) CPU "
        "per request,\n  the b/a of a CPU-bound client and the least noisy figure on a shared "
        "machine.\n  (b)-(a): the orchestrator's CPU per request on top of the bare transport."
    )
    for c in concurrencies:
        alone = table.get(("adapter", c))
        if alone is not None:
            rate, cpu = _cell(alone)
            print(
                f"  adapter alone at {c} in flight (OpenAIAdapter.generate, no orchestrator): "
                f"{rate} req/s, {cpu} µs/req"
            )
    print("\nCPU share of a core, client/emulator (the emulator must stay well below 100%)")
    print_table(
        ["in flight", *(KIND_NAMES[k] for k in ("direct", "orch", "litellm"))],
        [
            [str(c), *(_share(table.get((k, c))) for k in ("direct", "orch", "litellm"))]
            for c in concurrencies
        ],
    )
    for (kind, c), r in sorted(table.items()):
        spread = r.get("spread")
        if r.get("failed") or r.get("errors"):
            print(f"  ! {KIND_NAMES[kind]} at {c}: {r.get('failed') or r.get('errors')}")
        elif spread and spread[0] and spread[1] > 1.25 * spread[0]:
            print(
                f"  note: {KIND_NAMES[kind]} at {c}: rounds range {spread[0]:,.0f}-"
                f"{spread[1]:,.0f} req/s (noisy machine?)"
            )
    print("\nTargets (measured, not asserted):")
    for c in concurrencies:
        ratio = paired_ratio(rounds, "orch", "direct", c, "rate")
        bound = paired_ratio(rounds, "orch", "direct", c, "cpu")
        if ratio == ratio:
            print(
                f"  b/a at {c:>5} in flight: {ratio:5.2f}  (target >= {TARGET_RATIO})  "
                f"{verdict(ratio, TARGET_RATIO)}; CPU-bound b/a {bound:.2f} "
                f"{verdict(bound, TARGET_RATIO)}"
            )
    lite = table.get(("litellm", 128))
    if litellm_note:
        print(f"  b/LiteLLM at 128: not measured: {litellm_note}")
    elif _rate(lite):
        ratio = paired_ratio(rounds, "orch", "litellm", 128, "rate")
        bound = paired_ratio(rounds, "orch", "litellm", 128, "cpu")
        ceiling = paired_ratio(rounds, "direct", "litellm", 128, "rate")
        alone = paired_ratio(rounds, "adapter", "litellm", 128, "rate")
        print(
            f"  b/LiteLLM at 128 in flight: {ratio:5.1f}  (target >= {TARGET_LITELLM:g})  "
            f"{verdict(ratio, TARGET_LITELLM)}; in CPU per request {bound:.1f}; "
            f"the bare transport (a) itself reaches {ceiling:.1f}"
        )
        if alone == alone:
            print(
                f"    the adapter alone (no router, actors, breaker or limiter) reaches "
                f"{alone:.1f}: the ceiling of (b)"
            )
    elif lite is not None:
        print(f"  b/LiteLLM at 128: LiteLLM failed: {lite.get('failed') or lite.get('errors')}")
    lite_rounds = [r for (kind, _c), rs in rounds.items() if kind == "litellm" for r in rs]
    versions = {str(r["litellm_version"]) for r in lite_rounds if r.get("litellm_version")}
    imports = [float(r["import_seconds"]) for r in lite_rounds if "import_seconds" in r]
    if versions or imports:
        print(
            f"  LiteLLM {', '.join(sorted(versions)) or '?'}: import takes "
            f"{median(imports):.1f} s (median), outside the measured window"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="orchestrator overhead (see module docstring)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="1 short round, about 1 minute")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3; quick 1)")
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)))
    parser.add_argument("--server", choices=("granian", "trio"), default="granian")
    parser.add_argument(
        "--litellm-python",
        default=DEFAULT_LITELLM_PYTHON,
        help="python of a venv with litellm installed ('' skips LiteLLM)",
    )
    parser.add_argument("--json-out", help="also write every round's results to this file")
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0

    rounds = args.rounds or (1 if args.quick else 3)
    warmup, duration = (0.5, 1.5) if args.quick else (1.0, 3.0)
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]
    server_cpu, client_cpu = split_cores()
    print(describe_machine(server_cpu, client_cpu))
    print(
        f"emulator: openai, {args.server}, zero latency, {REPLY_TOKENS}-token replies; "
        f"warm-up {warmup}s, window {duration}s, {rounds} round(s)"
    )
    litellm_note: str | None = None
    litellm_python = args.litellm_python
    if not litellm_python:
        litellm_note = "skipped (--litellm-python '')"
    elif not Path(litellm_python).exists():
        litellm_note = (
            f"{litellm_python} not found; install it with `python3 -m venv /tmp/venv-litellm "
            "&& /tmp/venv-litellm/bin/pip install litellm`"
        )
    if litellm_note:
        print(f"LiteLLM: {litellm_note}")

    spec = emulator_spec(reply_tokens=REPLY_TOKENS)
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with EmulatorProcess(spec, cpu=server_cpu, server=args.server) as emulator:
        for round_no in range(rounds):
            for concurrency in concurrencies:
                kinds = ["direct", "orch"]
                if concurrency in ADAPTER_CONCURRENCY:
                    kinds.append("adapter")
                if not litellm_note and concurrency in LITELLM_CONCURRENCY:
                    kinds.append("litellm")
                for kind in kinds:
                    case = {
                        "kind": kind,
                        "concurrency": concurrency,
                        "api_url": emulator.api_url,
                        "server_pid": emulator.process.pid,
                        "warmup": warmup + (0.5 if concurrency >= 1024 else 0.0),
                        "duration": duration,
                        "model": MODEL,
                        "prompt": PROMPT,
                        "api_key": BENCH_KEY,
                    }
                    if kind == "litellm":
                        result = run_worker(
                            HERE / "_litellm_worker.py",
                            case,
                            timeout=120,
                            cpu=client_cpu,
                            python=litellm_python,
                            env=_litellm_env(),
                        )
                    else:
                        result = run_worker(Path(__file__), case, timeout=90, cpu=client_cpu)
                    results.setdefault((kind, concurrency), []).append(result)
                    rate = "fails" if "failed" in result else f"{result['rate']:,.0f} req/s"
                    print(
                        f"  round {round_no + 1}: {KIND_NAMES[kind]:<20} at {concurrency:>5}: "
                        f"{rate}",
                        flush=True,
                    )
    table = {key: median_round(rs, "rate") for key, rs in results.items()}
    report(table, results, litellm_note)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps([r for rs in results.values() for r in rs]))
    return 0


def _litellm_env() -> dict[str, str]:
    # The cost map ships with the package; without this LiteLLM fetches it at import.
    return {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}


if __name__ == "__main__":
    sys.exit(main())
