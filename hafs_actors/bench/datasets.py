"""What each benchmark request asks: a prompt, its input length and its output budget.

As in vLLM's ``bench serve`` and GenAI-Perf: synthetic prompts whose input and output lengths
follow a distribution (fixed, uniform or normal), a JSONL file of prompts, or a ShareGPT file
(the first human turn is the prompt; the reply's length is the output budget). Request ``i``
of a run is a pure function of the dataset and the seed, so every target sees the same ones.
"""

from __future__ import annotations

import functools
import json
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol, TypeAlias, runtime_checkable

import attrs

from ..tokens import text_tokens
from .errors import BenchSpecError
from .prompts import synthetic_prompt

__all__ = [
    "BenchRequest",
    "Dataset",
    "FileDataset",
    "LengthDistribution",
    "SyntheticDataset",
    "load_jsonl_dataset",
    "load_sharegpt_dataset",
    "parse_length",
]

LengthKind: TypeAlias = Literal["fixed", "uniform", "normal"]


@attrs.frozen
class BenchRequest:
    """One request to send: ``input_tokens`` is the prompt's estimated length."""

    prompt: str
    input_tokens: int
    max_tokens: int


@runtime_checkable
class Dataset(Protocol):
    """Request ``index`` of a run seeded with ``seed``; ``describe()`` for the report."""

    def request(self, index: int, seed: int) -> BenchRequest: ...

    def describe(self) -> dict[str, object]: ...


@attrs.frozen
class LengthDistribution:
    """Token counts: ``fixed`` (``mean``), ``uniform`` on ``[low, high]`` or ``normal``
    (``mean``, ``std``), rounded and clamped to at least 1."""

    kind: LengthKind
    mean: float
    low: int = 0
    high: int = 0
    std: float = 0.0

    def sample(self, rng: random.Random) -> int:
        if self.kind == "uniform":
            return rng.randint(self.low, self.high)
        if self.kind == "normal":
            return max(1, round(rng.gauss(self.mean, self.std)))
        return max(1, round(self.mean))

    def __str__(self) -> str:
        if self.kind == "uniform":
            return f"uniform:{self.low}:{self.high}"
        if self.kind == "normal":
            return f"normal:{self.mean:g}:{self.std:g}"
        return f"{self.mean:g}"


def parse_length(text: str) -> LengthDistribution:
    """``128``, ``uniform:64:256`` or ``normal:512:64`` (mean, std)."""
    kind, _, rest = text.strip().partition(":")
    try:
        if not rest:
            value = int(kind)
            if value < 1:
                raise ValueError
            return LengthDistribution("fixed", float(value))
        a, sep, b = rest.partition(":")
        if kind == "uniform" and sep:
            low, high = int(a), int(b)
            if not 1 <= low <= high:
                raise ValueError
            return LengthDistribution("uniform", (low + high) / 2, low=low, high=high)
        if kind == "normal" and sep:
            mean, std = float(a), float(b)
            if not (mean >= 1 and std >= 0 and math.isfinite(mean) and math.isfinite(std)):
                raise ValueError
            return LengthDistribution("normal", mean, std=std)
    except ValueError:
        pass
    raise BenchSpecError(
        f"token length {text!r}: expected N (>= 1), uniform:MIN:MAX or normal:MEAN:STD"
    )


@attrs.frozen
class SyntheticDataset:
    """Synthetic text of ``input`` tokens asking for ``output`` tokens, distinct per request so
    no prompt cache helps."""

    input: LengthDistribution
    output: LengthDistribution

    def request(self, index: int, seed: int) -> BenchRequest:
        rng = random.Random(seed * 7_919 + index)
        tokens = self.input.sample(rng)
        return BenchRequest(
            synthetic_prompt(tokens, seed=seed, index=index), tokens, self.output.sample(rng)
        )

    def describe(self) -> dict[str, object]:
        return {
            "kind": "synthetic",
            "input_tokens": str(self.input),
            "output_tokens": str(self.output),
        }


@attrs.frozen
class FileDataset:
    """Prompts read from a file, taken in a seeded random order (cycling when the run needs
    more than the file holds). Entries without an output length get ``max_tokens``."""

    kind: str
    path: str
    prompts: Sequence[tuple[str, int | None]] = attrs.field(repr=False)
    max_tokens: int = 128

    def request(self, index: int, seed: int) -> BenchRequest:
        rounds, position = divmod(index, len(self.prompts))
        prompt, output = self.prompts[_order(len(self.prompts), seed, rounds)[position]]
        return BenchRequest(prompt, text_tokens(prompt), output or self.max_tokens)

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "path": self.path, "prompts": len(self.prompts)}


@functools.lru_cache(maxsize=4)
def _order(n: int, seed: int, rounds: int) -> tuple[int, ...]:
    order = list(range(n))
    random.Random(seed * 1_000_003 + rounds).shuffle(order)
    return tuple(order)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BenchSpecError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise BenchSpecError(f"{path}: not UTF-8 text (offset {exc.start})") from None


def load_jsonl_dataset(path: str | Path, *, max_tokens: int = 128) -> FileDataset:
    """One JSON object per line: ``prompt`` (or ``text``) and optionally ``max_tokens`` (or
    ``output_tokens``)."""
    source = Path(path)
    prompts: list[tuple[str, int | None]] = []
    for number, line in enumerate(_read_lines(source), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchSpecError(f"{source}:{number}: not JSON ({exc.msg})") from None
        prompt = row.get("prompt", row.get("text")) if isinstance(row, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise BenchSpecError(f"{source}:{number}: needs a non-empty string 'prompt'")
        output = row.get("max_tokens", row.get("output_tokens"))
        if output is not None and (not isinstance(output, int) or output < 1):
            raise BenchSpecError(f"{source}:{number}: max_tokens must be an integer >= 1")
        prompts.append((prompt, output))
    if not prompts:
        raise BenchSpecError(f"{source}: no prompts")
    return FileDataset("jsonl", str(source), prompts, max_tokens)


def load_sharegpt_dataset(path: str | Path, *, max_tokens: int = 128) -> FileDataset:
    """A ShareGPT JSON file (a list of ``{"conversations": [{"from", "value"}, ...]}``), read
    as vLLM does: the first turn is the prompt, the second turn's length the output budget;
    conversations with fewer than two turns are skipped."""
    source = Path(path)
    try:
        data = json.loads("\n".join(_read_lines(source)))
    except json.JSONDecodeError as exc:
        raise BenchSpecError(f"{source}: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, list):
        raise BenchSpecError(f"{source}: a ShareGPT file is a JSON list of conversations")
    prompts: list[tuple[str, int | None]] = []
    for entry in data:
        turns = entry.get("conversations") if isinstance(entry, dict) else None
        if not isinstance(turns, list) or len(turns) < 2:
            continue
        first, second = turns[0], turns[1]
        if not (isinstance(first, dict) and isinstance(second, dict)):
            continue
        prompt, reply = first.get("value"), second.get("value")
        if isinstance(prompt, str) and prompt.strip() and isinstance(reply, str):
            prompts.append((prompt, max(1, text_tokens(reply))))
    if not prompts:
        raise BenchSpecError(f"{source}: no conversation with two turns")
    return FileDataset("sharegpt", str(source), prompts, max_tokens)
