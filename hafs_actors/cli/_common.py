"""What the request commands share: options, building the orchestrator, printing results."""

from __future__ import annotations

import argparse
import json
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
from . import CliError

__all__ = [
    "add_request_options",
    "add_routing_options",
    "open_cli_orchestrator",
    "print_attempts",
    "routing_kwargs",
    "to_jsonable",
]


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
    if args.timeout is not None and args.timeout <= 0:
        raise CliError(f"--timeout must be positive, got {args.timeout}")
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
    """The orchestrator the command runs against: configured providers, or the emulators."""
    if getattr(args, "emulate", False):
        async with open_emulated_orchestrator() as (orch, _emulators):
            yield orch
        return
    config: HafsConfig = load_config(getattr(args, "config", None))
    if not config.configured_providers():
        raise CliError(
            "no provider is configured: set an API key (e.g. GEMINI_API_KEY), write "
            "~/.config/hafs/config.toml, or try --emulate (see `hafs config check`)",
            code=3,
        )
    async with UnifiedOrchestrator(config) as orch:
        yield orch


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
