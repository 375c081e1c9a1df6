"""``hafs demo``: the whole system working, with no configuration, keys or network."""

from __future__ import annotations

import argparse
from typing import Any

import trio
from rich.console import Console

from . import EXIT_OK, CliError
from ._common import check_metrics_port


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "demo",
        help="run the zero-config demo against the built-in emulators",
        description="Start the five emulated providers in-process (realistic latency, one "
        "flaky, one rate limited, one whose actor crashes once), fan out a few thousand "
        "requests across every tier, and report per-provider latency, fallbacks, and the "
        "supervision and breaker events.",
    )
    parser.add_argument("--requests", type=int, default=3000, help="how many requests")
    parser.add_argument("--concurrency", type=int, default=250, help="requests in flight")
    parser.add_argument("--seed", type=int, default=7, help="seed of prompts and faults")
    parser.add_argument("--no-progress", action="store_true", help="no live progress bar")
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve the orchestrator's Prometheus metrics on 127.0.0.1:PORT while it runs "
        "(0: a free port; needs the prometheus extra)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .demo_scenario import print_report, run_demo

    if args.requests < 1 or args.concurrency < 1:
        raise CliError("--requests and --concurrency must be >= 1")
    check_metrics_port(args.metrics_port)
    console = Console()
    console.print(
        "[bold]hafs demo[/]: 5 emulated providers on loopback; openai is flaky, anthropic is "
        "rate limited, ollama's adapter crashes its actor once.\n"
    )
    report = trio.run(
        lambda: run_demo(
            requests=args.requests,
            concurrency=args.concurrency,
            seed=args.seed,
            console=console,
            progress=not args.no_progress,
            metrics_port=args.metrics_port,
        )
    )
    print_report(report, console)
    # Injected faults make some failures expected; the demo itself succeeded.
    return EXIT_OK
