"""Shared pieces of the benchmark scripts: core pinning, the emulator process, worker processes,
statistics and tables.

Method (docs/benchmarks.md, docs/design.md): the emulator runs in a
separate process pinned to one core, every measured case in a fresh process pinned to the other,
and the emulator's CPU share is sampled with psutil so a server-bound figure cannot pass as a
client figure. Figures are medians of several rounds; compare ratios, not absolutes.

The emulator is the project's own (:class:`hafs_actors.testing.emulators.EmulatorCore`)
served by granian through :class:`hafs_actors.testing.emulators.rsgi.RSGIEmulator`, exactly as
``hafs emulate --server granian`` serves it, or by the in-process trio server in a child process
(``--server trio``). Unlike the CLI, it takes any
:class:`~hafs_actors.testing.emulators.LatencyModel` (the fan-out benchmark needs exactly 1 s)
and an initial fault plan. This module is also granian's factory target
(``_harness:granian_app``), so it imports nothing heavy at module level.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: The key the benchmark emulators accept; not a secret, never a real provider's key.
BENCH_KEY = "bench-key-not-a-secret"
MODEL = "gpt-4o-mini"
_SPEC_ENV = "HAFS_BENCH_EMULATOR"
_READY_TIMEOUT = 30.0


# -- cores ---------------------------------------------------------------------------------------


def split_cores() -> tuple[int | None, int | None]:
    """(server core, client core): the first two usable cores, or (None, None) with fewer."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return cores[0], cores[1]


def pin(cpu: int | None) -> None:
    """Pin the calling process (and its future children) to one core."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def describe_machine(server_cpu: int | None, client_cpu: int | None, *, server: bool = True) -> str:
    """One line: Python, cores, where the emulator and the client run, the load average.

    A load average well above 0 means other processes compete for the cores: expect noisier,
    lower figures (CPU time per request is the least affected).
    """
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if not server:
        where = f"client on core {client_cpu}" if client_cpu is not None else "any core"
    elif server_cpu is None:
        where = "server and client share cores (fewer than 2 usable)"
    else:
        where = f"emulator on core {server_cpu}, client on core {client_cpu}"
    return (
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores: {where}; "
        f"load average before the run {load:.2f}"
    )


# -- the emulator process ------------------------------------------------------------------------


def emulator_spec(
    *,
    latency: float = 0.0,
    reply_tokens: int = 16,
    faults: dict[str, Any] | None = None,
    provider: str = "openai",
) -> dict[str, Any]:
    """What an emulator process serves: a fixed first-token latency, reply length, faults."""
    return {
        "provider": provider,
        "latency": latency,
        "reply_tokens": reply_tokens,
        "faults": faults or {},
    }


def _config_from_spec(spec: dict[str, Any]) -> Any:
    from hafs_actors.testing.emulators import EmulatorConfig, FaultPlan, LatencyModel

    latency = spec["latency"]
    tokens = int(spec["reply_tokens"])
    return EmulatorConfig(
        api_key=BENCH_KEY,
        accept_any_model=True,
        latency=LatencyModel(ttft_median=latency) if latency > 0 else "zero",
        reply_tokens=(tokens, tokens),
        faults=FaultPlan.from_dict(spec["faults"], source="benchmark emulator spec"),
    )


def granian_app() -> Any:
    """granian's factory target (``--factory _harness:granian_app``): spec from the env."""
    from hafs_actors.testing.emulators import EmulatorCore
    from hafs_actors.testing.emulators.rsgi import RSGIEmulator

    spec = json.loads(os.environ[_SPEC_ENV])
    return RSGIEmulator(
        EmulatorCore(spec["provider"], _config_from_spec(spec), now=time.monotonic())
    )


async def _serve_trio(spec: dict[str, Any]) -> None:
    import trio

    from hafs_actors.testing.emulators import open_emulator

    async with open_emulator(spec["provider"], config=_config_from_spec(spec), port=0) as emu:
        print(f"PORT {emu.port}", flush=True)
        await trio.sleep_forever()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class EmulatorProcess:
    """One emulated provider in its own process, pinned to ``cpu``; a context manager.

    ``server="granian"`` (default, the fastest at high connection counts in docs/benchmarks.md) or
    ``"trio"`` (the project's in-process h11 server, run in a child process).
    """

    def __init__(self, spec: dict[str, Any], *, cpu: int | None, server: str = "granian") -> None:
        self.spec = spec
        self.server = server
        env = {**os.environ, _SPEC_ENV: json.dumps(spec)}
        preexec = (lambda: pin(cpu)) if cpu is not None else None
        if server == "granian":
            self.port = _free_port()
            command = [sys.executable, "-m", "granian", "--interface", "rsgi"]
            command += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
            command += ["--runtime-threads", "1", "--no-ws", "--log-level", "warning"]
            command += ["--backlog", "4096", "--factory", "--working-dir", str(HERE)]
            command += ["_harness:granian_app"]
            self.process = subprocess.Popen(command, env=env, preexec_fn=preexec)
            self._wait_ready()
        elif server == "trio":
            command = [sys.executable, str(HERE / "_harness.py"), "serve-trio"]
            self.process = subprocess.Popen(
                command, env=env, preexec_fn=preexec, stdout=subprocess.PIPE
            )
            assert self.process.stdout is not None
            line = self.process.stdout.readline().decode("ascii", "replace")
            if not line.startswith("PORT "):
                self.close()
                raise SystemExit(f"the trio emulator did not start (first line {line!r})")
            self.port = int(line.split()[1])
        else:
            raise ValueError(f"server must be 'granian' or 'trio', not {server!r}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the granian emulator exited ({self.process.returncode})")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise SystemExit("the granian emulator did not start listening in time")

    @property
    def base_url(self) -> str:
        """The server URL (admin endpoints live under ``/_emulator/``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The base URL an OpenAI client or adapter needs."""
        from hafs_actors.testing import emulator_base_url

        return emulator_base_url(self.spec["provider"], self.base_url)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def cpu_seconds_reader(pid: int | None) -> Callable[[], float | None]:
    """CPU seconds used so far by process ``pid`` and its descendants (None without psutil)."""
    try:
        import psutil
    except ImportError:
        return lambda: None
    if pid is None:
        return lambda: None
    process = psutil.Process(pid)

    def read() -> float:
        total = 0.0
        for proc in (process, *process.children(recursive=True)):
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    return read


# -- worker processes ----------------------------------------------------------------------------


def run_worker(
    script: Path | str,
    case: dict[str, Any],
    *,
    timeout: float,
    cpu: int | None,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``python script --worker CASE_JSON`` pinned to ``cpu``; its ``RESULT {json}`` line.

    A failed or silent worker gives ``{**case, "failed": <last stderr line>}``.
    """
    command = [python, str(script), "--worker", json.dumps(case)]
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            preexec_fn=(lambda: pin(cpu)) if cpu is not None else None,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {**case, "failed": f"timed out after {timeout:g}s"}
    for line in completed.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
    return {**case, "failed": tail[:120]}


async def closed_loop(
    case: dict[str, Any], one_request: Callable[[], Awaitable[int | None]]
) -> dict[str, Any]:
    """``case["concurrency"]`` tasks calling ``one_request`` again and again; one measured window
    of ``case["duration"]`` seconds after ``case["warmup"]``. ``one_request`` may return how many
    events it received (streams): the result then has CPU per event too."""
    import trio

    done = [0, 0]  # requests, events
    errors: Counter[str] = Counter()
    server_cpu = cpu_seconds_reader(case.get("server_pid"))

    async def worker() -> None:
        while True:
            try:
                events = await one_request()
            except Exception as exc:
                errors[type(exc).__name__] += 1
                await trio.sleep(0.01)
            else:
                done[0] += 1
                done[1] += events or 0

    def sample() -> tuple[int, int, float, float, float | None]:
        return done[0], done[1], time.perf_counter(), time.process_time(), server_cpu()

    async with trio.open_nursery() as nursery:
        for _ in range(case["concurrency"]):
            nursery.start_soon(worker)
        await trio.sleep(case["warmup"])
        start = sample()
        await trio.sleep(case["duration"])
        end = sample()
        nursery.cancel_scope.cancel()
    requests, events = end[0] - start[0], end[1] - start[1]
    wall, cpu = end[2] - start[2], end[3] - start[3]
    result = {
        **case,
        "requests": requests,
        "rate": requests / wall,
        "cpu_us": cpu / requests * 1e6 if requests else None,
        "cpu_per_event_us": cpu / events * 1e6 if events else None,
        "client_share": cpu / wall,
        "errors": dict(errors),
    }
    if start[4] is not None and end[4] is not None:
        result["server_share"] = (end[4] - start[4]) / wall
    return result


def emit_result(result: dict[str, Any]) -> None:
    """The worker side of :func:`run_worker`."""
    print("RESULT " + json.dumps(result), flush=True)


# -- statistics and tables -----------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty."""
    if not sorted_values:
        return math.nan
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def median(values: Sequence[float]) -> float:
    return percentile(sorted(values), 50.0)


def median_round(rounds: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    """The round with the median ``key`` (failed rounds rank as 0), plus ``spread`` (min, max)."""
    ok = [r for r in rounds if "failed" not in r]
    values = [float(r[key]) if "failed" not in r else 0.0 for r in rounds]
    if not ok:
        return {**rounds[0], "spread": (0.0, 0.0)}
    ranked = sorted(rounds, key=lambda r: 0.0 if "failed" in r else float(r[key]))
    chosen = dict(ranked[len(ranked) // 2])
    chosen["spread"] = (min(values), max(values))
    return chosen


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: int = 2) -> None:
    """A plain fixed-width table: first column left-aligned, the others right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first = f"{cells[0]:<{widths[0]}}"
        rest = [f"{cell:>{width}}" for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return " " * indent + " | ".join([first, *rest])

    print(line(headers))
    print(" " * indent + "-+-".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def verdict(value: float, target: float, *, higher_is_better: bool = True) -> str:
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "NOT met"


def main(argv: Sequence[str]) -> int:
    """``python _harness.py serve-trio``: serve the spec in ``HAFS_BENCH_EMULATOR`` under trio."""
    if list(argv) != ["serve-trio"]:
        print("usage: python benchmarks/_harness.py serve-trio", file=sys.stderr)
        return 2
    import trio

    try:
        trio.run(_serve_trio, json.loads(os.environ[_SPEC_ENV]))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
