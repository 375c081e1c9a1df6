"""How fast can ``hafs emulate`` answer? (issue 3: "the emulator must never be the bottleneck")

Starts ``hafs emulate --provider openai`` as a separate process pinned to core 0, once per server
option (``trio``, and ``granian`` when the bench extra is installed), and drives it from this
process pinned to core 1 with a load generator on raw trio sockets (hand-parsed responses, so
the client costs as little as possible), or with ``wrk`` for the JSON case when it is installed.
Prints JSON requests/s, SSE responses/s and events/s, and the server's CPU use (a server near
100 % of its core is the bound; below that, the load generator is).

    python benchmarks/emulator_throughput.py [--duration 5] [--connections 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

import attrs
import trio

try:
    import psutil
except ImportError:  # the bench extra; without it server CPU is not reported
    psutil = None

BODY: dict[str, object] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
SSE_BODY: dict[str, object] = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
KEY = "emulator-key"


def request_bytes(host: str, port: int, body: dict[str, object]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}:{port}\r\n"
        f"authorization: Bearer {KEY}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


@attrs.define
class Counter:
    responses: int = 0
    events: int = 0
    errors: int = 0


class Reader:
    """Hand-parsed HTTP/1.1 responses (content-length or chunked) from one keep-alive socket."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def _fill(self) -> None:
        data = await self.stream.receive_some(262144)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buffer += data

    async def _until(self, marker: bytes) -> bytes:
        while (index := self.buffer.find(marker)) < 0:
            await self._fill()
        out = bytes(self.buffer[:index])
        del self.buffer[: index + len(marker)]
        return out

    async def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._fill()
        out = bytes(self.buffer[:size])
        del self.buffer[:size]
        return out

    async def response(self) -> tuple[int, bytes]:
        head = await self._until(b"\r\n\r\n")
        status = int(head[9:12])
        lowered = head.lower()
        match = re.search(rb"content-length: *(\d+)", lowered)
        if match is not None:
            return status, await self._exactly(int(match.group(1)))
        parts: list[bytes] = []
        while True:
            size = int((await self._until(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._until(b"\r\n")
                return status, b"".join(parts)
            parts.append(await self._exactly(size))
            await self._exactly(2)


async def _worker(
    host: str, port: int, request: bytes, stop_at: float, start_at: float, counter: Counter
) -> None:
    stream = await trio.open_tcp_stream(host, port)
    reader = Reader(stream)
    try:
        while (now := trio.current_time()) < stop_at:
            await stream.send_all(request)
            status, body = await reader.response()
            if now >= start_at:
                if status != 200:
                    counter.errors += 1
                counter.responses += 1
                counter.events += body.count(b"data:")
    finally:
        await stream.aclose()


async def drive(
    host: str, port: int, body: dict[str, object], connections: int, warmup: float, duration: float
) -> tuple[Counter, float]:
    """Closed-loop load: ``connections`` keep-alive sockets, each request after the last reply."""
    counter = Counter()
    request = request_bytes(host, port, body)
    now = trio.current_time()
    start_at, stop_at = now + warmup, now + warmup + duration
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(_worker, host, port, request, stop_at, start_at, counter)
    return counter, duration


def wrk_json(host: str, port: int, connections: int, duration: float) -> float | None:
    """JSON requests/s measured by ``wrk`` (pinned to core 1), when it is installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = (
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(BODY))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {KEY}"\n'
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        command = [wrk, "-t1", f"-c{connections}", f"-d{int(duration)}s", "-s", file.name]
        command.append(f"http://{host}:{port}/v1/chat/completions")
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(file.name)
    match = re.search(r"Requests/sec:\s*([\d.]+)", output)
    return float(match.group(1)) if match else None


def pin(pid: int, core: int) -> bool:
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return False
    os.sched_setaffinity(pid, {core})
    return True


def _pin_to_core_0() -> None:
    pin(0, 0)


class Server:
    """``hafs emulate --provider openai`` in its own process (and process tree), on core 0."""

    def __init__(self, server: str) -> None:
        command = [sys.executable, "-m", "hafs_actors", "emulate", "--provider", "openai"]
        command += ["--port", "0", "--json", "--server", server, "--reply-tokens", "48"]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_pin_to_core_0,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"hafs emulate --server {server} did not start")
        self.port = int(json.loads(line)["openai"]["port"])
        self._tree = psutil.Process(self.process.pid) if psutil is not None else None

    def cpu_seconds(self) -> float | None:
        if self._tree is None:
            return None
        total = 0.0
        for proc in [self._tree, *self._tree.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@attrs.frozen
class Sample:
    rate: float  # responses/s
    events: float  # events/s
    cpu: float | None  # server CPU, % of one core
    errors: int


def measure(server: Server, body: dict[str, object], args: argparse.Namespace) -> Sample:
    warmup = 1.0
    before = server.cpu_seconds()
    started = time.perf_counter()
    counter, _ = trio.run(
        drive, "127.0.0.1", server.port, body, args.connections, warmup, args.duration
    )
    elapsed = time.perf_counter() - started
    after = server.cpu_seconds()
    cpu = None
    if before is not None and after is not None:
        cpu = 100.0 * (after - before) / elapsed  # includes the warm-up on both sides
    return Sample(
        counter.responses / args.duration, counter.events / args.duration, cpu, counter.errors
    )


def _median(samples: list[Sample]) -> Sample:
    cpus = [s.cpu for s in samples if s.cpu is not None]
    return Sample(
        statistics.median(s.rate for s in samples),
        statistics.median(s.events for s in samples),
        statistics.median(cpus) if cpus else None,
        sum(s.errors for s in samples),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="fresh server per round; median")
    parser.add_argument("--servers", default="trio,granian")
    args = parser.parse_args(argv)
    servers = [s for s in args.servers.split(",") if s]
    if "granian" in servers and importlib.util.find_spec("granian") is None:
        print("granian is not installed (pip install 'hafs-actors[bench]'): skipping it")
        servers.remove("granian")
    pinned = pin(0, 1)
    print(
        f"server on core 0, load generator on core {'1' if pinned else '(unpinned)'}; "
        f"{args.connections} connections, {args.duration:g} s x {args.rounds} rounds"
    )
    results: dict[str, tuple[Sample, Sample]] = {}
    for name in servers:
        json_samples, sse_samples = [], []
        for _ in range(args.rounds):
            server = Server(name)
            try:
                json_samples.append(measure(server, BODY, args))
                sse_samples.append(measure(server, SSE_BODY, args))
            finally:
                server.close()
        results[name] = (_median(json_samples), _median(sse_samples))
    header = (
        f"{'server':<8} {'JSON req/s':>11} {'srv CPU':>8} {'SSE resp/s':>11} "
        f"{'events/s':>10} {'ev/resp':>8} {'srv CPU':>8}"
    )
    print(header)
    print("-" * len(header))

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0f}%"

    for name, (plain, sse) in results.items():
        per = sse.events / sse.rate if sse.rate else 0.0
        print(
            f"{name:<8} {plain.rate:>11,.0f} {pct(plain.cpu):>8} {sse.rate:>11,.0f} "
            f"{sse.events:>10,.0f} {per:>8.1f} {pct(sse.cpu):>8}"
        )
        if plain.errors or sse.errors:
            print(f"  ({plain.errors + sse.errors} non-200 answers)")
    if "trio" in results and "granian" in results:
        (tj, ts), (gj, gs) = results["trio"], results["granian"]
        print(f"granian / trio: JSON x{gj.rate / tj.rate:.2f}, SSE x{gs.rate / ts.rate:.2f}")
    if servers:
        server = Server(servers[-1])
        try:
            rate = wrk_json("127.0.0.1", server.port, args.connections, args.duration)
        finally:
            server.close()
        if rate is not None:
            print(f"wrk (JSON, {servers[-1]}): {rate:,.0f} req/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
