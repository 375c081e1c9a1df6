"""``hafs generate PROMPT``: one completion, routed like the library does it."""

from __future__ import annotations

import argparse
from typing import Any

import trio

from . import EXIT_OK, CliError
from ._common import (
    add_request_options,
    add_routing_options,
    finite,
    note_substitution,
    open_cli_orchestrator,
    print_json,
    print_result_details,
    read_stdin,
    read_text_arg,
    routing_kwargs,
)


def add_generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "prompt",
        nargs="?",
        help="the prompt; piped standard input comes before it, as in llm ('-' or none: "
        "standard input only)",
    )
    parser.add_argument("--system", help="system prompt")
    parser.add_argument("--max-tokens", type=int, help="maximum output tokens")
    parser.add_argument("--temperature", type=float, help="sampling temperature")
    add_routing_options(parser)
    add_request_options(parser)


def prompt_text(argument: str | None) -> str:
    """The prompt as simonw's llm builds it: piped stdin, then a space and the argument."""
    given = None if argument in (None, "-") else read_text_arg(argument, "the prompt")
    piped = read_stdin()
    prompt = " ".join(part for part in (piped, given) if part)
    if not prompt.strip():
        raise CliError("the prompt is empty: give it as an argument or pipe it on stdin")
    return prompt


def generation_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    prompt = prompt_text(args.prompt)
    if args.max_tokens is not None and args.max_tokens < 1:
        raise CliError(f"--max-tokens must be >= 1, got {args.max_tokens}")
    finite("--temperature", args.temperature, positive=False)
    return {
        "prompt": prompt,
        "system_prompt": args.system,
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        **routing_kwargs(args),
    }


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "generate",
        help="generate a completion",
        description="Generate a completion. Prints the content; -v adds provider, model, "
        "attempts, latency and usage on stderr.",
    )
    add_generation_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    kwargs = generation_kwargs(args)

    async def main() -> int:
        async with open_cli_orchestrator(args) as orch:
            result = await orch.generate(**kwargs)
        note_substitution(args, result)
        if args.json:
            print_json(result)
        else:
            print(result.content)
            if args.verbose:
                print_result_details(result)
        return EXIT_OK

    return trio.run(main)
