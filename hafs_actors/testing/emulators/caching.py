"""Prompt caching, as far as usage fields show it: which prompt prefixes were seen before.

Real providers report cached input tokens (OpenAI ``cached_tokens``, Anthropic cache reads and
writes, Gemini ``cachedContentTokenCount``). The emulator reproduces them deterministically:
a prompt is a list of segments (messages or content blocks), each prefix ending at a segment
boundary has a key, and a prefix is cached once an earlier request of the same emulator
contained it. So the second identical long request reads from the cache, the first never does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import attrs

from .content import count_tokens

__all__ = ["PromptCache", "Segment"]


@attrs.frozen(slots=True)
class Segment:
    """One cacheable piece of a prompt: its identity (any stable text) and its token count."""

    key: str
    tokens: int

    @classmethod
    def of(cls, key: str, text: str) -> Segment:
        return cls(key, count_tokens(text))


class PromptCache:
    """Prefix keys seen during one emulator's lifetime (at most ``capacity``, oldest evicted)."""

    def __init__(self, capacity: int = 8192) -> None:
        self._seen: dict[bytes, None] = {}
        self._capacity = capacity

    @staticmethod
    def _prefixes(scope: str, segments: Sequence[Segment]) -> list[tuple[bytes, int]]:
        """(key, tokens) of each prefix ending after a segment."""
        digest = hashlib.blake2b(scope.encode(), digest_size=16)
        out = []
        tokens = 0
        for segment in segments:
            digest.update(b"\x1e" + segment.key.encode())
            tokens += segment.tokens
            out.append((digest.copy().digest(), tokens))
        return out

    def _remember(self, key: bytes) -> None:
        self._seen.pop(key, None)
        self._seen[key] = None
        if len(self._seen) > self._capacity:
            del self._seen[next(iter(self._seen))]

    def implicit(self, scope: str, segments: Sequence[Segment], minimum: int, step: int = 1) -> int:
        """Automatic caching (OpenAI, Gemini): the cached tokens of the longest prefix seen
        before that reaches ``minimum``, rounded down to ``step``; every such prefix of this
        prompt is remembered."""
        cached = 0
        for key, tokens in self._prefixes(scope, segments):
            if tokens < minimum:
                continue
            if key in self._seen:
                cached = tokens
            self._remember(key)
        return cached // step * step

    def explicit(
        self, scope: str, segments: Sequence[Segment], breakpoints: Sequence[int], minimum: int
    ) -> tuple[int, int]:
        """Breakpoint caching (Anthropic ``cache_control``): ``(read, write)`` tokens. The
        longest cached breakpoint prefix is read; the prefix up to the last breakpoint is
        written (the part beyond the read) unless it is cached already. Prefixes shorter than
        ``minimum`` are never cached."""
        prefixes = self._prefixes(scope, segments)
        marked = [prefixes[i] for i in sorted(set(breakpoints)) if prefixes[i][1] >= minimum]
        read = max((tokens for key, tokens in marked if key in self._seen), default=0)
        write = 0
        if marked and marked[-1][0] not in self._seen:
            write = marked[-1][1] - read
        for key, _ in marked:
            self._remember(key)
        return read, write
