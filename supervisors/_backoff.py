"""Restart backoff (Akka ``BackoffSupervisor``): wait longer before each consecutive restart.

OTP restarts at once, which hammers a dependency that is down; a backoff spaces the restarts of a
child that keeps failing while the supervisor's intensity still bounds how many happen.
"""

from __future__ import annotations

import math
import random

import attrs

from ._errors import InvalidSpecError

__all__ = ["Backoff"]

#: Past this many doublings every delay is ``max`` anyway; capping avoids float overflow.
_MAX_DOUBLINGS = 64


def _finite_positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSpecError(f"backoff {attribute.name} must be a number, not {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise InvalidSpecError(
            f"backoff {attribute.name} must be a finite number > 0, not {value!r}"
        )


def _check_max(instance: Backoff, attribute: attrs.Attribute[float], value: float) -> None:
    _finite_positive(instance, attribute, value)
    if value < instance.min:
        raise InvalidSpecError(f"backoff max ({value!r}) must be >= min ({instance.min!r})")


def _check_random_factor(_: object, __: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidSpecError(f"backoff random_factor must be in [0, 1], not {value!r}")


def _check_reset_after(
    instance: Backoff, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is not None:
        _finite_positive(instance, attribute, value)  # type: ignore[arg-type]


@attrs.frozen
class Backoff:
    """Exponential restart delays with jitter, per child.

    The n-th consecutive restart of a child (n = 0, 1, ...) waits
    ``min(max, min * 2**n) * (1 + r * random_factor)`` seconds, r uniform in [0, 1), so a
    ``random_factor`` of 0.2 adds up to 20 % (Akka's formula: the jitter may take a delay past
    ``max``). A child that ran for at least ``reset_after`` seconds (default: ``min``, as in
    Akka) before exiting starts again from n = 0.

    ``rng``, when given, draws ``r`` instead of the supervisor's own generator, so a seeded run
    (``hafs_actors.resilience.Seeds``) restarts on the same schedule every time.
    """

    min: float = attrs.field(default=0.5, validator=_finite_positive)
    max: float = attrs.field(default=30.0, validator=_check_max)
    random_factor: float = attrs.field(default=0.2, validator=_check_random_factor)
    reset_after: float | None = attrs.field(default=None, validator=_check_reset_after)
    rng: random.Random | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def effective_reset_after(self) -> float:
        """The run time after which the restart count resets."""
        return self.min if self.reset_after is None else self.reset_after

    def delay(self, attempt: int, rand: float = 0.0) -> float:
        """The delay before restart number ``attempt`` (0-based), given ``rand`` in [0, 1).

        With ``rng`` set, ``rand`` is ignored and drawn from ``rng``.
        """
        if self.rng is not None:
            rand = self.rng.random()
        base = min(self.max, self.min * 2.0 ** min(attempt, _MAX_DOUBLINGS))
        return base * (1.0 + rand * self.random_factor)
