"""Server-side quotas: requests and tokens per window, enforced like the real providers.

The tracker is a pure object that takes ``now`` as an argument (no clock of its own), so the same
code runs under trio's MockClock in tests and under any loop in the benchmark server. Windows are
fixed and anchored at the first request of a bucket (as LiteLLM's limiter does): a window admits
at most ``requests_per_minute`` requests and ``tokens_per_minute`` tokens, then resets
``window`` seconds after it opened. A rejected request charges nothing.
"""

from __future__ import annotations

import math
from typing import Literal

import attrs

__all__ = ["Quota", "QuotaDecision", "QuotaTracker"]

QuotaScope = Literal["key", "model"]


def _positive_or_none(_inst: object, attribute: attrs.Attribute[int | None], value: object) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"{attribute.name} must be a positive integer or None, got {value!r}")


@attrs.frozen
class Quota:
    """A provider-side limit per API key, or per (key, model) with ``scope="model"``.

    ``scope=None`` takes the provider's own metering: per model for OpenAI and Gemini, per key
    for the others. ``window`` is in seconds (60 for per-minute limits).
    """

    requests_per_minute: int | None = attrs.field(default=None, validator=_positive_or_none)
    tokens_per_minute: int | None = attrs.field(default=None, validator=_positive_or_none)
    window: float = 60.0
    scope: QuotaScope | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(("key", "model")))
    )

    def __attrs_post_init__(self) -> None:
        if not self.window > 0 or math.isinf(self.window):
            raise ValueError(f"window must be a positive number of seconds, got {self.window!r}")


@attrs.frozen
class QuotaDecision:
    """The outcome of one admission, with everything the rate-limit headers report."""

    admitted: bool
    requests_limit: int | None
    requests_remaining: int | None
    tokens_limit: int | None
    tokens_remaining: int | None
    reset_after: float  # seconds until the current window resets
    retry_after: float | None  # only when rejected


@attrs.define
class _Window:
    start: float
    requests: int = 0
    tokens: int = 0


class QuotaTracker:
    """Counts admissions per bucket; one tracker per quota activation."""

    def __init__(self, quota: Quota) -> None:
        self.quota = quota
        self._windows: dict[tuple[str, str], _Window] = {}

    def admit(self, bucket: tuple[str, str], tokens: int, now: float) -> QuotaDecision:
        """Admit one request costing ``tokens`` into ``bucket`` at time ``now``."""
        quota = self.quota
        window = self._windows.get(bucket)
        if window is None or now - window.start >= quota.window:
            window = _Window(start=now)
            self._windows[bucket] = window
        reset_after = window.start + quota.window - now
        rpm, tpm = quota.requests_per_minute, quota.tokens_per_minute
        admitted = (rpm is None or window.requests + 1 <= rpm) and (
            tpm is None or window.tokens + tokens <= tpm
        )
        if admitted:
            window.requests += 1
            window.tokens += tokens
        return QuotaDecision(
            admitted=admitted,
            requests_limit=rpm,
            requests_remaining=None if rpm is None else max(0, rpm - window.requests),
            tokens_limit=tpm,
            tokens_remaining=None if tpm is None else max(0, tpm - window.tokens),
            reset_after=reset_after,
            retry_after=None if admitted else reset_after,
        )
