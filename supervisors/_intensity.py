"""Restart intensity bookkeeping, exactly as OTP's ``add_restart`` but on trio's float clock."""

from __future__ import annotations

from collections import deque

__all__ = ["RestartWindow"]


class RestartWindow:
    """Counts restarts within the last ``period`` seconds, boundary included.

    ``record(now)`` keeps the earlier restarts with ``t >= now - period``, adds ``now`` and says
    whether the count is now greater than ``intensity`` (the supervisor must give up). So
    ``intensity=0`` gives up on the first restart. At most ``intensity + 1`` stamps are kept.
    """

    __slots__ = ("_stamps", "intensity", "period")

    def __init__(self, intensity: int, period: float) -> None:
        self.intensity = intensity
        self.period = period
        self._stamps: deque[float] = deque()

    def _prune(self, now: float) -> None:
        oldest = now - self.period
        stamps = self._stamps
        while stamps and stamps[0] < oldest:
            stamps.popleft()

    def record(self, now: float) -> bool:
        """Count a restart at ``now``; return True if the intensity is exceeded."""
        self._prune(now)
        self._stamps.append(now)
        exceeded = len(self._stamps) > self.intensity
        while len(self._stamps) > self.intensity + 1:
            self._stamps.popleft()
        return exceeded

    def count(self, now: float) -> int:
        """How many restarts fall within the window ending at ``now``."""
        self._prune(now)
        return len(self._stamps)
