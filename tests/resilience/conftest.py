"""Fixtures for the resilience tests."""

from __future__ import annotations

import pytest
import trio
import trio.testing

#: Mock seconds after which a test counts as deadlocked (a lost wake-up would block forever).
DEADLOCK_AFTER = 1e6


@pytest.fixture
async def clock(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> trio.testing.MockClock:
    """MockClock with autojump, plus a watchdog that fails a test that can never finish.

    With autojump, a test whose tasks all wait for a wake-up that never comes jumps straight
    to the watchdog's deadline instead of hanging the suite.
    """

    async def watchdog() -> None:
        await trio.sleep(DEADLOCK_AFTER)
        raise AssertionError("deadlock: every task waits and nothing can wake them")

    nursery.start_soon(watchdog)
    return autojump_clock
