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
import uuid
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
    "sample_json",
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
    """One reply: text pieces (or tool calls), why it stopped, token counts, and the thought
    pieces of a model asked to think (counted apart: each provider reports them its own way)."""

    pieces: tuple[str, ...]
    finish: Literal["stop", "length", "tool_calls"]
    input_tokens: int
    tool_calls: tuple[ToolCallPlan, ...] = ()
    thinking: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def thinking_text(self) -> str:
        return "".join(self.thinking)

    @property
    def output_tokens(self) -> int:
        """Visible output: the text, or the calls' arguments (never the thoughts)."""
        if self.tool_calls:
            return sum(max(1, count_tokens(call.arguments_json)) for call in self.tool_calls)
        return len(self.pieces)

    @property
    def reasoning_tokens(self) -> int:
        return len(self.thinking)


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


def _mentions(text: str, name: str) -> int:
    """Where ``name`` first appears in ``text`` as a whole word (-1: nowhere)."""
    found = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE)
    return -1 if found is None else found.start()


def _chosen_tools(
    tools: Sequence[ToolSpec], last_user_text: str, forced: str | bool | None, parallel: bool
) -> list[ToolSpec]:
    """The tools to call: the forced one, else those the last user message names (in the order
    it names them), else the first tool when a call is required."""
    if not tools:
        return []
    if isinstance(forced, str):
        return [tool for tool in tools if tool.name == forced][:1]
    positions = [(_mentions(last_user_text, tool.name), i) for i, tool in enumerate(tools)]
    named = [tools[i] for at, i in sorted(positions) if at >= 0]
    if not named and forced:
        named = [tools[0]]
    return named if parallel else named[:1]


_FORMATS = {
    "date-time": "2025-01-01T12:00:00Z",
    "date": "2025-01-01",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
}


def sample_json(schema: Mapping[str, Any], rng: random.Random, root: Mapping[str, Any]) -> Any:
    """A value valid against ``schema``: every required property, one array item (or
    ``minItems``), the first enum value or ``const``, numbers and strings within their bounds.

    Handles JSON Schema and Gemini's OpenAPI subset (upper-case types, ``nullable``); ``$ref``
    is resolved against ``root``. ``pattern`` is not honoured.
    """
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target: Any = root
        for part in ref.removeprefix("#/").split("/") if ref != "#" else ():
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return sample_json(target if isinstance(target, Mapping) else {}, rng, root)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for union in ("anyOf", "oneOf"):
        options = schema.get(union)
        if isinstance(options, list) and options:
            usable = [o for o in options if isinstance(o, Mapping) and o.get("type") != "null"]
            return sample_json(usable[0] if usable else options[0], rng, root)
    every = schema.get("allOf")
    if isinstance(every, list) and every:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in every:
            if isinstance(part, Mapping):
                for key, value in part.items():
                    if key == "properties" and isinstance(merged.get(key), Mapping):
                        merged[key] = {**merged[key], **value}
                    elif key == "required" and isinstance(merged.get(key), list):
                        merged[key] = [*merged[key], *value]
                    else:
                        merged[key] = value
        return sample_json(merged, rng, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    kind = str(kind).lower() if kind is not None else None
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return {}
        required = schema.get("required")
        names = [n for n in required if n in properties] if isinstance(required, list) else []
        names = names or list(properties)
        return {
            str(name): sample_json(
                properties[name] if isinstance(properties[name], Mapping) else {}, rng, root
            )
            for name in names
        }
    if kind == "array":
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        out = [sample_json(p, rng, root) for p in prefix] if isinstance(prefix, list) else []
        low = _bound(schema, "minItems", "min_items")
        high = _bound(schema, "maxItems", "max_items")
        count = max(1, int(low or 0))
        if high is not None:
            count = min(count, int(high))
        while len(out) < count and isinstance(items, Mapping):
            out.append(sample_json(items, rng, root))
        return out
    if kind in ("integer", "number"):
        return _number(schema, rng, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, rng)


def _bound(schema: Mapping[str, Any], *names: str) -> float | None:
    for name in names:
        value = schema.get(name)
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _number(schema: Mapping[str, Any], rng: random.Random, *, integer: bool) -> int | float:
    low = _bound(schema, "minimum")
    high = _bound(schema, "maximum")
    exclusive_low = _bound(schema, "exclusiveMinimum")
    exclusive_high = _bound(schema, "exclusiveMaximum")
    step = _bound(schema, "multipleOf") or (1.0 if integer else 0.01)
    lo = low if low is not None else (exclusive_low + step if exclusive_low is not None else None)
    hi = (
        high
        if high is not None
        else (exclusive_high - step if exclusive_high is not None else None)
    )
    if lo is None:
        lo = min(1.0 if integer else 0.0, hi) if hi is not None else (1.0 if integer else 0.0)
    if hi is None:
        hi = lo + (9 if integer else 100)
    units = math.floor((hi - lo) / step) if hi >= lo else 0
    start = math.ceil(lo / step)
    value = (start + rng.randint(0, max(0, units - 1) if units else 0)) * step
    return round(value) if integer else round(value, 6)


def _string(schema: Mapping[str, Any], rng: random.Random) -> str:
    fmt = schema.get("format")
    if fmt == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    text = _FORMATS.get(str(fmt)) or " ".join(rng.choice(_WORDS) for _ in range(2))
    low = int(_bound(schema, "minLength", "min_length") or 0)
    high = _bound(schema, "maxLength", "max_length")
    while len(text) < low:
        text += " " + rng.choice(_WORDS)
    return text[: int(high)] if high is not None else text


def _tool_call(tool: ToolSpec, seed: int, prompt: str, index: int) -> ToolCallPlan:
    rng = _rng_for(seed, tool.name, prompt)
    arguments = sample_json(tool.parameters, rng, tool.parameters) if tool.parameters else {}
    if not isinstance(arguments, dict):
        arguments = {}
    return ToolCallPlan(
        id=stable_id(seed, tool.name, prompt, index, length=24),
        name=tool.name,
        arguments=arguments,
        arguments_json=json.dumps(arguments, separators=(",", ":")),
    )


def _json_reply(seed: int, prompt: str, schema: Mapping[str, Any] | None) -> str:
    """A JSON document for a structured-output request: valid against ``schema``, or a small
    object when only JSON was asked for."""
    rng = _rng_for(seed, "json", prompt)
    if schema is None:
        return json.dumps({"answer": _sentence(rng)})
    return json.dumps(sample_json(schema, rng, schema))


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
    parallel_tool_calls: bool = True,
    json_reply: bool = False,
    json_schema: Mapping[str, Any] | None = None,
    thinking: bool = False,
) -> Generation:
    """The reply to ``prompt``: a few sentences capped at ``max_tokens``, tool calls, or a JSON
    document (``json_reply``; valid against ``json_schema`` when one is given; no prefix, so it
    parses).

    ``tool_choice`` forces a call (``True``: a tool, a name: that tool). Otherwise each tool the
    last user message names is called, unless the conversation ends with tool results (so a
    tool loop always ends with text); ``parallel_tool_calls=False`` keeps the first. With
    ``thinking``, the reply comes with a few sentences of thoughts.
    """
    input_tokens = max(1, count_tokens(prompt))
    thoughts: tuple[str, ...] = ()
    if thinking:
        lo, hi = reply_tokens
        thoughts = _natural_pieces(seed, provider, model, "think\x1f" + prompt, None, lo, hi)
    if not tool_results_present or tool_choice:
        chosen = _chosen_tools(tools, last_user_text, tool_choice, parallel_tool_calls)
        if chosen:
            calls = tuple(_tool_call(tool, seed, prompt, i) for i, tool in enumerate(chosen))
            return Generation((), "tool_calls", input_tokens, calls, thoughts)
    if json_reply:
        natural = tuple(split_pieces(_json_reply(seed, prompt, json_schema)))
    else:
        lo, hi = reply_tokens
        natural = _natural_pieces(seed, provider, model, prompt, request_seed, lo, hi)
        if prefix:
            natural = tuple(split_pieces(prefix.format(provider=provider, model=model))) + natural
    if max_tokens is not None and 0 <= max_tokens < len(natural):
        return Generation(natural[:max_tokens], "length", input_tokens, (), thoughts)
    return Generation(natural, "stop", input_tokens, (), thoughts)


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
