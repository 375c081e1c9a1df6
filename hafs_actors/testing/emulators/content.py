"""Deterministic reply text, token counts, tool-call arguments and embeddings.

Everything here is a pure function of its inputs (request content, model, seed), so the same
request always gets the same reply and tests can compare bytes. Tokens are counted one way
everywhere: a token is a run of word characters or one punctuation mark, and a streamed piece is
exactly one token with its leading whitespace, so ``count_tokens(text) == len(pieces)`` and the
usage fields always agree with the content.
"""

from __future__ import annotations

import array
import hashlib
import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Literal

import attrs

__all__ = [
    "Generation",
    "ToolCallPlan",
    "ToolSpec",
    "count_tokens",
    "embedding_vector",
    "generate_reply",
    "split_pieces",
    "stable_id",
]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])")

_WORDS = [
    "the",
    "system",
    "routes",
    "each",
    "request",
    "to",
    "a",
    "provider",
    "that",
    "answers",
    "with",
    "a",
    "short",
    "and",
    "plausible",
    "reply",
    "model",
    "latency",
    "token",
    "stream",
    "window",
    "budget",
    "actor",
    "mailbox",
    "supervisor",
    "restart",
    "policy",
    "limit",
    "quota",
    "client",
    "server",
    "socket",
    "buffer",
    "chunk",
    "event",
    "parser",
    "adapter",
    "transport",
    "retry",
    "fallback",
    "circuit",
    "breaker",
    "health",
    "probe",
    "deadline",
    "timeout",
    "signal",
    "cancel",
    "scope",
    "nursery",
    "task",
    "channel",
    "message",
    "reply",
    "result",
    "usage",
    "count",
    "cost",
    "route",
    "tier",
    "fast",
    "reasoning",
    "coding",
    "research",
    "creative",
    "plan",
    "design",
    "review",
    "test",
    "check",
    "measure",
    "report",
    "summary",
    "detail",
    "example",
    "answer",
    "question",
    "idea",
    "note",
    "clear",
    "simple",
    "careful",
    "quick",
    "steady",
    "stable",
    "robust",
    "typed",
    "bounded",
    "lean",
    "honest",
    "useful",
    "small",
    "large",
    "first",
    "next",
    "last",
    "every",
    "each",
    "other",
    "new",
    "old",
    "good",
    "better",
    "best",
    "main",
    "local",
    "remote",
    "shared",
    "is",
    "are",
    "was",
    "can",
    "will",
    "should",
    "may",
    "must",
    "does",
    "keeps",
    "sends",
    "reads",
    "writes",
    "opens",
    "closes",
    "starts",
    "stops",
    "waits",
    "tries",
    "moves",
    "holds",
    "gives",
    "takes",
    "finds",
    "makes",
    "builds",
    "runs",
    "returns",
    "handles",
    "counts",
    "follows",
    "in",
    "on",
    "at",
    "by",
    "for",
    "with",
    "from",
    "into",
    "over",
    "under",
    "after",
    "before",
    "during",
    "between",
    "through",
    "without",
    "and",
    "or",
    "but",
    "so",
    "because",
    "while",
    "when",
    "where",
    "which",
    "this",
    "that",
    "these",
    "those",
    "it",
    "they",
    "we",
    "you",
]
_CONNECTORS = ("and", "but", "so", "while", "because")


def count_tokens(text: str) -> int:
    """The emulator's token count: word runs and punctuation marks."""
    return len(_TOKEN.findall(text))


def split_pieces(text: str) -> list[str]:
    """Split text into stream pieces, one token each with its leading whitespace."""
    pieces = _PIECE.findall(text)
    tail = len(text) - sum(map(len, pieces))
    if tail:
        if pieces:
            pieces[-1] += text[-tail:]
        else:
            pieces.append(text)
    return pieces


@lru_cache(maxsize=4096)
def stable_id(*parts: object, length: int = 24) -> str:
    """A short hex digest of ``parts``: deterministic ids for replies."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=16).hexdigest()
    return digest[:length]


@attrs.frozen
class ToolSpec:
    """A tool offered by the request: its name and JSON-schema parameters."""

    name: str
    parameters: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class ToolCallPlan:
    """A tool call the emulated model decided to make."""

    id: str
    name: str
    arguments: Mapping[str, Any]
    arguments_json: str


@attrs.frozen
class Generation:
    """One reply: text pieces, why it stopped, token counts and an optional tool call."""

    pieces: tuple[str, ...]
    finish: Literal["stop", "length", "tool_calls"]
    input_tokens: int
    tool_call: ToolCallPlan | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def output_tokens(self) -> int:
        if self.tool_call is not None:
            return max(1, count_tokens(self.tool_call.arguments_json))
        return len(self.pieces)


def _rng_for(*parts: object) -> random.Random:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(5, 12))]
    if len(words) > 7 and rng.random() < 0.4:
        cut = rng.randint(3, len(words) - 3)
        words[cut - 1] += ","
        words.insert(cut, rng.choice(_CONNECTORS))
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


@lru_cache(maxsize=4096)
def _natural_pieces(
    seed: int, provider: str, model: str, prompt: str, request_seed: object, lo: int, hi: int
) -> tuple[str, ...]:
    rng = _rng_for(seed, provider, model, prompt, request_seed)
    target = rng.randint(lo, hi)
    sentences: list[str] = []
    tokens = 0
    while tokens < target:
        sentence = _sentence(rng)
        sentences.append(sentence)
        tokens += count_tokens(sentence)
    return tuple(split_pieces(" ".join(sentences)))


def _wants_tool(
    tools: Sequence[ToolSpec], last_user_text: str, forced: str | bool | None
) -> ToolSpec | None:
    if not tools:
        return None
    if isinstance(forced, str):
        return next((tool for tool in tools if tool.name == forced), None)
    lowered = last_user_text.lower()
    named = next((tool for tool in tools if tool.name.lower() in lowered), None)
    if named is not None:
        return named
    return tools[0] if forced else None


def _argument_value(name: str, schema: Mapping[str, Any], rng: random.Random) -> Any:
    if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind in ("integer", "INTEGER"):
        return rng.randint(1, 10)
    if kind in ("number", "NUMBER"):
        return round(rng.uniform(0, 100), 2)
    if kind in ("boolean", "BOOLEAN"):
        return True
    if kind in ("array", "ARRAY"):
        return []
    if kind in ("object", "OBJECT"):
        return {}
    return f"{rng.choice(_WORDS)} {name}".strip()


def _tool_call(tool: ToolSpec, seed: int, prompt: str) -> ToolCallPlan:
    rng = _rng_for(seed, tool.name, prompt)
    properties = tool.parameters.get("properties")
    arguments: dict[str, Any] = {}
    if isinstance(properties, Mapping):
        required = tool.parameters.get("required")
        names = list(required) if isinstance(required, list) else list(properties)
        for name in names:
            schema = properties.get(name)
            arguments[str(name)] = _argument_value(
                str(name), schema if isinstance(schema, Mapping) else {}, rng
            )
    return ToolCallPlan(
        id=stable_id(seed, tool.name, prompt, length=24),
        name=tool.name,
        arguments=arguments,
        arguments_json=json.dumps(arguments, separators=(",", ":")),
    )


def generate_reply(
    *,
    seed: int,
    provider: str,
    model: str,
    prompt: str,
    last_user_text: str = "",
    max_tokens: int | None = None,
    reply_tokens: tuple[int, int] = (12, 48),
    prefix: str = "",
    request_seed: object = None,
    tools: Sequence[ToolSpec] = (),
    tool_choice: str | bool | None = None,
    tool_results_present: bool = False,
) -> Generation:
    """The reply to ``prompt``: a few sentences, capped at ``max_tokens``, or a tool call.

    ``tool_choice`` forces a call (``True``: any tool, a name: that tool). Otherwise a tool is
    called when the last user message names it, unless tool results are already in the
    conversation (so a tool loop always ends with text).
    """
    input_tokens = max(1, count_tokens(prompt))
    if not tool_results_present or tool_choice:
        tool = _wants_tool(tools, last_user_text, tool_choice)
        if tool is not None:
            return Generation((), "tool_calls", input_tokens, _tool_call(tool, seed, prompt))
    lo, hi = reply_tokens
    natural = _natural_pieces(seed, provider, model, prompt, request_seed, lo, hi)
    if prefix:
        natural = tuple(split_pieces(prefix.format(provider=provider, model=model))) + natural
    if max_tokens is not None and 0 <= max_tokens < len(natural):
        return Generation(natural[:max_tokens], "length", input_tokens)
    return Generation(natural, "stop", input_tokens)


@lru_cache(maxsize=8192)
def embedding_vector(text: str, model: str, dimensions: int, seed: int = 0) -> tuple[float, ...]:
    """A unit-length float32-exact vector that depends only on (text, model, dimensions, seed)."""
    if dimensions < 1:
        raise ValueError(f"dimensions must be >= 1, got {dimensions}")
    raw = hashlib.shake_256(f"{seed}\x1f{model}\x1f{text}".encode()).digest(4 * dimensions)
    ints = array.array("i")
    ints.frombytes(raw)
    values = [value / 2147483648.0 for value in ints]
    norm = math.sqrt(math.fsum(v * v for v in values)) or 1.0
    return tuple(array.array("f", [v / norm for v in values]).tolist())
