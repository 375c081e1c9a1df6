"""``hafs stream PROMPT``: print tokens as they arrive."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import trio

from . import EXIT_OK
from ._common import (
    note_substitution,
    open_cli_orchestrator,
    print_result_details,
    to_jsonable,
)
from .generate import add_generation_options, generation_kwargs


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "stream",
        help="stream a completion token by token",
        description="Stream a completion, printing text as it arrives. With --json, one JSON "
        "event per line (NDJSON).",
    )
    add_generation_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    kwargs = generation_kwargs(args)

    async def main() -> int:
        async with open_cli_orchestrator(args) as orch, orch.stream(**kwargs) as stream:
            if args.json:
                async for event in stream.events():
                    line = {"type": type(event).__name__, **to_jsonable(event)}
                    sys.stdout.write(json.dumps(line) + "\n")
                    sys.stdout.flush()
            else:
                async for text in stream:
                    sys.stdout.write(text)
                    sys.stdout.flush()
                sys.stdout.write("\n")
            result = stream.result
        note_substitution(args, result)
        if args.verbose:
            print_result_details(result)
        return EXIT_OK

    return trio.run(main)
