"""The actor runtime's own errors: what a caller of an actor can be told.

They derive from the library's root error only; the runtime knows nothing of providers.
"""

from __future__ import annotations

from .._root import HafsError

__all__ = ["ActorCrashed", "ActorStopped", "CallTimeout", "MailboxFull"]


class MailboxFull(HafsError):
    """An actor's bounded mailbox is full and its overflow policy is fail-fast."""


class ActorStopped(HafsError):
    """The actor is not running (stopped, or not started yet)."""


class ActorCrashed(ActorStopped):
    """The actor crashed while the call was queued or in flight."""

    def __init__(self, message: str, *, actor: str = "", cause: BaseException | None = None):
        super().__init__(message)
        self.actor = actor
        self.cause = cause


class CallTimeout(HafsError):
    """An actor call got no reply within its timeout."""
