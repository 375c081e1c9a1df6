"""``hafs status``: which providers are configured, reachable and healthy."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import trio
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..config import load_config
from . import EXIT_FAILED, EXIT_OK
from ._common import finite, open_cli_orchestrator, to_jsonable


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "status",
        help="show providers: configured, reachable, healthy",
        description="Start the runtime, ask every configured provider for its health, and print "
        "a table (or JSON). Exit code 1 when a configured provider is unhealthy.",
    )
    parser.add_argument("--config", help="config file (default: $HAFS_CONFIG or ~/.config/hafs)")
    parser.add_argument("--emulate", action="store_true", help="use the built-in emulators")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--timeout", type=float, default=5.0, help="health check timeout (s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    finite("--timeout", args.timeout)
    unconfigured: dict[str, str] = {}
    if not args.emulate:
        config = load_config(args.config)
        unconfigured = {
            name: p.unconfigured_reason or ""
            for name, p in config.providers.items()
            if not p.configured
        }

    async def main() -> int:
        async with open_cli_orchestrator(args) as orch:
            health = await orch.health(timeout=args.timeout)
            status = orch.status()
        rows: list[dict[str, Any]] = []
        for name, h in health.items():
            stats = status.providers[name]
            rows.append(
                {
                    "provider": name,
                    "configured": True,
                    "healthy": h.ok,
                    "latency_ms": None if h.latency is None else round(h.latency * 1000, 1),
                    "detail": h.detail,
                    "breaker": stats.breaker.state.value,
                    "down": stats.down,
                }
            )
        for name, reason in sorted(unconfigured.items()):
            rows.append({"provider": name, "configured": False, "healthy": None, "detail": reason})
        if args.json:
            json.dump(to_jsonable(rows), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            table = Table(title="hafs providers")
            for col in ("provider", "configured", "healthy", "latency", "breaker"):
                table.add_column(col, no_wrap=True)
            table.add_column("detail", overflow="fold")
            for r in rows:
                healthy = r["healthy"]
                table.add_row(
                    escape(r["provider"]),
                    "yes" if r["configured"] else "no",
                    "-" if healthy is None else ("[green]ok[/]" if healthy else "[red]failing[/]"),
                    "-" if r.get("latency_ms") is None else f"{r['latency_ms']} ms",
                    escape(str(r.get("breaker", "-"))),
                    escape(str(r["detail"])),
                )
            Console().print(table)
        return EXIT_OK if all(h.ok for h in health.values()) else EXIT_FAILED

    return trio.run(main)
