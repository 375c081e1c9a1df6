"""Actor primitives: bounded mailboxes, call/cast with typed failures, supervised incarnations.

An :class:`Actor` is a trio task with its own nursery and a bounded mailbox behind a stable
:class:`ActorRef`; :func:`actor_child_spec` runs it under a ``supervisors`` supervisor so a crash
fails the calls it held and a fresh incarnation takes over the same ref.
"""

from __future__ import annotations

from ._actor import Actor as Actor
from ._actor import actor_child_spec as actor_child_spec
from ._envelope import Envelope as Envelope
from ._errors import ActorCrashed as ActorCrashed
from ._errors import ActorStopped as ActorStopped
from ._errors import CallTimeout as CallTimeout
from ._errors import MailboxFull as MailboxFull
from ._ref import DEFAULT_CAPACITY as DEFAULT_CAPACITY
from ._ref import ActorRef as ActorRef
from ._ref import ActorStatistics as ActorStatistics
from ._ref import Overflow as Overflow

__all__ = [
    "DEFAULT_CAPACITY",
    "Actor",
    "ActorCrashed",
    "ActorRef",
    "ActorStatistics",
    "ActorStopped",
    "CallTimeout",
    "Envelope",
    "MailboxFull",
    "Overflow",
    "actor_child_spec",
]

for _error in (ActorCrashed, ActorStopped, CallTimeout, MailboxFull):
    _error.__module__ = "hafs_actors.errors"  # where users meet them (hafs_actors.errors)
