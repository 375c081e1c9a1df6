"""Envelope semantics: one answer, dropped late answers, bound scopes, casts."""

from __future__ import annotations

import pytest
import trio

from hafs_actors.actors import Envelope


async def test_first_answer_wins_and_later_ones_are_dropped():
    envelope: Envelope[str, int] = Envelope("m")
    envelope.reply(1)
    envelope.reply(2)
    envelope.fail(RuntimeError("late"))
    assert envelope.answered
    assert not envelope.abandoned
    assert await envelope.wait() == 1
    assert envelope.result() == 1


async def test_fail_makes_the_caller_raise_that_error():
    envelope: Envelope[str, int] = Envelope("m")
    error = KeyError("missing")
    envelope.fail(error)
    with pytest.raises(KeyError) as info:
        await envelope.wait()
    assert info.value is error


async def test_answers_after_abandon_are_dropped_and_the_bound_scope_cancelled():
    envelope: Envelope[str, int] = Envelope("m")
    scope = trio.CancelScope()
    envelope.bind_scope(scope)
    envelope.abandon()
    assert scope.cancel_called
    envelope.reply(1)
    assert envelope.abandoned
    assert not envelope.answered
    late = trio.CancelScope()
    envelope.bind_scope(late)  # bound after the caller left: cancelled at once
    assert late.cancel_called


async def test_abandon_after_a_reply_still_cancels_the_bound_scope():
    """A caller that got a stream back abandons the envelope to stop the producer."""
    envelope: Envelope[str, int] = Envelope("m")
    scope = trio.CancelScope()
    envelope.bind_scope(scope)
    envelope.reply(7)
    assert not scope.cancel_called
    envelope.abandon()
    assert scope.cancel_called
    assert envelope.result() == 7


async def test_cancelled_wait_abandons_the_envelope(autojump_clock):
    envelope: Envelope[str, int] = Envelope("m")
    scope = trio.CancelScope()
    envelope.bind_scope(scope)
    with trio.move_on_after(1):
        await envelope.wait()
    assert envelope.abandoned
    assert scope.cancel_called


async def test_cast_envelopes_have_no_reply():
    envelope: Envelope[str, int] = Envelope("m", expects_reply=False)
    assert not envelope.expects_reply
    envelope.reply(1)
    envelope.fail(RuntimeError("nobody listens"))
    assert not envelope.answered
    with pytest.raises(RuntimeError, match="cast"):
        await envelope.wait()


def test_result_before_any_answer_is_an_error():
    envelope: Envelope[str, int] = Envelope("m")
    with pytest.raises(RuntimeError, match="not been answered"):
        envelope.result()
    assert "pending" in repr(envelope)
