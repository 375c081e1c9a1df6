"""What the request commands share: options, building the orchestrator, printing results."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs

from ..config import HafsConfig, load_config
from ..orchestrator import UnifiedOrchestrator
from ..routing.tiers import parse_route_entry
from ..testing import open_emulated_orchestrator
from ..types import Attempt, GenerateResult
from . import EXIT_CONFIG, CliError, check_choice

__all__ = [
    "add_request_options",
    "add_routing_options",
    "check_routing",
    "finite",
    "note_emulated",
    "open_cli_orchestrator",
    "print_attempts",
    "read_text_arg",
    "routing_kwargs",
    "to_jsonable",
]


def finite(option: str, value: float | None, *, positive: bool = True) -> float | None:
    """``value`` unless it is NaN, infinite or (with ``positive``) not above zero."""
    if value is None:
        return None
    if not math.isfinite(value) or (positive and value <= 0) or value < 0:
        kind = "a positive number" if positive else "a number >= 0"
        raise CliError(f"{option} must be {kind}, got {value}")
    return value


def _utf8(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(
            f"{where} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def read_stdin() -> str | None:
    """Piped standard input as text, or ``None`` for a terminal (or no stdin at all)."""
    stream = sys.stdin
    if stream is None or stream.isatty():
        return None
    try:
        data = stream.buffer.read()
    except (OSError, AttributeError):  # closed, or replaced by something without bytes
        return None
    return _utf8(data, "standard input")


def read_text_arg(text: str, what: str) -> str:
    """An argument as text; rejects what the shell passed as bytes that are not UTF-8 (Python
    keeps them as lone surrogates, which no provider accepts)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        _utf8(text.encode("utf-8", "surrogateescape"), what)
    return text


def note_emulated(what: str) -> None:
    """Say on stderr that replies are emulated, so nobody mistakes them for a model's."""
    print(f"hafs: emulated: {what}", file=sys.stderr)


def add_routing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tier", help="task tier: reasoning, fast, coding, research, creative")
    parser.add_argument("--provider", "-p", help="provider to try first (then the tier route)")
    parser.add_argument("--model", "-m", help="model for --provider")
    parser.add_argument(
        "--fallback",
        action="append",
        metavar="PROVIDER:MODEL",
        help="explicit chain, tried in order (repeatable); replaces the tier route",
    )
    parser.add_argument(
        "--no-fallback",
        action="store_true",
        help="with --provider: try only that provider",
    )
    parser.add_argument("--timeout", type=float, help="overall deadline in seconds")


def add_request_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="config file (default: $HAFS_CONFIG or ~/.config/hafs)")
    parser.add_argument(
        "--emulate",
        action="store_true",
        help="route to the built-in loopback emulators instead of real providers (no keys)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show provider, attempts, latency, usage"
    )


def routing_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    chain = None
    if args.fallback:
        try:
            chain = [parse_route_entry(item) for item in args.fallback]
        except (ValueError, TypeError) as exc:
            raise CliError(f"--fallback: {exc}") from None
    if args.model and not args.provider:
        raise CliError("--model needs --provider (or use --fallback PROVIDER:MODEL)")
    finite("--timeout", args.timeout)
    return {
        "tier": args.tier,
        "provider": args.provider,
        "model": args.model,
        "fallback_providers": chain,
        "allow_fallback": not args.no_fallback,
        "timeout": args.timeout,
    }


@asynccontextmanager
async def open_cli_orchestrator(args: argparse.Namespace) -> AsyncIterator[UnifiedOrchestrator]:
    """The orchestrator the command runs against: configured providers, or the emulators.
    The routing arguments are checked against its configuration before anything is sent."""
    if getattr(args, "emulate", False):
        note_emulated(f"hafs {args.command} runs against the loopback emulators (--emulate)")
        async with open_emulated_orchestrator() as (orch, _emulators):
            check_routing(args, orch.config)
            yield orch
        return
    config: HafsConfig = load_config(getattr(args, "config", None))
    if not config.configured_providers():
        raise CliError(
            "no provider is configured: set an API key (e.g. GEMINI_API_KEY), write "
            "~/.config/hafs/config.toml, or try --emulate (see `hafs config check`)",
            code=EXIT_CONFIG,
        )
    check_routing(args, config)
    async with UnifiedOrchestrator(config) as orch:
        yield orch


def check_routing(args: argparse.Namespace, config: HafsConfig) -> None:
    """Tier and provider names must exist: a typo gets the closest name and the choices
    (exit 2) instead of a silent fallback or a routing error from deep inside."""
    tier = getattr(args, "tier", None)
    if tier is not None:
        check_choice("--tier", str(tier), sorted(config.routes))
    providers = sorted(config.providers)
    if getattr(args, "provider", None) is not None:
        check_choice("--provider", str(args.provider), providers)
    for entry in getattr(args, "fallback", None) or ():
        check_choice("--fallback", parse_route_entry(entry)[0], providers)


def to_jsonable(value: Any) -> Any:
    """attrs values, enums and tuples as plain JSON data."""
    if attrs.has(type(value)):
        return {k: to_jsonable(v) for k, v in attrs.asdict(value, recurse=False).items()}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def print_json(value: Any) -> None:
    json.dump(to_jsonable(value), sys.stdout, indent=2)
    sys.stdout.write("\n")


def print_attempts(attempts: tuple[Attempt, ...]) -> None:
    for a in attempts:
        detail = f" ({a.error})" if a.error else ""
        retry = f" retry {a.retry}" if a.retry else ""
        print(
            f"  attempt {a.provider}/{a.model}{retry}: {a.outcome} "
            f"in {a.latency * 1000:.0f} ms{detail}",
            file=sys.stderr,
        )


def note_substitution(args: argparse.Namespace, result: GenerateResult) -> None:
    """One line on stderr when the answer came from another provider than the one named."""
    named = getattr(args, "provider", None)
    if not named or result.provider == named.partition(":")[0].partition("/")[0]:
        return
    failed = next((a for a in result.attempts if a.outcome != "ok"), None)
    why = f" ({failed.provider}: {failed.outcome})" if failed is not None else ""
    print(
        f"hafs: answered by {result.provider}/{result.model}, not {named}{why}",
        file=sys.stderr,
    )


def print_result_details(result: GenerateResult) -> None:
    u = result.usage
    usage = (
        f"in={u.input_tokens} out={u.output_tokens} total={u.total_tokens}"
        if u.known
        else "unknown"
    )
    print(
        f"provider={result.provider} model={result.model} latency={result.latency * 1000:.0f}ms "
        f"ttft={'-' if result.ttft is None else f'{result.ttft * 1000:.0f}ms'} "
        f"finish={result.finish_reason.value} usage: {usage}"
        + (" fallback_used" if result.fallback_used else ""),
        file=sys.stderr,
    )
    print_attempts(result.attempts)


def check_metrics_port(port: int | None) -> None:
    """``--metrics-port``: a port number, and the prometheus extra installed."""
    if port is None:
        return
    if not 0 <= port <= 65535:
        raise CliError(f"--metrics-port must be 0..65535, got {port}")
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise CliError(
            "--metrics-port needs prometheus-client: pip install 'hafs-actors[prometheus]'"
        ) from None
