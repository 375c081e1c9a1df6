"""HTTP client benchmark: stock httpx vs httpx + HafsTransport vs bare h11 on trio (the floor).

One run prints, side by side, requests/s and client CPU per request at 1, 16, 128 and 1,024 in
flight for JSON and for SSE (events/s), then a latency-bound case: 1,000 in flight against a
server that waits 1 s before each reply, with client CPU per request and the achieved rate
against the ideal (in flight / latency).

The server runs in a separate process pinned to one core and every client case in a fresh
process pinned to the other (``os.sched_setaffinity``); the server's CPU share during each
measurement window is printed so a server-bound figure cannot pass unnoticed. Each case is a
closed loop: N tasks each send a request and read the whole response, again and again; after a
warm-up, completions and ``time.process_time()`` are sampled over a fixed window.

    .venv/bin/python benchmarks/http_clients.py            # full run, about 3.5 minutes
    .venv/bin/python benchmarks/http_clients.py --quick    # shorter windows, about 2.5 minutes

Server: ``benchmarks/loopback_server.py`` (raw trio, hand-parsed) by default; ``--server
emulator`` (or ``emulator-granian``) runs ``python -m hafs_actors emulate --provider openai
--latency zero`` instead.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _harness import cpu_seconds_reader  # the benchmarks' shared helpers (same folder)

CLIENTS = ("httpx", "hafs", "h11")
CLIENT_NAMES = {"httpx": "stock httpx", "hafs": "httpx+HafsTransport", "h11": "bare h11 (floor)"}
CONCURRENCY = (1, 16, 128, 1024)
PATH = "/v1/chat/completions"
BENCH_KEY = "bench-key-not-a-secret"
HEADERS = {"content-type": "application/json", "authorization": f"Bearer {BENCH_KEY}"}
JSON_REQUEST = b'{"model":"mock-model","messages":[{"role":"user","content":"hi"}]}'
SSE_REQUEST = b'{"model":"mock-model","messages":[{"role":"user","content":"hi"}],"stream":true}'
SSE_EVENTS_PER_RESPONSE = 51
HERE = Path(__file__).resolve().parent

# -- worker side (one client case per process) ---------------------------------------------------


async def _run_case(case: dict[str, Any]) -> dict[str, Any]:
    import h11
    import httpx
    import trio

    from hafs_actors.transport import create_http_client

    client_kind: str = case["client"]
    sse: bool = case["mode"] == "sse"
    concurrency: int = case["concurrency"]
    port: int = case["port"]
    base = f"http://127.0.0.1:{port}"
    body = SSE_REQUEST if sse else JSON_REQUEST
    done = [0, 0]  # responses, SSE events
    errors: Counter[str] = Counter()

    # A prebuilt absolute URL skips httpx's per-request base_url merge (two URL parses, about
    # 25 µs here); --relative-urls measures the base_url + path form instead. Same for both
    # httpx clients.
    target: str | httpx.URL = PATH if case["relative_urls"] else httpx.URL(base + PATH)

    async def httpx_worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                if sse:
                    events = 0
                    async with client.stream("POST", target, content=body, headers=HEADERS) as r:
                        async for line in r.aiter_lines():
                            if line.startswith("data:"):
                                events += 1
                    done[1] += events
                else:
                    r = await client.post(target, content=body, headers=HEADERS)
                    if r.status_code != 200 or not r.content:
                        raise RuntimeError(f"status {r.status_code}")
                done[0] += 1
            except Exception as exc:
                errors[type(exc).__name__] += 1
                await trio.sleep(0.01)

    h11_headers = [
        ("host", f"127.0.0.1:{port}"),
        ("content-length", str(len(body))),
        *HEADERS.items(),
    ]

    async def h11_worker() -> None:
        while True:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError as exc:
                errors[type(exc).__name__] += 1
                await trio.sleep(0.01)
                continue
            conn = h11.Connection(h11.CLIENT)
            try:
                while True:
                    await stream.send_all(
                        conn.send(h11.Request(method="POST", target=PATH, headers=h11_headers))
                        + conn.send(h11.Data(data=body))
                        + conn.send(h11.EndOfMessage())
                    )
                    events = 0
                    tail = b""
                    while True:
                        event = conn.next_event()
                        if event is h11.NEED_DATA:
                            conn.receive_data(await stream.receive_some(65536))
                        elif type(event) is h11.Data:
                            if sse:
                                chunk = tail + bytes(event.data)
                                events += chunk.count(b"\n\n")
                                tail = chunk[-1:]
                        elif type(event) is h11.EndOfMessage:
                            break
                    conn.start_next_cycle()
                    done[0] += 1
                    done[1] += events
            except Exception as exc:
                errors[type(exc).__name__] += 1
            finally:
                await stream.aclose()

    server_cpu = cpu_seconds_reader(case.get("server_pid"))

    def sample() -> tuple[int, int, float, float, float | None]:
        return done[0], done[1], time.perf_counter(), time.process_time(), server_cpu()

    timeout = httpx.Timeout(60.0)
    if client_kind == "hafs":
        client: httpx.AsyncClient | None = create_http_client(
            base_url=base, max_connections=concurrency, timeout=timeout, trust_env=False
        )
    elif client_kind == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout, trust_env=False)
    else:
        client = None

    async def staggered(index: int) -> None:
        # Against a slow server, workers started together would complete in waves, and a
        # window would catch a whole number of waves; spreading the starts over one latency
        # period makes completions uniform in time.
        await trio.sleep(case.get("stagger", 0.0) * index / concurrency)
        if client is None:
            await h11_worker()
        else:
            await httpx_worker(client)

    async with trio.open_nursery() as nursery:
        for index in range(concurrency):
            nursery.start_soon(staggered, index)
        await trio.sleep(case["warmup"])
        start = sample()
        await trio.sleep(case["duration"])
        end = sample()
        nursery.cancel_scope.cancel()
    if client is not None:
        await client.aclose()

    responses, events = end[0] - start[0], end[1] - start[1]
    wall, cpu = end[2] - start[2], end[3] - start[3]
    result: dict[str, Any] = {
        **case,
        "responses": responses,
        "events": events,
        "wall": wall,
        "rate": responses / wall,
        "event_rate": events / wall,
        "cpu_per_response_us": cpu / responses * 1e6 if responses else None,
        "cpu_per_event_us": cpu / events * 1e6 if events else None,
        "client_cpu_share": cpu / wall,
        "errors": dict(errors),
    }
    if start[4] is not None and end[4] is not None:
        result["server_cpu_share"] = (end[4] - start[4]) / wall
    return result


def worker_main(case_json: str) -> None:
    import trio

    case = json.loads(case_json)
    if case.get("cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {case["cpu"]})
    result = trio.run(_run_case, case)
    print("RESULT " + json.dumps(result), flush=True)


# -- orchestrating side --------------------------------------------------------------------------


class Server:
    """A server process pinned to one core, and the port it listens on.

    ``raw`` is ``loopback_server.py`` (prints ``PORT <n>``); ``emulator`` and
    ``emulator-granian`` are ``hafs emulate --provider openai --json`` (its JSON line gives the
    port), accepting the benchmark's key and model and replying with 50 tokens.
    """

    def __init__(self, kind: str, latency: float, cpu: int | None) -> None:
        self.kind = kind
        if kind.startswith("emulator"):
            command = [sys.executable, "-m", "hafs_actors", "emulate", "--provider", "openai"]
            command += ["--port", "0", "--latency", "zero", "--json", "--accept-any-model"]
            command += ["--api-key", BENCH_KEY, "--reply-tokens", "50"]
            if kind == "emulator-granian":
                command += ["--server", "granian"]
        else:
            command = [sys.executable, str(HERE / "loopback_server.py"), "--port", "0"]
            command += ["--latency", str(latency)]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        try:
            if kind.startswith("emulator"):
                self.port = int(json.loads(line)["openai"]["port"])
            else:
                self.port = int(line.split()[1]) if line.startswith("PORT ") else int("x")
        except (ValueError, KeyError, IndexError):
            self.close()
            raise SystemExit(f"server {kind} did not start (first line {line!r})") from None

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_case_process(case: dict[str, Any], timeout: float) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(case)]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {**case, "failed": "timed out"}
    for line in completed.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
    return {**case, "failed": tail[:80]}


def _median(results: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The round with the median ``key`` (failed rounds count as zero)."""
    ranked = sorted(results, key=lambda r: 0.0 if "failed" in r else float(r[key]))
    chosen = dict(ranked[len(ranked) // 2])
    values = [0.0 if "failed" in r else float(r[key]) for r in results]
    chosen["spread"] = (min(values), max(values))
    return chosen


def _rate(table: dict[tuple[str, int], dict[str, Any]], client: str, c: int, key: str) -> float:
    r = table.get((client, c))
    if r is None or "failed" in r:
        return 0.0
    return float(r[key])


def _ratio(table: dict[tuple[str, int], dict[str, Any]], c: int, a: str, b: str, key: str) -> str:
    num, den = _rate(table, a, c, key), _rate(table, b, c, key)
    if not den:
        return "inf" if num else "-"
    return f"{num / den:.2f}x"


def _cell(result: dict[str, Any] | None, rate_key: str, cpu_key: str) -> str:
    if result is None:
        return "-"
    if "failed" in result:
        return "fails"
    cpu = result.get(cpu_key)
    mark = "!" if result.get("errors") else ""
    return f"{result[rate_key]:,.0f}{mark} / {'-' if cpu is None else f'{cpu:,.0f}'} µs"


def _shares(result: dict[str, Any] | None) -> str:
    if result is None or "failed" in result:
        return "-"
    server = result.get("server_cpu_share")
    server_text = "n/a" if server is None else f"{server * 100:.0f}%"
    return f"{result['client_cpu_share'] * 100:.0f}% / {server_text}"


def print_table(
    title: str,
    table: dict[tuple[str, int], dict[str, Any]],
    clients: Sequence[str],
    rate_key: str,
    cpu_key: str,
) -> None:
    unit, per = ("events/s", "event") if rate_key == "event_rate" else ("req/s", "req")
    print(f"\n{title}: {unit} / client CPU µs per {per}  (median of rounds)")
    width = 24
    header = f"{'in flight':>9} |" + "".join(f" {CLIENT_NAMES[c]:>{width}} |" for c in clients)
    if "hafs" in clients:
        header += " hafs/httpx | hafs/floor"
    print(header)
    print("-" * len(header))
    concurrencies = sorted({c for _, c in table})
    for concurrency in concurrencies:
        row = f"{concurrency:>9} |"
        for client in clients:
            row += f" {_cell(table.get((client, concurrency)), rate_key, cpu_key):>{width}} |"
        if "hafs" in clients:
            row += f" {_ratio(table, concurrency, 'hafs', 'httpx', rate_key):>10} |"
            row += f" {_ratio(table, concurrency, 'hafs', 'h11', rate_key):>10}"
        print(row)
    print(f"{'':>9}   CPU share of a core, client / server (server must stay well below 100%):")
    for concurrency in concurrencies:
        row = f"{concurrency:>9} |"
        for client in clients:
            row += f" {_shares(table.get((client, concurrency))):>{width}} |"
        print(row)
    for (client, concurrency), r in sorted(table.items()):
        if r.get("errors") or r.get("failed"):
            what = r.get("failed") or r.get("errors")
            print(f"  ! {CLIENT_NAMES[client]} at {concurrency} in flight: {what}")
    if any(r.get("spread", (0, 0))[1] > 1.25 * r.get("spread", (1, 1))[0] for r in table.values()):
        print("  note: rounds differ by more than 25% somewhere (noisy machine?)")


def print_targets(table: dict[tuple[str, int], dict[str, Any]]) -> None:
    def rate(client: str, c: int) -> float:
        return _rate(table, client, c, "rate")

    print("\nTargets (JSON, measured, not asserted):")
    checks: list[tuple[str, float, float]] = []
    if rate("hafs", 16):
        for c in (128, 1024):
            if ("hafs", c) in table:
                label = f"hafs at {c} / hafs at 16"
                checks.append((label, rate("hafs", c) / rate("hafs", 16), 0.75))
    for c, need in ((16, 3.0), (128, 10.0)):
        if ("httpx", c) in table and ("hafs", c) in table:
            ratio = rate("hafs", c) / rate("httpx", c) if rate("httpx", c) else math.inf
            checks.append((f"hafs / stock httpx at {c}", ratio, need))
    if rate("h11", 128) and ("hafs", 128) in table:
        checks.append(("hafs / bare h11 at 128", rate("hafs", 128) / rate("h11", 128), 0.30))
    for label, value, need in checks:
        verdict = "met" if value >= need else "NOT met"
        print(f"  {label:<28} {value:7.2f}  (target >= {need:g})  {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="HTTP client benchmark (see module docstring)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="shorter windows, about 2.5 minutes")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every case; report medians")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=None, help="measurement window, s")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="httpx,hafs,h11")
    parser.add_argument("--modes", default="json,sse", help="json,sse")
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)))
    parser.add_argument("--no-latency", action="store_true", help="skip the 1 s latency case")
    parser.add_argument("--latency-inflight", type=int, default=1000)
    parser.add_argument(
        "--server",
        choices=("raw", "emulator", "emulator-granian"),
        default="raw",
        help="raw: benchmarks/loopback_server.py; emulator[-granian]: hafs emulate (zero "
        "latency; the 1 s latency case always uses the raw server, which has a latency knob)",
    )
    parser.add_argument("--json-out", help="also write all results to this file")
    parser.add_argument(
        "--relative-urls",
        action="store_true",
        help="call client.post('/v1/...') on a base_url client instead of a prebuilt httpx.URL",
    )
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0

    warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 1.0)
    duration = args.duration if args.duration is not None else (1.5 if args.quick else 3.0)
    clients = [c for c in args.clients.split(",") if c]
    modes = [m for m in args.modes.split(",") if m]
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpu, client_cpu = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"python {sys.version.split()[0]}, cores {cores or 'unknown'}: server ({args.server}) on "
        f"{'any' if server_cpu is None else server_cpu}, clients on "
        f"{'any' if client_cpu is None else client_cpu}; warm-up {warmup}s, window {duration}s, "
        f"{args.rounds} round(s); load average before the run {load:.2f}"
    )
    if server_cpu is None:
        print("warning: fewer than 2 cores; server and client share a core")
    print(
        "URLs: "
        + (
            "client.post('/v1/...') on a base_url client"
            if args.relative_urls
            else "a prebuilt absolute httpx.URL (see --relative-urls)"
        )
    )

    all_results: list[dict[str, Any]] = []
    server = Server(args.server, 0.0, server_cpu)
    try:
        for mode in modes:
            rounds: dict[tuple[str, int], list[dict[str, Any]]] = {}
            for _ in range(args.rounds):
                for concurrency in concurrencies:
                    for client in clients:
                        case = {
                            "client": client,
                            "mode": mode,
                            "concurrency": concurrency,
                            "port": server.port,
                            "server_pid": server.process.pid,
                            "warmup": warmup + (0.5 if concurrency >= 1024 else 0.0),
                            "duration": duration,
                            "cpu": client_cpu,
                            "relative_urls": args.relative_urls,
                        }
                        result = run_case_process(case, timeout=warmup + duration + 60)
                        rounds.setdefault((client, concurrency), []).append(result)
                        all_results.append(result)
            key = "rate" if mode == "json" else "event_rate"
            table = {k: _median(v, key) for k, v in rounds.items()}
            if mode == "json":
                print_table("JSON", table, clients, "rate", "cpu_per_response_us")
                print_targets(table)
            else:
                title = "SSE (events counted as data: lines; raw server: 51 per response)"
                print_table(title, table, clients, "event_rate", "cpu_per_event_us")
            sys.stdout.flush()
    finally:
        server.close()

    if not args.no_latency:
        latency_server = Server("raw", 1.0, server_cpu)
        inflight = args.latency_inflight
        try:
            print(
                f"\nLatency-bound: {inflight} in flight, server latency 1 s "
                f"(ideal {inflight:,} req/s)"
            )
            for client in clients:
                case = {
                    "client": client,
                    "mode": "json",
                    "concurrency": inflight,
                    "port": latency_server.port,
                    "server_pid": latency_server.process.pid,
                    "warmup": 2.0 if args.quick else 2.5,
                    "duration": 3.0 if args.quick else 4.0,
                    "stagger": 1.0,
                    "cpu": client_cpu,
                    "relative_urls": args.relative_urls,
                }
                r = run_case_process(case, timeout=90)
                all_results.append({**r, "latency_case": True})
                if "failed" in r:
                    print(f"  {CLIENT_NAMES[client]:>20}: fails ({r['failed']})")
                    continue
                cpu = r["cpu_per_response_us"]
                print(
                    f"  {CLIENT_NAMES[client]:>20}: {r['rate']:7,.0f} req/s = "
                    f"{r['rate'] / inflight * 100:5.1f}% of ideal; client CPU "
                    f"{'-' if cpu is None else f'{cpu:,.0f}'} µs/req "
                    f"({r['client_cpu_share'] * 100:.0f}% of a core)"
                    + (f"; errors {r['errors']}" if r["errors"] else "")
                )
        finally:
            latency_server.close()
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(all_results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
