"""``hafs config show|check``: the effective configuration and where each value came from.

Output never contains key material: keys are shown as ``set (from env X)``. A bad configuration
exits with code 3 and one message on stderr naming the file (or variable) and the key.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..config import HafsConfig, flatten, format_key, load_config, resolve_config_path
from . import EXIT_CONFIG, EXIT_OK

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "config",
        help="show or check the configuration",
        description="Show or check the effective configuration "
        "(arguments > environment > file > defaults).",
    )
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    show = actions.add_parser(
        "show", help="print every effective setting and its source (keys redacted)"
    )
    check = actions.add_parser("check", help="validate the configuration; exit 3 if it is invalid")
    check.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 3)")
    for sub in (show, check):
        sub.add_argument(
            "--config",
            metavar="PATH",
            help="the TOML file (default: $HAFS_CONFIG, $XDG_CONFIG_HOME/hafs/config.toml, "
            "~/.config/hafs/config.toml)",
        )
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=_show)
    check.set_defaults(func=_check)


def _file_line(args: argparse.Namespace, config: HafsConfig) -> tuple[str, bool]:
    path, _ = resolve_config_path(args.config)
    return str(path), config.source_file is not None


def _provider_status(config: HafsConfig) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "kind": p.kind,
            "configured": p.configured,
            "reason": p.unconfigured_reason,
        }
        for name, p in config.providers.items()
    }


def _show(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    path, found = _file_line(args, config)
    tree = config.redacted()
    leaves = flatten(tree)
    sources = {format_key(k): config.sources.get(format_key(k), "default") for k, _ in leaves}
    if args.json:
        payload = {
            "file": path,
            "file_found": found,
            "config": tree,
            "sources": sources,
            "providers": _provider_status(config),
            "warnings": list(config.warnings()),
        }
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    print(f"# config file: {path}" + ("" if found else " (not found: defaults)"))
    print("# precedence: arguments > environment > file > defaults")
    lines = [(format_key(k), json.dumps(v)) for k, v in leaves]
    width = min(max(len(k) + len(v) for k, v in lines) + 3, 80)
    for key, value in lines:
        text = f"{key} = {value}"
        print(f"{text.ljust(width)} # {sources[key]}")
    print()
    _print_providers(config)
    for warning in config.warnings():
        print(f"warning: {warning}")
    return EXIT_OK


def _print_providers(config: HafsConfig) -> None:
    print("# providers")
    width = max(len(name) for name in config.providers)
    for name, p in config.providers.items():
        state = "configured" if p.configured else f"not configured: {p.unconfigured_reason}"
        print(f"#   {name.ljust(width)}  {state}")


def _check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    path, found = _file_line(args, config)
    warnings = config.warnings()
    failed = bool(args.strict and warnings)
    if args.json:
        payload = {
            "ok": not failed,
            "file": path,
            "file_found": found,
            "configured": list(config.configured_providers()),
            "not_configured": {
                name: p.unconfigured_reason
                for name, p in config.providers.items()
                if not p.configured
            },
            "warnings": list(warnings),
        }
        print(json.dumps(payload, indent=2))
    else:
        where = path if found else f"{path} not found, defaults and environment"
        configured = ", ".join(config.configured_providers()) or "none"
        print(f"config OK ({where}); configured providers: {configured}")
        for name, p in config.providers.items():
            if not p.configured:
                print(f"  {name}: not configured ({p.unconfigured_reason})")
    for warning in warnings:
        print(f"hafs: warning: {warning}", file=sys.stderr)
    return EXIT_CONFIG if failed else EXIT_OK
