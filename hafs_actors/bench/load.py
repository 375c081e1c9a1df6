"""Load models: a closed loop at fixed concurrency, or an open loop of timed arrivals.

An open loop's arrival times are a pure function of the model and a seeded RNG, so a run can
be replayed and every target of a run sees the same schedule. Arrivals are generated in the
"cumulative intensity" domain and mapped through the inverse of the intensity, which makes a
linear ramp exact for any inter-arrival distribution: Poisson (exponential gaps), gamma gaps
with a burstiness (shape) parameter as in vLLM's ``bench serve`` (< 1 burstier, > 1 more
regular; 1 is Poisson), or constant gaps.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Literal, TypeAlias

import attrs

from .errors import BenchSpecError

__all__ = ["Arrival", "ClosedLoop", "LoadModel", "OpenLoop"]

Arrival: TypeAlias = Literal["poisson", "gamma", "constant"]


def _positive(what: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise BenchSpecError(f"{what} must be a positive number, got {value!r}")


def _non_negative(what: str, value: float) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise BenchSpecError(f"{what} must be zero or a positive number, got {value!r}")


@attrs.frozen
class ClosedLoop:
    """``concurrency`` workers, each sending its next request as soon as the last one ends.

    With ``ramp`` seconds, worker ``i`` starts at ``ramp * i / concurrency``: the concurrency
    grows linearly from 1 to ``concurrency``.
    """

    concurrency: int
    ramp: float = 0.0

    def __attrs_post_init__(self) -> None:
        if isinstance(self.concurrency, bool) or self.concurrency < 1:
            raise BenchSpecError(f"concurrency must be at least 1, got {self.concurrency!r}")
        _non_negative("ramp", self.ramp)

    def worker_start(self, worker: int) -> float:
        """Offset (seconds from the run start) at which ``worker`` sends its first request."""
        return self.ramp * worker / self.concurrency

    def describe(self) -> str:
        ramp = f", ramp {self.ramp:g}s" if self.ramp else ""
        return f"closed loop, concurrency {self.concurrency}{ramp}"


@attrs.frozen
class OpenLoop:
    """Requests arrive at ``rate`` per second regardless of how fast they complete.

    With ``ramp`` seconds the rate grows linearly from 0 to ``rate``, then stays there. With
    ``max_concurrency`` at most that many requests are sent at once and later arrivals queue
    for a slot (vLLM's ``--max-concurrency``). ``max_outstanding`` bounds the requests queued
    or in flight; an arrival finding it reached is dropped (and reported), so memory stays
    bounded when the target cannot keep up.
    """

    rate: float
    arrival: Arrival = "poisson"
    burstiness: float = 1.0
    ramp: float = 0.0
    max_outstanding: int = 1024
    max_concurrency: int | None = None

    def __attrs_post_init__(self) -> None:
        _positive("rate", self.rate)
        _positive("burstiness", self.burstiness)
        _non_negative("ramp", self.ramp)
        if self.arrival not in ("poisson", "gamma", "constant"):
            raise BenchSpecError(
                f"arrival must be poisson, gamma or constant, got {self.arrival!r}"
            )
        if self.arrival != "gamma" and self.burstiness != 1.0:
            raise BenchSpecError("burstiness applies to gamma arrivals only")
        if isinstance(self.max_outstanding, bool) or self.max_outstanding < 1:
            raise BenchSpecError(
                f"max_outstanding must be at least 1, got {self.max_outstanding!r}"
            )
        if self.max_concurrency is not None and (
            isinstance(self.max_concurrency, bool) or self.max_concurrency < 1
        ):
            raise BenchSpecError(
                f"max_concurrency must be at least 1, got {self.max_concurrency!r}"
            )

    def intensity(self, t: float) -> float:
        """Expected number of arrivals in ``[0, t]``: the integral of the rate."""
        r, ramp = self.rate, self.ramp
        if t < ramp:
            return r * t * t / (2.0 * ramp)
        return r * ramp / 2.0 + r * (t - ramp)

    def time_at(self, intensity: float) -> float:
        """Inverse of :meth:`intensity`."""
        r, ramp = self.rate, self.ramp
        if intensity <= r * ramp / 2.0:
            return math.sqrt(2.0 * ramp * intensity / r)
        return ramp + (intensity - r * ramp / 2.0) / r

    def _gap(self, rng: random.Random) -> float:
        if self.arrival == "poisson":
            return rng.expovariate(1.0)
        if self.arrival == "gamma":
            return rng.gammavariate(self.burstiness, 1.0 / self.burstiness)
        return 1.0

    def arrival_times(self, rng: random.Random) -> Iterator[float]:
        """Arrival offsets in seconds from the run start: the first at 0, then endless."""
        total = 0.0
        while True:
            yield self.time_at(total)
            total += self._gap(rng)

    def describe(self) -> str:
        shape = {
            "poisson": "Poisson",
            "gamma": f"gamma (burstiness {self.burstiness:g})",
            "constant": "constant",
        }[self.arrival]
        ramp = f", ramp {self.ramp:g}s" if self.ramp else ""
        slots = f", max concurrency {self.max_concurrency}" if self.max_concurrency else ""
        return f"open loop, {self.rate:g} req/s {shape}{ramp}{slots}, cap {self.max_outstanding}"


LoadModel: TypeAlias = ClosedLoop | OpenLoop
