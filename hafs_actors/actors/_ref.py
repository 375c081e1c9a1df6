"""The stable handle to an actor: it outlives every incarnation of the actor behind it.

Each incarnation gets a fresh bounded mailbox when it binds; between incarnations (crashed,
restarting, stopped) the ref refuses messages with ``ActorStopped`` so callers can move on at
once instead of queueing behind a dead actor.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Generic, TypeVar, final

import attrs
import trio

from ._envelope import Envelope
from ._errors import ActorStopped, CallTimeout, MailboxFull

__all__ = ["ActorRef", "ActorStatistics", "Overflow"]

M = TypeVar("M")
R = TypeVar("R")

#: Default mailbox capacity: enough to absorb a burst, small enough to push back promptly.
DEFAULT_CAPACITY = 64


class Overflow(enum.Enum):
    """What sending to a full mailbox does."""

    #: Wait for room (backpressure): ``call`` and ``cast`` block, within the call's timeout.
    BLOCK = "block"
    #: Raise :class:`~hafs_actors.errors.MailboxFull` at once.
    FAIL = "fail"


@attrs.frozen
class ActorStatistics:
    """A snapshot of an actor ref and its current incarnation."""

    name: str
    #: An incarnation is bound and accepting messages.
    running: bool
    #: How many incarnations have bound so far (restarts = incarnation - 1).
    incarnation: int
    restarts: int
    crashes: int
    mailbox_depth: int
    mailbox_capacity: int
    #: Senders waiting for room (``Overflow.BLOCK``).
    blocked_senders: int
    overflow: Overflow
    #: Calls received by the actor and not answered yet.
    in_flight: int
    calls: int
    casts: int


@final
class ActorRef(Generic[M, R]):
    """Send messages of type ``M`` to an actor; calls answer with ``R``.

    ``capacity`` bounds the mailbox; ``overflow`` says what a send to a full mailbox does.
    """

    def __init__(
        self,
        name: str,
        *,
        capacity: int = DEFAULT_CAPACITY,
        overflow: Overflow = Overflow.BLOCK,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"actor name must be a non-empty string, not {name!r}")
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            raise ValueError(f"mailbox capacity must be an integer >= 0, not {capacity!r}")
        if not isinstance(overflow, Overflow):
            raise ValueError(f"overflow must be Overflow.BLOCK or Overflow.FAIL, not {overflow!r}")
        self._name = name
        self._capacity = capacity
        self._overflow = overflow
        self._send: trio.MemorySendChannel[Envelope[M, R]] | None = None
        self._receive: trio.MemoryReceiveChannel[Envelope[M, R]] | None = None
        self._held: set[Envelope[Any, Any]] = set()
        self._incarnation = 0
        self._crashes = 0
        self._calls = 0
        self._casts = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def overflow(self) -> Overflow:
        return self._overflow

    @property
    def running(self) -> bool:
        """An incarnation is bound and accepting messages."""
        return self._send is not None

    def __repr__(self) -> str:
        state = "running" if self._send is not None else "stopped"
        return f"<ActorRef {self._name!r} {state} incarnation={self._incarnation}>"

    # --- sending ----------------------------------------------------------------------------

    async def call(self, message: M, *, timeout: float) -> R:
        """Send ``message`` and wait for the reply, at most ``timeout`` seconds in all.

        Raises :class:`CallTimeout` when the time is up (waiting for room in the mailbox
        included), :class:`ActorCrashed` if the actor crashes while the call is queued or in
        flight, :class:`ActorStopped` if no incarnation is running, :class:`MailboxFull` under
        ``Overflow.FAIL``, or the error the actor answered with. If the caller is cancelled
        the envelope is abandoned, which cancels the work bound to it.
        """
        if not timeout > 0:
            raise ValueError(f"call timeout must be > 0 seconds, not {timeout!r}")
        self._calls += 1
        envelope: Envelope[M, R] = Envelope(message)
        with trio.move_on_after(timeout):
            await self.send_envelope(envelope)
            return await envelope.wait()
        envelope.abandon()
        raise CallTimeout(f"actor {self._name!r} did not reply within {timeout:g}s")

    async def ask(self, message: M) -> R:
        """Like :meth:`call` without a timeout of its own, for callers bounded elsewhere.

        The orchestrator's internal hops use it: their work already runs under a deadline
        (the actor's spawned scope), so a second timeout scope per hop would only cost time.
        Cancelling the caller abandons the envelope exactly as with :meth:`call`.
        """
        self._calls += 1
        envelope: Envelope[M, R] = Envelope(message)
        try:
            await self.send_envelope(envelope)
        except BaseException:
            envelope.abandon()
            raise
        return await envelope.wait()

    async def cast(self, message: M) -> None:
        """Send ``message`` without waiting for any reply (waits for room under ``BLOCK``)."""
        self._casts += 1
        await self.send_envelope(Envelope(message, expects_reply=False))

    def cast_nowait(self, message: M) -> None:
        """Send ``message`` now or raise :class:`MailboxFull`, whatever the overflow policy."""
        send = self._sender()
        self._casts += 1
        try:
            send.send_nowait(Envelope(message, expects_reply=False))
        except trio.WouldBlock:
            raise self._full() from None
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise self._stopped() from None

    async def send_envelope(self, envelope: Envelope[M, R]) -> None:
        """Put a caller-made envelope in the mailbox, as the overflow policy says.

        The low-level form of :meth:`call`: the caller keeps the envelope, awaits
        :meth:`Envelope.wait` (under its own timeout) and may :meth:`Envelope.abandon` it later,
        e.g. to stop a stream the actor replied with.
        """
        send = self._sender()
        try:
            send.send_nowait(envelope)
        except trio.WouldBlock:
            if self._overflow is Overflow.FAIL:
                raise self._full() from None
            try:
                await send.send(envelope)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise self._stopped() from None
            return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise self._stopped() from None
        if not envelope.expects_reply:
            await trio.lowlevel.checkpoint()

    def _sender(self) -> trio.MemorySendChannel[Envelope[M, R]]:
        send = self._send
        if send is None:
            raise self._stopped()
        return send

    def _stopped(self) -> ActorStopped:
        return ActorStopped(f"actor {self._name!r} is not running")

    def _full(self) -> MailboxFull:
        return MailboxFull(f"actor {self._name!r}: mailbox full ({self._capacity} messages)")

    # --- statistics -------------------------------------------------------------------------

    def statistics(self) -> ActorStatistics:
        send = self._send
        depth = blocked = 0
        if send is not None:
            stats = send.statistics()
            depth = stats.current_buffer_used
            blocked = stats.tasks_waiting_send
        return ActorStatistics(
            name=self._name,
            running=send is not None,
            incarnation=self._incarnation,
            restarts=max(0, self._incarnation - 1),
            crashes=self._crashes,
            mailbox_depth=depth,
            mailbox_capacity=self._capacity,
            blocked_senders=blocked,
            overflow=self._overflow,
            in_flight=len(self._held),
            calls=self._calls,
            casts=self._casts,
        )

    # --- binding (used by Actor.run) --------------------------------------------------------

    def _bind(self, held: set[Envelope[Any, Any]]) -> trio.MemoryReceiveChannel[Envelope[M, R]]:
        """Open a fresh mailbox for a new incarnation whose in-flight set is ``held``."""
        if self._send is not None:
            raise RuntimeError(f"actor {self._name!r} already has a running incarnation")
        send, receive = trio.open_memory_channel[Envelope[M, R]](self._capacity)
        self._send = send
        self._receive = receive
        self._held = held
        self._incarnation += 1
        return receive

    def _unbind(self, error: Callable[[], BaseException], *, crashed: bool = False) -> None:
        """Stop accepting: close the mailbox and fail everything still queued in it.

        Idempotent. Senders blocked on a full mailbox are drained (and failed) too, so nothing
        is left waiting.
        """
        send, receive = self._send, self._receive
        if send is None or receive is None:
            return
        self._send = None
        self._receive = None
        if crashed:
            self._crashes += 1
        while True:
            try:
                envelope = receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            envelope.fail(error())
        send.close()
        receive.close()
