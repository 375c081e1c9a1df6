"""Counters of what an emulator answered: per (endpoint, status), faults, quota, tokens."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["EmulatorStats", "StatsRecorder"]

# Status recorded for a request that never got an answer (a "hang" fault).
NO_RESPONSE = 0


@attrs.frozen
class EmulatorStats:
    """A snapshot of an emulator's counters.

    ``requests`` maps (endpoint, status) to a count; endpoints are the logical names
    (``"chat.completions"``, ``"messages"``, ``"generateContent"``, ``"chat"``, ...; ``"unknown"``
    for unrouted paths) and status 0 means no answer was sent (``hang``). Admin requests
    (``/_emulator/...``) are not counted.
    """

    provider: str
    requests: Mapping[tuple[str, int], int] = attrs.field(factory=dict)
    faults: Mapping[str, int] = attrs.field(factory=dict)
    quota_rejections: int = 0
    connections: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def count(self, endpoint: str | None = None, status: int | None = None) -> int:
        """Requests for ``endpoint`` and/or ``status`` (``None`` = any)."""
        return sum(
            n
            for (ep, st), n in self.requests.items()
            if (endpoint is None or ep == endpoint) and (status is None or st == status)
        )

    def to_json(self) -> dict[str, Any]:
        by_endpoint: dict[str, dict[str, int]] = {}
        for (endpoint, status), n in sorted(self.requests.items()):
            by_endpoint.setdefault(endpoint, {})[str(status)] = n
        return {
            "provider": self.provider,
            "total": self.total,
            "requests": by_endpoint,
            "faults": dict(sorted(self.faults.items())),
            "quota_rejections": self.quota_rejections,
            "connections": self.connections,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


class StatsRecorder:
    """The mutable counters behind :class:`EmulatorStats` (single-threaded: one event loop)."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.reset()

    def reset(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.faults: Counter[str] = Counter()
        self.quota_rejections = 0
        self.connections = 0
        self.input_tokens = 0
        self.output_tokens = 0

    def snapshot(self) -> EmulatorStats:
        return EmulatorStats(
            provider=self.provider,
            requests=dict(self.requests),
            faults=dict(self.faults),
            quota_rejections=self.quota_rejections,
            connections=self.connections,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
        )
