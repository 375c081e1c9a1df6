"""The ``hafs`` command line.

Each subcommand lives in its own module exposing ``register(subparsers)``; the module sets
``func`` on its parser to a callable taking the parsed namespace and returning an exit code.

Every failure ends here as one line on stderr (plus the attempts under ``-v``) and a documented
exit code; with ``--json`` it is also a JSON object with an ``error`` field on stdout, so a
script reading stdout always gets a document. No input produces a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .._groups import sole_exception

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup
from ..errors import AllProvidersFailed, ConfigError, HafsError

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "error_record",
    "main",
]

EXIT_OK = 0
EXIT_FAILED = 1  # the request or run failed (provider errors, all candidates failed)
EXIT_USAGE = 2  # bad arguments or input
EXIT_CONFIG = 3  # bad configuration
EXIT_INTERRUPTED = 130  # Ctrl-C, SIGTERM

# Subcommand modules, in the order they appear in --help. A module missing here is skipped.
_COMMANDS = (
    "generate",
    "stream",
    "embed",
    "batch",
    "status",
    "config",
    "emulate",
    "bench",
    "demo",
)


class CliError(Exception):
    """A user mistake or a failure already explained: one line on stderr, no traceback.

    ``usage`` (the offending parser's usage line) is printed first for argument errors, so the
    user sees the subcommand's usage, not the top level's.
    """

    def __init__(
        self, message: str, code: int = EXIT_USAGE, *, usage: str = "", prog: str = "hafs"
    ) -> None:
        super().__init__(message)
        self.code = code
        self.usage = usage
        self.prog = prog


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """``; did you mean 'x'?`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_choice(option: str, value: str, choices: Sequence[str]) -> None:
    """Reject ``value`` unless it is one of ``choices``, naming the closest and all of them."""
    if value not in choices:
        raise CliError(
            f"{option}: unknown {value!r}{did_you_mean(value, choices)} "
            f"(choose from {', '.join(choices)})"
        )


class HafsArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are :class:`CliError` (so ``--json`` and exit codes apply) and
    whose bad choices and unknown options name the closest valid one."""

    def error(self, message: str) -> NoReturn:
        raise CliError(message, usage=self.format_usage(), prog=self.prog)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is not None and value not in choices:
            names = [str(c) for c in choices]
            raise argparse.ArgumentError(
                action,
                f"invalid choice: {value!r}{did_you_mean(str(value), names)} "
                f"(choose from {', '.join(names)})",
            )

    def unrecognized(self, extras: Sequence[str]) -> NoReturn:
        options = [s for a in self._actions for s in a.option_strings]
        hints = [did_you_mean(e.split("=")[0], options) for e in extras if e.startswith("-")]
        self.error(f"unrecognized arguments: {' '.join(extras)}{next((h for h in hints if h), '')}")


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("hafs-actors")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - source checkout
        from .. import __version__

        return __version__


def build_parser() -> tuple[HafsArgumentParser, dict[str, HafsArgumentParser]]:
    """The top-level parser and each subcommand's parser by name."""
    parser = HafsArgumentParser(
        prog="hafs",
        description="Route LLM requests across providers with a trio actor runtime.",
        epilog="exit codes: 0 ok, 1 provider or run failure, 2 usage error, 3 configuration "
        "error, 130 interrupted. See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"hafs {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        module.register(sub)
    return parser, dict(sub.choices)


# --- failures ---------------------------------------------------------------------------------


def _leaf(exc: BaseException) -> BaseException:
    if isinstance(exc, BaseExceptionGroup):
        return sole_exception(exc) or exc
    return exc


def exit_code(exc: BaseException) -> int:
    """The documented exit code of a failure."""
    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, ConfigError):
        return EXIT_CONFIG
    if isinstance(exc, (ValueError, UnicodeError)):
        return EXIT_USAGE
    return EXIT_FAILED


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _attempt_error(a: Any) -> str:
    """An attempt's error without the ``provider/model: `` prefix the line already shows."""
    text = str(a.error or "")
    prefix = f"{a.provider}/{a.model}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def failure_lines(exc: BaseException, *, verbose: bool = False) -> list[str]:
    """The failure as printed: one line, then one per failed candidate (repeats folded into a
    count), or every attempt with ``verbose``."""
    if isinstance(exc, KeyboardInterrupt):
        return ["hafs: interrupted"]
    if isinstance(exc, CliError):
        return [f"{exc.prog}: error: {exc}"]
    if isinstance(exc, ConfigError):
        return [f"hafs: config error: {_first_line(exc)}"]
    if not isinstance(exc, (HafsError, ValueError, UnicodeError, OSError)):
        return [
            f"hafs: internal error: {type(exc).__name__}: {_first_line(exc)} "
            "(set HAFS_DEBUG=1 for the traceback)"
        ]
    lines = [f"hafs: {type(exc).__name__}: {_first_line(exc)}"]
    attempts = getattr(exc, "attempts", ())
    if verbose:
        for a in attempts:
            retry = f" retry {a.retry}" if a.retry else ""
            detail = f": {_attempt_error(a)}" if a.error else ""
            lines.append(
                f"  attempt {a.provider}/{a.model}{retry}: {a.outcome} "
                f"in {a.latency * 1000:.0f} ms{detail}"
            )
        return lines
    groups: dict[tuple[str, str, str, str], int] = {}
    for a in attempts:
        key = (a.provider, a.model, a.outcome, _attempt_error(a))
        groups[key] = groups.get(key, 0) + 1
    for (provider, model, outcome, error), n in groups.items():
        times = f" ({n} attempts)" if n > 1 else ""
        detail = f": {error}" if error else ""
        lines.append(f"  - {provider}/{model}: {outcome}{detail}{times}")
    return lines


def error_record(exc: BaseException) -> dict[str, Any]:
    """The ``error`` object of ``--json`` output: type, message, exit code and attempts."""
    attempts = [
        {
            "provider": a.provider,
            "model": a.model,
            "outcome": a.outcome,
            "error": a.error,
            "latency": round(a.latency, 6),
            "retry": a.retry,
        }
        for a in getattr(exc, "attempts", ())
    ]
    kind = "UsageError" if isinstance(exc, CliError) else type(exc).__name__
    if isinstance(exc, KeyboardInterrupt):
        message = "interrupted"
    elif isinstance(exc, AllProvidersFailed):
        message = _first_line(exc)
    else:
        message = str(exc).strip() or kind
    return {"type": kind, "message": message, "exit_code": exit_code(exc), "attempts": attempts}


def report_failure(exc: BaseException, *, as_json: bool, verbose: bool) -> int:
    """Print ``exc`` (stderr, and a JSON error object on stdout with ``--json``); its code."""
    if isinstance(exc, CliError) and exc.usage:
        sys.stderr.write(exc.usage)
    for line in failure_lines(exc, verbose=verbose):
        print(line, file=sys.stderr)
    if as_json:
        json.dump({"error": error_record(exc)}, sys.stdout)
        sys.stdout.write("\n")
        sys.stdout.flush()
    return exit_code(exc)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser, commands = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
    except CliError:
        # A misspelt option's value can be taken for a positional argument and fail first
        # (`--concurency 4`: "invalid choice: '4'"); name the misspelt option instead.
        command = next((a for a in argv if not a.startswith("-")), None)
        sub = commands.get(command or "")
        if sub is not None:
            known = {s for action in sub._actions for s in action.option_strings}
            unknown = [a for a in argv if a.startswith("--") and a.split("=")[0] not in known]
            if unknown:
                sub.unrecognized(unknown)
        raise
    if extras:
        commands.get(args.command, parser).unrecognized(extras)
    if getattr(args, "func", None) is None:
        if args.command is not None:  # `hafs config` without its action, say
            commands[args.command].print_help()
            raise CliError(f"hafs {args.command}: give an action")
        parser.print_help()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hafs`` and return its exit code. Errors in the arguments themselves raise
    ``SystemExit`` with code 2 after printing, as argparse does."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in arguments
    verbose = False
    try:
        try:
            args = _parse(arguments)
        except SystemExit as exc:  # --help, --version
            return int(exc.code or 0)
        as_json = bool(getattr(args, "json", False))
        verbose = bool(getattr(args, "verbose", False))
        func = getattr(args, "func", None)
        return EXIT_OK if func is None else int(func(args))
    except BrokenPipeError:
        # The reader went away (`hafs ... | head`): nothing more to say, and nowhere to say it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except (Exception, KeyboardInterrupt, BaseExceptionGroup) as caught:
        if os.environ.get("HAFS_DEBUG"):
            raise
        code = report_failure(_leaf(caught), as_json=as_json, verbose=verbose)
        if isinstance(caught, CliError) and caught.usage:
            raise SystemExit(code) from None  # argument errors leave as argparse's do
        return code


if __name__ == "__main__":
    sys.exit(main())
