"""A message plus its reply slot: the unit of work an actor receives.

The reply travels through a ``trio.Event`` and a result slot (the fastest trio request/reply
measured in docs/benchmarks.md section 4). Answering is idempotent and never blocks, so an actor can
reply late, twice, or to a caller who has gone without any harm to itself.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, final

import trio

__all__ = ["Envelope"]

M = TypeVar("M")
R = TypeVar("R")


@final
class Envelope(Generic[M, R]):
    """One message to an actor and, for a call, the slot its reply goes into.

    Actor side: :meth:`reply` or :meth:`fail` answer it (only the first answer counts, and an
    answer to a caller who has gone is dropped); :meth:`bind_scope` ties the work for it to the
    caller, so the caller's cancellation or timeout cancels that scope.

    Caller side (for the low-level :meth:`ActorRef.send_envelope`): :meth:`wait` for the answer
    and :meth:`abandon` when no longer interested.
    """

    __slots__ = (
        "_abandoned",
        "_answered",
        "_done",
        "_error",
        "_held",
        "_scope",
        "_value",
        "message",
    )

    def __init__(self, message: M, *, expects_reply: bool = True) -> None:
        self.message = message
        self._done: trio.Event | None = trio.Event() if expects_reply else None
        self._answered = False
        self._abandoned = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._scope: trio.CancelScope | None = None
        #: The in-flight set of the actor holding this envelope, if any.
        self._held: set[Envelope[Any, Any]] | None = None

    @property
    def expects_reply(self) -> bool:
        """False for a cast: nobody waits, answers are dropped."""
        return self._done is not None

    @property
    def answered(self) -> bool:
        """A reply or an error has been put in the slot."""
        return self._answered

    @property
    def abandoned(self) -> bool:
        """The caller has gone (cancelled or timed out): answers are dropped."""
        return self._abandoned

    # --- actor side -------------------------------------------------------------------------

    def reply(self, value: R) -> None:
        """Answer with ``value``. A no-op for a cast, a second answer, or a caller who left."""
        done = self._done
        if done is None or self._answered or self._abandoned:
            return
        self._value = value
        self._answered = True
        self._release()
        done.set()

    def fail(self, error: BaseException) -> None:
        """Answer with an error the caller will raise. Same no-op rules as :meth:`reply`."""
        done = self._done
        if done is None or self._answered or self._abandoned:
            return
        self._error = error
        self._answered = True
        self._release()
        done.set()

    def bind_scope(self, scope: trio.CancelScope) -> None:
        """Cancel ``scope`` when the caller goes away (at once if it already has).

        One scope is bound at a time; binding another replaces it.
        """
        if self._abandoned:
            scope.cancel()
        else:
            self._scope = scope

    # --- caller side ------------------------------------------------------------------------

    def abandon(self) -> None:
        """The caller is no longer interested: drop future answers, cancel the bound scope.

        Also useful after a reply: a caller that got a stream channel back abandons the
        envelope when it stops reading, which cancels the producer still bound to it.
        """
        self._abandoned = True
        self._release()
        scope = self._scope
        if scope is not None:
            self._scope = None
            scope.cancel()

    async def wait(self) -> R:
        """Wait for the answer and return it (or raise the error it carries).

        If the wait is cancelled (the caller's timeout or cancellation), the envelope is
        abandoned first.
        """
        done = self._done
        if done is None:
            raise RuntimeError("a cast envelope has no reply to wait for")
        try:
            await done.wait()
        except BaseException:
            self.abandon()
            raise
        return self.result()

    def result(self) -> R:
        """The answer: the reply value, or the error raised. Only once :attr:`answered`."""
        if not self._answered:
            raise RuntimeError("the envelope has not been answered yet")
        error = self._error
        if error is not None:
            raise error
        value: R = self._value
        return value

    def _release(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            held.discard(self)

    def __repr__(self) -> str:
        state = (
            "abandoned"
            if self._abandoned
            else "answered"
            if self._answered
            else "cast"
            if self._done is None
            else "pending"
        )
        return f"<Envelope {state} {type(self.message).__name__}>"
