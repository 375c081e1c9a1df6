"""HTTP/1.1 parser benchmark: the project transport at another commit (h11) against this tree.

Client CPU per request through ``create_http_client`` (``client.post`` with a JSON body, the
answer parsed) at 1, 128 and 1,024 in flight, the OpenAI adapter alone at 128, and client CPU
per SSE event of a streamed answer (``client.stream`` + ``aiter_lines``), against one emulated
OpenAI provider in its own process on its own core (``_harness.EmulatorProcess``, granian, zero
latency). Every case runs in a fresh process pinned to the other core; the two transports
alternate within each round and the figures are medians of rounds.

Both sides run ``hafs_actors`` as committed at ``--snapshot`` (default HEAD; the emulator too),
one with ``hafs_actors/transport`` from ``--baseline`` (a commit), the other with this working
tree's, so nothing but the transport differs. Each worker reports which parser it loaded.

    .venv/bin/python benchmarks/http_parsers.py --baseline <commit with the h11 transport>
    .venv/bin/python benchmarks/http_parsers.py --baseline <commit> --quick   # 1 short round
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
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
)

JSON_CONCURRENCY = (1, 128, 1024)
ADAPTER_CONCURRENCY = (128,)
SSE_CONCURRENCY = (1, 128)
REPLY_TOKENS = 50
PROMPT = "Summarise the benefits of structured concurrency in one sentence."
HEADERS = {
    "accept": "application/json",
    "content-type": "application/json",
    "authorization": f"Bearer {BENCH_KEY}",
}

# -- worker side ---------------------------------------------------------------------------------


async def _client_case(case: dict[str, Any]) -> dict[str, Any]:
    import httpx

    from hafs_actors.transport import create_http_client

    client = create_http_client(
        base_url=case["api_url"], headers=HEADERS, max_connections=case["concurrency"]
    )
    url = httpx.URL(case["api_url"].rstrip("/") + "/chat/completions")
    body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}
    plain = json.dumps(body).encode()
    streamed = json.dumps({**body, "stream": True}).encode()

    async def one_post() -> int:
        response = await client.post(url, content=plain)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        if not json.loads(response.content)["choices"][0]["message"]["content"]:
            raise RuntimeError("empty completion")
        return 0

    async def one_stream() -> int:
        events = 0
        async with client.stream("POST", url, content=streamed) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    events += 1
        return events

    async with client:
        return await closed_loop(case, one_stream if case["kind"] == "sse" else one_post)


async def _adapter_case(case: dict[str, Any]) -> dict[str, Any]:
    from hafs_actors.adapters import AdapterSettings, create_adapter
    from hafs_actors.types import GenerateRequest

    adapter = create_adapter(
        "openai",
        AdapterSettings(
            base_url=case["api_url"], api_key=BENCH_KEY, max_connections=case["concurrency"]
        ),
    )
    await adapter.initialize()

    async def one_request() -> int:
        result = await adapter.generate(GenerateRequest(prompt=PROMPT, model=MODEL))
        if not result.content:
            raise RuntimeError("empty completion")
        return 0

    try:
        return await closed_loop(case, one_request)
    finally:
        await adapter.aclose()


def worker_main(case_json: str) -> None:
    import trio

    case = json.loads(case_json)
    run = _adapter_case if case["kind"] == "adapter" else _client_case
    result = trio.run(run, case)
    result["parser"] = "httptools" if "httptools" in sys.modules else "h11"
    emit_result(result)


# -- orchestrating side --------------------------------------------------------------------------


def _export(commit: str, path: str, into: Path) -> None:
    archive = subprocess.run(
        ["git", "-C", str(HERE.parent), "archive", commit, path],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def package_trees(baseline: str, snapshot: str, scratch: Path) -> tuple[Path, Path]:
    """Two copies of ``hafs_actors`` at ``snapshot`` (a commit, so that uncommitted edits
    elsewhere in the tree cannot break a run): one with ``transport/`` from ``baseline``, one
    with this working tree's ``transport/``. The emulator runs from the second."""
    trees = (scratch / "baseline", scratch / "current")
    for tree in trees:
        tree.mkdir()
        _export(snapshot, "hafs_actors", tree)
        shutil.rmtree(tree / "hafs_actors" / "transport")
    _export(baseline, "hafs_actors/transport", trees[0])
    shutil.copytree(
        HERE.parent / "hafs_actors" / "transport",
        trees[1] / "hafs_actors" / "transport",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return trees


def _cpu(result: dict[str, Any], key: str) -> str:
    if "failed" in result:
        return "fails"
    value = result.get(key)
    mark = "!" if result.get("errors") else ""
    return "-" if value is None else f"{value:,.1f}{mark}"


def _share(result: dict[str, Any]) -> str:
    if "failed" in result:
        return "-"
    server = result.get("server_share")
    return f"{result['client_share'] * 100:.0f}%/" + (
        "n/a" if server is None else f"{server * 100:.0f}%"
    )


def paired_saving(old: list[dict[str, Any]], new: list[dict[str, Any]], key: str) -> float:
    """Median over rounds of old CPU / new CPU measured back to back (> 1: the new one is
    cheaper); pairing cancels slow drift of a shared machine."""
    ratios = [
        a[key] / b[key]
        for a, b in zip(old, new, strict=False)
        if "failed" not in a and "failed" not in b and a.get(key) and b.get(key)
    ]
    return median(ratios) if ratios else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="h11 vs httptools (see the module docstring)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", help="the commit whose hafs_actors/transport is compared")
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--rounds", type=int, default=None, help="default 3 (1 with --quick)")
    parser.add_argument("--server", choices=("granian", "trio"), default="granian")
    parser.add_argument(
        "--snapshot", default="HEAD", help="the commit the rest of hafs_actors is taken from"
    )
    parser.add_argument("--json-out", help="also write all results to this file")
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0
    if not args.baseline:
        parser.error("--baseline COMMIT is required")

    rounds = args.rounds or (1 if args.quick else 3)
    warmup, duration = (0.5, 1.5) if args.quick else (1.0, 3.0)
    server_cpu, client_cpu = split_cores()
    print(describe_machine(server_cpu, client_cpu))
    print(f"emulator: {args.server}, {REPLY_TOKENS}-token replies; {rounds} round(s), {duration}s")
    cases = [("json", c) for c in JSON_CONCURRENCY]
    cases += [("adapter", c) for c in ADAPTER_CONCURRENCY]
    cases += [("sse", c) for c in SSE_CONCURRENCY]
    results: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    spec = emulator_spec(reply_tokens=REPLY_TOKENS)
    with tempfile.TemporaryDirectory() as scratch:
        old_path, new_path = package_trees(args.baseline, args.snapshot, Path(scratch))
        trees = {
            "baseline": {**os.environ, "PYTHONPATH": str(old_path)},
            "this tree": {**os.environ, "PYTHONPATH": str(new_path)},
        }
        os.environ["PYTHONPATH"] = str(new_path)  # the emulator process inherits it
        with EmulatorProcess(spec, cpu=server_cpu, server=args.server) as emulator:
            for _ in range(rounds):
                for kind, concurrency in cases:
                    for tree, env in trees.items():
                        case = {
                            "kind": kind,
                            "concurrency": concurrency,
                            "api_url": emulator.api_url,
                            "server_pid": emulator.process.pid,
                            "warmup": warmup + (0.5 if concurrency >= 1024 else 0.0),
                            "duration": duration,
                            "tree": tree,
                        }
                        result = run_worker(
                            __file__, case, timeout=warmup + duration + 60, cpu=client_cpu, env=env
                        )
                        results.setdefault((tree, kind, concurrency), []).append(result)

    parsers = {
        tree: next((r["parser"] for r in rs if "parser" in r), "?")
        for (tree, _, _), rs in results.items()
    }
    old_name = f"{parsers['baseline']} ({args.baseline[:10]})"
    new_name = f"{parsers['this tree']} (this tree)"
    rows = []
    for kind, concurrency in cases:
        key = "cpu_per_event_us" if kind == "sse" else "cpu_us"
        old = median_round(results[("baseline", kind, concurrency)], key)
        new = median_round(results[("this tree", kind, concurrency)], key)
        what = {"json": "client.post", "adapter": "adapter.generate", "sse": "SSE, per event"}
        saving = paired_saving(
            results[("baseline", kind, concurrency)],
            results[("this tree", kind, concurrency)],
            key,
        )
        rows.append(
            [
                f"{what[kind]} @ {concurrency}",
                _cpu(old, key),
                _cpu(new, key),
                f"{saving:.2f}x",
                f"{old.get('rate', 0):,.0f} / {new.get('rate', 0):,.0f}",
                f"{_share(old)} {_share(new)}",
            ]
        )
    print(f"\nclient CPU µs per request (per event for SSE): {old_name} vs {new_name}")
    print_table(
        [
            "case",
            old_name,
            new_name,
            "old/new CPU",
            "req/s old / new",
            "CPU share client/server",
        ],
        rows,
    )
    for (tree, kind, concurrency), rs in sorted(results.items()):
        for r in rs:
            if r.get("failed") or r.get("errors"):
                print(f"  ! {tree} {kind} @ {concurrency}: {r.get('failed') or r.get('errors')}")
    if args.json_out:
        flat = {" ".join(map(str, key)): rs for key, rs in results.items()}
        Path(args.json_out).write_text(json.dumps(flat, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
