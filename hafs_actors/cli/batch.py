"""``hafs batch INPUT.jsonl -o OUTPUT.jsonl``: one request per line, resumable.

Each input line is a JSON object: ``id`` (a string or number; the line number when absent),
``prompt`` or ``messages``, and optionally ``system``, ``max_tokens``, ``temperature``,
``stop``, ``tier``, ``provider``, ``model``. Each result is one output line carrying the
input's ``id``, written as soon as the request completes with a single ``write`` of the whole
line, so killing the command never leaves half a result behind (except a torn last line on a
crash inside that write, which the next run cuts off). A re-run skips the ids already in the
output. Memory stays bounded whatever the input's length: lines are read lazily, at most
``--concurrency`` requests are in flight, and the ids already done are kept as 8-byte hashes.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import os
import signal
import sys
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import trio

from ..types import GenerateResult
from . import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError, error_record
from ._common import (
    add_request_options,
    add_routing_options,
    finite,
    open_cli_orchestrator,
    routing_kwargs,
    to_jsonable,
)

__all__ = ["register"]

_OPTIONS = {
    "system": "system_prompt",
    "max_tokens": "max_tokens",
    "temperature": "temperature",
    "stop": "stop",
    "tier": "tier",
    "provider": "provider",
    "model": "model",
}
_PROGRESS_EVERY = 0.2  # seconds between progress line refreshes
_SCAN_BLOCK = 1 << 16


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "batch",
        help="run one request per line of a JSONL file, resumably",
        description="Run the requests of a JSONL file (id, prompt or messages, options) with "
        "bounded concurrency and write each result as a JSONL line with its input's id as it "
        "completes. Re-running skips the ids already in the output.",
    )
    parser.add_argument("input", metavar="INPUT.jsonl", help="requests, one JSON object a line")
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUTPUT.jsonl", help="results (appended)"
    )
    parser.add_argument(
        "-c", "--concurrency", type=int, default=16, metavar="N", help="requests in flight"
    )
    parser.add_argument("--no-progress", action="store_true", help="no live progress line")
    parser.add_argument("--system", help="system prompt of lines that give none")
    parser.add_argument("--max-tokens", type=int, help="output budget of lines that give none")
    parser.add_argument("--temperature", type=float, help="temperature of lines that give none")
    add_routing_options(parser)
    add_request_options(parser)
    parser.set_defaults(func=run)


# --- resuming -----------------------------------------------------------------------------------


def _id_key(value: Any) -> int:
    """A 64-bit hash of an id's JSON form: 1M done ids cost 8 MB, not a set of strings."""
    digest = hashlib.blake2b(json.dumps(value).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _cut_torn_tail(path: Path) -> int:
    """Truncate a last line without its newline (a write cut short); bytes removed."""
    with path.open("r+b") as f:
        end = f.seek(0, os.SEEK_END)
        pos = end
        while pos > 0:
            start = max(0, pos - _SCAN_BLOCK)
            f.seek(start)
            block = f.read(pos - start)
            if pos == end and block.endswith(b"\n"):
                return 0
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                f.truncate(keep)
                return end - keep
            pos = start
        f.truncate(0)
        return end


def _done_ids(path: Path) -> tuple[array[int], int]:
    """The sorted id hashes already in ``path`` and the bytes of torn tail removed.

    Hashes are gathered in 256 buckets by their top byte and each bucket sorted on its own,
    so sorting never holds more than one bucket as Python ints (sorting all of them at once
    would briefly cost 36 bytes per id instead of 8).
    """
    buckets: list[array[int]] = [array("q") for _ in range(256)]
    if not path.exists():
        return array("q"), 0
    torn = _cut_torn_tail(path)
    with path.open("rb") as f:
        for line in f:
            try:
                key = _id_key(json.loads(line)["id"])
            except (ValueError, KeyError, TypeError):
                continue  # not a result line: leave it be
            buckets[(key >> 56) + 128].append(key)
    keys: array[int] = array("q")
    for bucket in buckets:
        keys.extend(sorted(bucket))
        del bucket[:]
    return keys, torn


def _contains(keys: array[int], key: int) -> bool:
    i = bisect.bisect_left(keys, key)
    return i < len(keys) and keys[i] == key


# --- input --------------------------------------------------------------------------------------


@attrs.frozen
class _Item:
    id: Any
    kwargs: dict[str, Any] | None = None
    problem: str | None = None  # the line cannot be run: why


def _parse_line(number: int, raw: bytes) -> _Item:
    try:
        row = json.loads(raw)
    except UnicodeDecodeError as exc:
        return _Item(number, problem=f"line {number}: not UTF-8 (offset {exc.start})")
    except ValueError as exc:
        return _Item(number, problem=f"line {number}: not JSON ({exc})")
    if not isinstance(row, dict):
        return _Item(number, problem=f"line {number}: expected a JSON object")
    ident = row.get("id", number)
    if not isinstance(ident, (str, int)) or isinstance(ident, bool):
        return _Item(number, problem=f"line {number}: id must be a string or an integer")
    kwargs: dict[str, Any] = {}
    prompt, messages = row.get("prompt"), row.get("messages")
    if (prompt is None) == (messages is None):
        return _Item(ident, problem=f"line {number}: give exactly one of prompt and messages")
    if prompt is not None:
        if not isinstance(prompt, str) or not prompt.strip():
            return _Item(ident, problem=f"line {number}: prompt must be a non-empty string")
        kwargs["prompt"] = prompt
    else:
        kwargs["messages"] = messages
    unknown = sorted(set(row) - {"id", "prompt", "messages", *_OPTIONS})
    if unknown:
        return _Item(
            ident,
            problem=f"line {number}: unknown field {unknown[0]!r} "
            f"(fields: id, prompt, messages, {', '.join(_OPTIONS)})",
        )
    for key, name in _OPTIONS.items():
        if key in row:
            kwargs[name] = row[key]
    return _Item(ident, kwargs)


def _items(path: Path, done: array[int], counts: _Counts) -> Iterator[_Item]:
    """The input's lines, read lazily, minus the ids already done."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            item = _parse_line(number, raw)
            if done and _contains(done, _id_key(item.id)):
                counts.skipped += 1
                continue
            yield item


# --- output -------------------------------------------------------------------------------------


def _result_line(ident: Any, result: GenerateResult) -> dict[str, Any]:
    return {
        "id": ident,
        "ok": True,
        "content": result.content,
        "provider": result.provider,
        "model": result.model,
        "finish_reason": result.finish_reason.value,
        "usage": to_jsonable(result.usage),
        "latency": round(result.latency, 6),
        "fallback_used": result.fallback_used,
    }


def _write_line(fd: int, record: dict[str, Any]) -> None:
    """One result, one ``write`` of the whole line (O_APPEND): no interleaving, no torn line
    short of a crash inside the system call."""
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode()
    while data:
        data = data[os.write(fd, data) :]


@attrs.define
class _Counts:
    ok: int = 0
    failed: int = 0
    invalid: int = 0
    skipped: int = 0
    in_flight: int = 0

    @property
    def done(self) -> int:
        return self.ok + self.failed + self.invalid


async def _progress(counts: _Counts, started: float) -> None:
    while True:
        await trio.sleep(_PROGRESS_EVERY)
        elapsed = trio.current_time() - started
        rate = counts.done / elapsed if elapsed > 0 else 0.0
        sys.stderr.write(
            f"\r\x1b[Khafs batch: {counts.done} done ({counts.ok} ok, "
            f"{counts.failed + counts.invalid} failed), {counts.skipped} skipped, "
            f"{counts.in_flight} in flight, {rate:.0f}/s"
        )
        sys.stderr.flush()


async def _run(args: argparse.Namespace, input_path: Path, output: Path) -> tuple[_Counts, bool]:
    done, torn = _done_ids(output)
    if torn:
        print(f"hafs batch: removed a torn last line ({torn} bytes) from {output}", file=sys.stderr)
    counts = _Counts()
    defaults = {k: v for k, v in routing_kwargs(args).items() if v is not None}
    for name, value in (
        ("system_prompt", args.system),
        ("max_tokens", args.max_tokens),
        ("temperature", args.temperature),
    ):
        if value is not None:
            defaults[name] = value
    fd = os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    interrupted = False
    try:
        async with open_cli_orchestrator(args) as orch:
            slots = trio.Semaphore(args.concurrency)

            async def one(item: _Item) -> None:
                try:
                    if item.problem is not None:
                        counts.invalid += 1
                        error = {"type": "InvalidLine", "message": item.problem, "attempts": []}
                        _write_line(fd, {"id": item.id, "ok": False, "error": error})
                        return
                    assert item.kwargs is not None
                    try:
                        result = await orch.generate(**{**defaults, **item.kwargs})
                    except Exception as exc:
                        counts.failed += 1
                        _write_line(fd, {"id": item.id, "ok": False, "error": error_record(exc)})
                        return
                    counts.ok += 1
                    _write_line(fd, _result_line(item.id, result))
                finally:
                    counts.in_flight -= 1
                    slots.release()

            show = not args.no_progress and sys.stderr.isatty()
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP) as signals:
                async with trio.open_nursery() as outer:

                    async def watch() -> None:
                        nonlocal interrupted
                        async for _ in signals:
                            interrupted = True
                            outer.cancel_scope.cancel()

                    outer.start_soon(watch)
                    if show:
                        outer.start_soon(_progress, counts, trio.current_time())
                    async with trio.open_nursery() as requests:
                        for item in _items(input_path, done, counts):
                            await slots.acquire()
                            counts.in_flight += 1
                            requests.start_soon(one, item)
                    outer.cancel_scope.cancel()
            if show:
                sys.stderr.write("\r\x1b[K")
    finally:
        os.close(fd)
    return counts, interrupted


def run(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise CliError(f"--concurrency must be at least 1, got {args.concurrency}")
    finite("--timeout", args.timeout)
    input_path, output = Path(args.input), Path(args.output)
    if not input_path.is_file():
        raise CliError(f"{args.input}: no such file")
    if output.exists() and output.resolve() == input_path.resolve():
        raise CliError("the output must not be the input file")
    if output.exists() and not output.is_file():
        raise CliError(f"-o {args.output}: not a regular file")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.touch()
    except OSError as exc:
        raise CliError(f"-o {args.output}: cannot write ({exc.strerror or exc})") from None
    counts, interrupted = trio.run(_run, args, input_path, output)
    summary = {
        "ok": counts.ok,
        "failed": counts.failed,
        "invalid": counts.invalid,
        "skipped": counts.skipped,
        "output": str(output),
        "interrupted": interrupted,
    }
    print(
        f"hafs batch: {counts.ok} ok, {counts.failed} failed, {counts.invalid} invalid lines, "
        f"{counts.skipped} skipped (already in {output})"
        + ("; interrupted, re-run to resume" if interrupted else ""),
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps(summary))
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if counts.failed or counts.invalid else EXIT_OK
