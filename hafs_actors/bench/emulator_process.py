"""Run the provider emulators in a separate process for a benchmark (docs/design.md).

The emulator must not share the client's core: on a machine with two or more usable CPUs the
emulator process is pinned to the last one and this process to the others for the duration
(restored afterwards), so the harness measures the client and not a fight for one core.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

import attrs
import trio

from .._groups import unwrap_single_exception
from .errors import BenchError

__all__ = ["EmulatorEndpoint", "EmulatorProcess", "emulator_process", "parse_emulator_banner"]

_STARTUP_TIMEOUT = 30.0
_STOP_TIMEOUT = 5.0
_BANNER_LIMIT = 1 << 20


@attrs.frozen
class EmulatorEndpoint:
    """Where one emulated provider listens, and the key it accepts (never in reprs)."""

    provider: str
    base_url: str
    api_key: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class EmulatorProcess:
    """A running emulator process: its endpoints and how the CPUs were split."""

    pid: int
    endpoints: Mapping[str, EmulatorEndpoint]
    emulator_cpus: tuple[int, ...] = ()
    client_cpus: tuple[int, ...] = ()


def _client_url(provider: str, url: str) -> str:
    # The OpenAI adapter's base URL includes the API version, as the OpenAI SDK's does.
    if provider == "openai" and not url.rstrip("/").endswith("/v1"):
        return url.rstrip("/") + "/v1"
    return url


def parse_emulator_banner(line: str) -> dict[str, EmulatorEndpoint]:
    """Endpoints from the JSON object ``hafs emulate --json`` prints once it is listening:
    ``{provider: {"base_url": ..., "port": ..., "api_key": ...}, ..., "env": {...}}``.
    """
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BenchError(f"emulator banner is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BenchError("emulator banner is not a JSON object")
    endpoints: dict[str, EmulatorEndpoint] = {}
    for name, entry in data.items():
        if not isinstance(entry, Mapping) or "base_url" not in entry:
            continue  # "env" and any future non-provider keys
        url, key = entry["base_url"], entry.get("api_key")
        if not isinstance(url, str) or not url:
            raise BenchError(f"emulator banner: {name!r} has no usable base_url")
        endpoints[name] = EmulatorEndpoint(
            name, _client_url(name, url), key if isinstance(key, str) else None
        )
    if not endpoints:
        raise BenchError("emulator banner lists no providers")
    return endpoints


def _pin_to(cpus: tuple[int, ...]) -> Callable[[], None] | None:
    """Run in the emulator process between fork and exec: take its CPUs (its own children
    inherit them)."""
    if not cpus:
        return None
    return functools.partial(os.sched_setaffinity, 0, cpus)


def _split_cpus() -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return None
    cpus = sorted(getter(0))
    if len(cpus) < 2:
        return None
    return (cpus[-1],), tuple(cpus[:-1])


async def _drain(stream: trio.abc.ReceiveStream | None, keep: bytearray) -> None:
    """Read a pipe to its end so the child never blocks on a full pipe; keep the tail."""
    if stream is None:
        return
    while chunk := await stream.receive_some(65536):
        keep.extend(chunk)
        del keep[:-4096]


def _last_line(tail: bytearray) -> str:
    lines = tail.decode("utf-8", "replace").strip().splitlines()
    return f" ({lines[-1]})" if lines else ""


async def _watch(process: trio.Process, stderr_tail: bytearray) -> None:
    """An emulator that dies mid-run ends the run with its reason, rather than leaving every
    remaining request to fail with a connection error."""
    await process.wait()
    await trio.sleep(0.05)  # let the last stderr lines arrive
    raise BenchError(
        f"the emulator process exited during the run (status {process.returncode})"
        + _last_line(stderr_tail)
    )


async def _read_banner(stream: trio.abc.ReceiveStream, buffer: bytearray) -> str:
    while b"\n" not in buffer:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise BenchError("the emulator process exited before it was ready")
        buffer.extend(chunk)
        if len(buffer) > _BANNER_LIMIT:
            raise BenchError("the emulator printed no JSON line")
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.decode("utf-8", "replace")


@asynccontextmanager
async def emulator_process(
    *,
    latency: str = "realistic",
    server: str = "trio",
    providers: Sequence[str] = (),
    pin_cpus: bool = True,
    extra_args: Sequence[str] = (),
) -> AsyncIterator[EmulatorProcess]:
    """Start ``python -m hafs_actors emulate --port 0 --json`` and stop it on exit.

    ``server`` is ``trio`` (one process) or ``granian`` (one process per provider, the
    ``bench`` extra). With ``pin_cpus`` the emulator (and any process it starts) gets the last
    usable CPU and this process the others.
    """
    command = [
        sys.executable,
        "-m",
        "hafs_actors",
        "emulate",
        "--port",
        "0",
        "--json",
        "--latency",
        latency,
        "--server",
        server,
        *(arg for provider in providers for arg in ("--provider", provider)),
        *extra_args,
    ]
    split = _split_cpus() if pin_cpus else None
    emulator_cpus, client_cpus = split if split is not None else ((), ())
    process = await trio.lowlevel.open_process(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        preexec_fn=_pin_to(emulator_cpus),
    )
    restore: set[int] | None = None
    stderr_tail = bytearray()
    try:
        async with unwrap_single_exception(), trio.open_nursery() as nursery:
            nursery.start_soon(_drain, process.stderr, stderr_tail)
            assert process.stdout is not None
            buffer = bytearray()
            try:
                with trio.fail_after(_STARTUP_TIMEOUT):
                    banner = await _read_banner(process.stdout, buffer)
                endpoints = parse_emulator_banner(banner)
            except (BenchError, trio.TooSlowError) as exc:
                await trio.sleep(0.05)  # let stderr arrive for the message
                reason = "did not start in time" if isinstance(exc, trio.TooSlowError) else exc
                raise BenchError(f"emulator process: {reason}{_last_line(stderr_tail)}") from None
            nursery.start_soon(_drain, process.stdout, bytearray())
            nursery.start_soon(_watch, process, stderr_tail)
            if client_cpus:
                restore = set(os.sched_getaffinity(0))
                os.sched_setaffinity(0, client_cpus)
            try:
                yield EmulatorProcess(process.pid, endpoints, emulator_cpus, client_cpus)
            finally:
                nursery.cancel_scope.cancel()
    finally:
        if restore is not None:
            os.sched_setaffinity(0, restore)
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.terminate()
                with trio.move_on_after(_STOP_TIMEOUT):
                    await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
