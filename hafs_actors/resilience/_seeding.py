"""One ``random_seed`` for every jitter source, so two identical MockClock runs match exactly.

Each component gets its own :class:`random.Random` derived from ``(seed, name)``: drawing more
in one component (an extra retry) never shifts the draws of another (a breaker's open period),
and a name is stable across runs and processes, unlike the order in which components are built.
"""

from __future__ import annotations

import hashlib
import random

import attrs

__all__ = ["Seeds", "derive_rng"]


def derive_rng(seed: int | None, *names: str) -> random.Random:
    """A generator for the component ``names`` (e.g. ``"breaker", "openai"``) under ``seed``.

    ``seed=None`` gives an unseeded generator (OS entropy): production's default.
    """
    if seed is None:
        return random.Random()
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"random_seed must be an integer or None, got {seed!r}")
    # NUL cannot appear in a name, so ("a", "bc") and ("ab", "c") never collide.
    text = "\0".join((str(seed), *names)).encode()
    return random.Random(int.from_bytes(hashlib.sha256(text).digest()[:16], "big"))


@attrs.frozen
class Seeds:
    """The orchestrator's ``random_seed``, handing out one generator per component.

    ``seeds.rng("retry")``, ``seeds.rng("breaker", provider)``,
    ``seeds.rng("supervisor", name)``: call once per component and keep the generator.
    """

    seed: int | None = None

    def rng(self, *names: str) -> random.Random:
        return derive_rng(self.seed, *names)
