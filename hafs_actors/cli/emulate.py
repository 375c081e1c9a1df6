"""``hafs emulate``: serve the provider emulators from this process until Ctrl-C.

Prints one line per provider and the shell ``export`` lines that point the SDKs at them (or one
JSON object with ``--json``), then serves. SIGHUP re-reads ``--faults``. ``--server granian``
starts one granian process per provider instead (the ``bench`` extra), for benchmarks.

``--detach`` serves from a background process instead and returns once it listens, so
``eval "$(hafs emulate --detach)"`` works (a foreground server holds the command substitution's
pipe open forever); ``--stop`` stops it, found through its pid file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

import trio

from ..errors import ConfigError
from ..testing.emulators import PROVIDERS, open_emulators
from ..testing.emulators.emulator import provider_env
from ..testing.emulators.faults import FaultPlan
from ..testing.emulators.launch import SPEC_ENV, LaunchSpec
from . import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError
from ._common import check_metrics_port

__all__ = ["register"]

_READY_TIMEOUT = 30.0


def _reply_tokens(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition(":")
    try:
        low = int(lo)
        high = int(hi) if sep else low
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or MIN:MAX, got {text!r}") from None
    if not 1 <= low <= high:
        raise argparse.ArgumentTypeError(f"expected 1 <= MIN <= MAX, got {text!r}")
    return low, high


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "emulate",
        help="serve loopback emulators of the LLM providers",
        description="Serve emulators of OpenAI, Anthropic, Gemini, Ollama and llama.cpp on "
        "loopback ports, print their URLs and the export lines for the SDKs, and serve until "
        "Ctrl-C. SIGHUP re-reads --faults.",
    )
    parser.add_argument(
        "--provider",
        action="append",
        choices=PROVIDERS,
        metavar="NAME",
        help=f"serve only this provider (repeatable; one of {', '.join(PROVIDERS)})",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="first port; providers get consecutive ports (default: a free range; 0: any ports)",
    )
    parser.add_argument("--faults", metavar="FILE", help="fault plan (TOML or JSON)")
    parser.add_argument("--latency", choices=("zero", "realistic"), default="zero")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated content")
    parser.add_argument("--api-key", default=None, help="key the emulators accept")
    parser.add_argument(
        "--reply-prefix", default="", help="prefix every reply ({provider}/{model})"
    )
    parser.add_argument(
        "--reply-tokens",
        type=_reply_tokens,
        default=(12, 48),
        metavar="N|MIN:MAX",
        help="natural reply length in tokens (default 12:48)",
    )
    parser.add_argument(
        "--accept-any-model", action="store_true", help="serve any model name instead of a 404"
    )
    parser.add_argument(
        "--require-auth", action="store_true", help="also check the key on Ollama and llama.cpp"
    )
    parser.add_argument("--json", action="store_true", help="print the URLs as one JSON object")
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve the emulators' counters as Prometheus metrics on 127.0.0.1:PORT "
        "(0: a free port; trio server only; needs the prometheus extra)",
    )
    parser.add_argument(
        "--server",
        choices=("trio", "granian"),
        default="trio",
        help="trio (in this process, default) or granian (one process per provider; bench extra)",
    )
    background = parser.add_mutually_exclusive_group()
    background.add_argument(
        "--detach",
        action="store_true",
        help="serve from a background process; print the export lines and return",
    )
    background.add_argument(
        "--stop", action="store_true", help="stop the background emulators started by --detach"
    )
    parser.add_argument(
        "--pid-file",
        metavar="PATH",
        help="where --detach records the background process (default: "
        "$XDG_RUNTIME_DIR/hafs/emulate.pid, else ~/.cache/hafs/emulate.pid)",
    )
    parser.set_defaults(func=run)


def default_pid_file() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path.home() / ".cache"
    return base / "hafs" / "emulate.pid"


def _is_our_emulator(pid: int) -> bool:
    """The pid still names a ``hafs emulate`` process (pids are reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc: trust the pid file
    return b"hafs_actors" in cmdline and b"emulate" in cmdline


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _detach(args: argparse.Namespace, argv: list[str], pid_file: Path) -> int:
    """Start ``hafs emulate --json`` in its own session with no tie to our stdout, wait for
    its banner in the log file, record its pid, print what the foreground command prints."""
    old = _read_pid(pid_file)
    if old is not None and _is_our_emulator(old):
        raise CliError(
            f"emulators already running in the background (pid {old}); `hafs emulate --stop` first",
            code=EXIT_FAILED,
        )
    try:
        pid_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"--pid-file {pid_file}: {exc.strerror or exc}") from None
    log = pid_file.with_suffix(".log")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hafs_actors", "emulate", *argv, "--json"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    deadline = time.monotonic() + _READY_TIMEOUT
    banner: dict[str, object] | None = None
    while banner is None:
        if process.poll() is not None:
            tail = log.read_text("utf-8", "replace").strip().splitlines()
            reason = tail[-1] if tail else f"exit status {process.returncode}"
            raise CliError(f"the background emulators did not start: {reason}", EXIT_FAILED)
        if time.monotonic() > deadline:
            process.kill()
            raise CliError("the background emulators did not start in time", EXIT_FAILED)
        for line in log.read_text("utf-8", "replace").splitlines():
            if line.startswith("{"):
                banner = json.loads(line)
                break
        else:
            time.sleep(0.02)  # polling the log for the banner; not a measurement
    pid_file.write_text(f"{process.pid}\n")
    env = banner.pop("env")
    assert isinstance(env, dict)
    if args.json:
        print(json.dumps({**banner, "env": env, "pid": process.pid, "pid_file": str(pid_file)}))
        return EXIT_OK
    for name, entry in banner.items():
        assert isinstance(entry, dict)
        print(f"# {name:<9}  {entry['base_url']}")
    for key, value in env.items():
        print(f"export {key}={value}")
    print(f"# pid {process.pid} (log {log}); `hafs emulate --stop` stops it")
    return EXIT_OK


def _stop(pid_file: Path) -> int:
    pid = _read_pid(pid_file)
    if pid is None or not _is_our_emulator(pid):
        pid_file.unlink(missing_ok=True)
        raise CliError(f"no background emulators to stop (pid file {pid_file})", EXIT_FAILED)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10.0
    while _is_our_emulator(pid) and time.monotonic() < deadline:
        time.sleep(0.02)  # waiting for the process to exit; not a measurement
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it happens to be our child
    if _is_our_emulator(pid):
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    print(f"hafs emulate: stopped pid {pid}", file=sys.stderr)
    return EXIT_OK


def _background_argv(args: argparse.Namespace) -> list[str]:
    """The serving options of this command, for the background process."""
    argv = [f"--provider={name}" for name in args.provider or ()]
    argv += [f"--host={args.host}", f"--latency={args.latency}", f"--seed={args.seed}"]
    argv += [f"--server={args.server}", f"--reply-prefix={args.reply_prefix}"]
    argv.append("--reply-tokens={}:{}".format(*args.reply_tokens))
    if args.port is not None:
        argv.append(f"--port={args.port}")
    if args.faults:
        argv.append(f"--faults={os.path.abspath(args.faults)}")
    if args.metrics_port is not None:
        argv.append(f"--metrics-port={args.metrics_port}")
    if args.api_key is not None:
        argv.append(f"--api-key={args.api_key}")
    argv += [
        flag
        for flag in ("--accept-any-model", "--require-auth")
        if getattr(args, flag[2:].replace("-", "_"))
    ]
    return argv


def run(args: argparse.Namespace) -> int:
    pid_file = Path(args.pid_file) if args.pid_file else default_pid_file()
    if args.stop:
        return _stop(pid_file)
    if args.detach:
        return _detach(args, _background_argv(args), pid_file)
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    names: list[str] = list(dict.fromkeys(args.provider or PROVIDERS))
    if args.port is not None and not 0 <= args.port <= 65535 - len(names) + 1:
        raise CliError(f"--port must leave room for {len(names)} consecutive ports")
    spec = LaunchSpec(
        latency=args.latency,
        seed=args.seed,
        api_key=args.api_key if args.api_key is not None else LaunchSpec().api_key,
        reply_prefix=args.reply_prefix,
        reply_tokens=args.reply_tokens,
        accept_any_model=args.accept_any_model,
        require_auth=args.require_auth,
        faults_file=os.path.abspath(args.faults) if args.faults else None,
    )
    plan = spec.load_faults()  # a bad file is a ConfigError before anything starts
    check_metrics_port(args.metrics_port)
    if args.metrics_port is not None and args.server == "granian":
        raise CliError("--metrics-port works with --server trio (the in-process emulators)")
    if args.server == "granian":
        try:
            import granian  # noqa: F401
        except ImportError:
            raise CliError(
                "--server granian needs granian: pip install 'hafs-actors[bench]'"
            ) from None
        return trio.run(_serve_granian, names, args, spec)
    return trio.run(_serve_trio, names, args, spec, plan)


def _announce(entries: list[tuple[str, str, int]], spec: LaunchSpec, as_json: bool) -> None:
    env: dict[str, str] = {}
    for provider, url, _port in entries:
        env.update(provider_env(provider, url, spec.api_key, spec.require_auth))
    if as_json:
        doc: dict[str, object] = {
            provider: {"base_url": url, "port": port, "api_key": spec.api_key}
            for provider, url, port in entries
        }
        doc["env"] = env
        print(json.dumps(doc), flush=True)
        return
    width = max(len(provider) for provider, _, _ in entries)
    lines = [f"# {provider:<{width}}  {url}" for provider, url, _ in entries]
    lines += [f"export {name}={value}" for name, value in env.items()]
    lines.append(f"# latency {spec.latency}, seed {spec.seed}; Ctrl-C stops")
    print("\n".join(lines), flush=True)


def _reload(spec: LaunchSpec) -> FaultPlan | None:
    try:
        plan = spec.load_faults()
    except ConfigError as exc:
        print(f"hafs emulate: keeping the old fault plan: {exc}", file=sys.stderr, flush=True)
        return None
    print(f"hafs emulate: reloaded {len(plan.faults)} fault(s)", file=sys.stderr, flush=True)
    return plan


async def _serve_trio(
    names: list[str], args: argparse.Namespace, spec: LaunchSpec, plan: FaultPlan
) -> int:
    config = spec.config(plan)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        try:
            emulators_cm = open_emulators(names, config=config, host=args.host, port=args.port)
            async with emulators_cm as emulators, AsyncExitStack() as extras:
                entries = [(name, emu.base_url, emu.port) for name, emu in emulators.items()]
                _announce(entries, spec, args.json)
                if args.metrics_port is not None:
                    from ..observability.prometheus import emulator_metrics_endpoint

                    url = await extras.enter_async_context(
                        emulator_metrics_endpoint(emulators, args.metrics_port, host=args.host)
                    )
                    print(f"# metrics at {url}", flush=True)
                async for signum in signals:
                    if signum == signal.SIGHUP:
                        if spec.faults_file and (new := _reload(spec)) is not None:
                            for emu in emulators.values():
                                emu.set_faults(new)
                        continue
                    return EXIT_INTERRUPTED if signum == signal.SIGINT else EXIT_OK
        except OSError as exc:
            raise CliError(f"cannot listen on {args.host}: {exc.strerror or exc}") from None
    return EXIT_OK


def _free_ports(count: int, host: str, first: int | None) -> list[int]:
    """Ports for the granian processes, which bind them themselves."""
    if first:
        return list(range(first, first + count))
    if first == 0:
        ports = []
        for _ in range(count):
            with socket.socket() as probe:
                probe.bind((host, 0))
                ports.append(probe.getsockname()[1])
        return ports
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind((host, 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    probe.bind((host, port))
        except OSError:
            continue
        return list(range(base, base + count))
    raise CliError(f"no free range of {count} consecutive ports on {host}")


async def _wait_ready(host: str, port: int, process: trio.Process) -> None:
    while True:
        if process.returncode is not None:
            raise CliError(f"the granian process for port {port} exited ({process.returncode})")
        try:
            stream = await trio.open_tcp_stream(host, port)
        except OSError:
            await trio.sleep(0.05)
            continue
        await stream.aclose()
        return


async def _serve_granian(names: list[str], args: argparse.Namespace, spec: LaunchSpec) -> int:
    ports = _free_ports(len(names), args.host, args.port)
    env = {**os.environ, SPEC_ENV: spec.to_json()}
    processes: list[trio.Process] = []
    result = EXIT_OK
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        try:
            for name, port in zip(names, ports, strict=True):
                command = [sys.executable, "-m", "hafs_actors.testing.emulators.rsgi"]
                command += ["--provider", name, "--host", args.host, "--port", str(port)]
                processes.append(
                    await trio.lowlevel.open_process(command, env=env, start_new_session=True)
                )
            with trio.fail_after(_READY_TIMEOUT):
                for port, process in zip(ports, processes, strict=True):
                    await _wait_ready(args.host, port, process)
            url_host = f"[{args.host}]" if ":" in args.host else args.host
            entries = [
                (name, f"http://{url_host}:{port}", port)
                for name, port in zip(names, ports, strict=True)
            ]
            _announce(entries, spec, args.json)
            async with trio.open_nursery() as nursery:

                async def watch(process: trio.Process) -> None:
                    nonlocal result
                    await process.wait()
                    print(
                        f"hafs emulate: a granian process exited ({process.returncode})",
                        file=sys.stderr,
                    )
                    result = EXIT_FAILED
                    nursery.cancel_scope.cancel()

                for process in processes:
                    nursery.start_soon(watch, process)
                async for signum in signals:
                    if signum == signal.SIGHUP:
                        for process in processes:
                            process.send_signal(signal.SIGHUP)
                        continue
                    result = EXIT_INTERRUPTED if signum == signal.SIGINT else EXIT_OK
                    nursery.cancel_scope.cancel()
        except trio.TooSlowError:
            raise CliError("the granian processes did not start listening in time") from None
        finally:
            with trio.CancelScope(shield=True):
                for process in processes:
                    if process.returncode is None:
                        process.terminate()
                with trio.move_on_after(10):
                    for process in processes:
                        await process.wait()
                for process in processes:
                    if process.returncode is None:
                        process.kill()
                        await process.wait()
    return result
