"""``hafs embed TEXT...``: embedding vectors, routed like generation."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import trio

from . import EXIT_OK, CliError
from ._common import (
    add_request_options,
    add_routing_options,
    open_cli_orchestrator,
    print_attempts,
    read_stdin,
    read_text_arg,
    routing_kwargs,
    to_jsonable,
)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "embed",
        help="embed one or more texts",
        description="Embed texts. Prints one JSON array per text (or, with --json, the whole "
        "result with provider, model, usage and attempts).",
    )
    parser.add_argument("texts", nargs="+", metavar="TEXT", help="text to embed ('-': stdin)")
    parser.add_argument("--dimensions", type=int, help="output dimensions, where supported")
    add_routing_options(parser)
    add_request_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    texts = [(read_stdin() or "") if t == "-" else read_text_arg(t, "TEXT") for t in args.texts]
    if any(not t.strip() for t in texts):
        raise CliError("cannot embed an empty text")
    kwargs = routing_kwargs(args)

    async def main() -> int:
        async with open_cli_orchestrator(args) as orch:
            result = await orch.embeddings(texts, dimensions=args.dimensions, **kwargs)
        if args.json:
            json.dump(to_jsonable(result), sys.stdout)
            sys.stdout.write("\n")
        else:
            for vector in result.vectors:
                print(json.dumps(vector))
            if args.verbose:
                dims = len(result.vectors[0]) if result.vectors else 0
                print(
                    f"provider={result.provider} model={result.model} vectors={len(result.vectors)}"
                    f" dimensions={dims} latency={result.latency * 1000:.0f}ms",
                    file=sys.stderr,
                )
                print_attempts(result.attempts)
        return EXIT_OK

    return trio.run(main)
