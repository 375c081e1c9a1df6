"""The ``hafs`` command line.

Each subcommand lives in its own module exposing ``register(subparsers)``; the module sets
``func`` on its parser to a callable taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..errors import ConfigError, HafsError

__all__ = ["EXIT_CONFIG", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "CliError", "main"]

EXIT_OK = 0
EXIT_FAILED = 1  # the request or run failed (provider errors, all candidates failed)
EXIT_USAGE = 2  # bad arguments
EXIT_CONFIG = 3  # bad configuration
EXIT_INTERRUPTED = 130

# Subcommand modules, in the order they appear in --help. A module missing here is skipped.
_COMMANDS = ("generate", "stream", "embed", "status", "config", "emulate", "bench", "demo")


class CliError(Exception):
    """A user mistake: printed as one line on stderr, no traceback."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hafs",
        description="Route LLM requests across providers with a trio actor runtime.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_OK if args.command is None else EXIT_USAGE
    try:
        return int(func(args))
    except CliError as exc:
        print(f"hafs: error: {exc}", file=sys.stderr)
        return exc.code
    except ConfigError as exc:
        print(f"hafs: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except HafsError as exc:
        print(f"hafs: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("hafs: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
