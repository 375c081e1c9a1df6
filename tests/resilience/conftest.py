"""Fixtures for the resilience tests."""

from __future__ import annotations

import pytest
import trio

#: Mock seconds after which a test counts as deadlocked (a lost wake-up would block forever).
DEADLOCK_AFTER = 1e6


@pytest.fixture
async def watchdog(nursery: trio.Nursery) -> None:
    """Fail a test that can never finish instead of hanging the suite.

    Use with ``autojump_clock``: when every task waits for a wake-up that never comes, the
    clock jumps straight to this deadline.
    """

    async def bark() -> None:
        await trio.sleep(DEADLOCK_AFTER)
        raise AssertionError("deadlock: every task waits and nothing can wake them")

    nursery.start_soon(bark)
