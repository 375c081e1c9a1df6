"""Child specs, shutdown values, backoff settings and supervisor flags: defaults and validation."""

from __future__ import annotations

import math

import pytest
import trio

import supervisors as sv
from supervisors import Backoff, ChildSpec, ChildType, Restart, Shutdown, Strategy


async def idle(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    await trio.sleep_forever()


def test_child_spec_defaults_follow_otp() -> None:
    """A worker defaults to permanent and a 5 s shutdown; a supervisor child to infinity."""
    worker = ChildSpec("w", idle)
    assert worker.restart is Restart.PERMANENT
    assert worker.type is ChildType.WORKER
    assert worker.shutdown == Shutdown(5.0) == 5.0
    assert worker.trap_exit is False
    nested = ChildSpec("s", idle, type=ChildType.SUPERVISOR)
    assert nested.shutdown is Shutdown.INFINITY
    assert nested.trap_exit is True
    assert sv.supervisor_child_spec("n").trap_exit is True
    assert ChildSpec("w", idle, trap_exit=True).trap_exit is True


def test_child_spec_accepts_numbers_and_shutdown_constants() -> None:
    """``shutdown=5.0`` and ``shutdown=Shutdown.BRUTAL_KILL`` both work, positionally too."""
    assert ChildSpec("a", idle, Restart.TRANSIENT, 2).shutdown == 2.0
    assert ChildSpec("a", idle, shutdown=Shutdown.BRUTAL_KILL).shutdown.is_brutal_kill
    assert ChildSpec("a", idle, shutdown=math.inf).shutdown == Shutdown.INFINITY
    assert ChildSpec("a", idle, shutdown=Shutdown(0.5)).shutdown.timeout == 0.5


def test_shutdown_values_compare_and_hash_consistently() -> None:
    """Timeouts equal their number of seconds; brutal kill equals no number."""
    assert Shutdown(3) == 3.0
    assert hash(Shutdown(3)) == hash(3.0)
    assert math.inf == Shutdown.INFINITY
    assert Shutdown.BRUTAL_KILL != 0
    assert Shutdown.BRUTAL_KILL.timeout == 0.0
    assert Shutdown.BRUTAL_KILL != Shutdown.INFINITY
    assert Shutdown(3) != "3"
    assert len({Shutdown(1.0), Shutdown(1), Shutdown.BRUTAL_KILL, Shutdown.INFINITY}) == 3
    assert repr(Shutdown.BRUTAL_KILL) == "Shutdown.BRUTAL_KILL"
    assert repr(Shutdown(2.5)) == "Shutdown(2.5)"


@pytest.mark.parametrize("bad", [0, -1, math.nan, "5", None, True])
def test_bad_shutdown_is_rejected(bad: object) -> None:
    """Zero, negative, NaN and non-numbers are not shutdowns (0 would be BRUTAL_KILL)."""
    with pytest.raises(sv.InvalidSpecError, match="shutdown"):
        ChildSpec("a", idle, shutdown=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"id": [1], "start": idle}, "hashable"),
        ({"id": "a", "start": 42}, "callable"),
        ({"id": "a", "start": idle, "restart": "permanent"}, "restart"),
        ({"id": "a", "start": idle, "type": "worker"}, "type"),
        ({"id": "a", "start": idle, "trap_exit": 1}, "trap_exit"),
    ],
)
def test_bad_child_spec_is_rejected(kwargs: dict[str, object], match: str) -> None:
    """Each field says what it expected."""
    with pytest.raises(sv.InvalidSpecError, match=match):
        ChildSpec(**kwargs)  # type: ignore[arg-type]


def test_invalid_spec_error_is_both_value_and_type_error() -> None:
    """Callers may catch either idiom."""
    with pytest.raises(ValueError, match="shutdown"):
        ChildSpec("a", idle, shutdown=-1)
    with pytest.raises(TypeError, match="restart"):
        ChildSpec("a", idle, restart="oops")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min": 0}, "min"),
        ({"min": -1.0}, "min"),
        ({"min": math.inf}, "min"),
        ({"min": 2.0, "max": 1.0}, "max"),
        ({"random_factor": 1.5}, "random_factor"),
        ({"random_factor": -0.1}, "random_factor"),
        ({"reset_after": 0}, "reset_after"),
        ({"min": "1"}, "min"),
    ],
)
def test_bad_backoff_is_rejected(kwargs: dict[str, object], match: str) -> None:
    """Akka's rules: min > 0, max >= min, random_factor in [0, 1]; reset_after > 0."""
    with pytest.raises(sv.InvalidSpecError, match=match):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_backoff_delays_double_up_to_max_with_bounded_jitter() -> None:
    """min * 2**n capped at max, then at most random_factor more."""
    backoff = Backoff(min=1.0, max=5.0, random_factor=0.5)
    assert [backoff.delay(n) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.delay(1, rand=0.999) == pytest.approx(2.0 * 1.4995)
    assert backoff.delay(10_000) == 5.0
    assert Backoff(min=0.5).effective_reset_after == 0.5
    assert Backoff(min=0.5, reset_after=7).effective_reset_after == 7


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"intensity": -1}, "intensity"),
        ({"intensity": 1.5}, "intensity"),
        ({"intensity": True}, "intensity"),
        ({"period": 0}, "period"),
        ({"period": -5}, "period"),
        ({"period": math.nan}, "period"),
        ({"strategy": "one_for_one"}, "strategy"),
        ({"backoff": 1.0}, "backoff"),
        ({"observer": 3}, "observer"),
        ({"name": ""}, "name"),
        ({"children": [ChildSpec("a", idle), ChildSpec("a", idle)]}, "duplicate"),
        ({"children": ["not a spec"]}, "ChildSpec"),
        ({"children": ChildSpec("a", idle)}, "sequence"),
    ],
)
async def test_bad_supervisor_flags_are_rejected(kwargs: dict[str, object], match: str) -> None:
    """open_supervisor validates before starting anything, with a clear message."""
    with pytest.raises(sv.InvalidSpecError, match=match):
        async with sv.open_supervisor(**kwargs):  # type: ignore[arg-type]
            pytest.fail("the body must not run")


def test_duplicate_ids_are_rejected_for_nested_supervisors_too() -> None:
    """supervisor_child_spec validates its flags and children when the spec is made."""
    with pytest.raises(sv.DuplicateChildError):
        sv.supervisor_child_spec("s", children=[ChildSpec("a", idle), ChildSpec("a", idle)])
    with pytest.raises(sv.InvalidSpecError, match="intensity"):
        sv.supervisor_child_spec("s", intensity=-1)
    spec = sv.supervisor_child_spec("s")
    assert spec.type is ChildType.SUPERVISOR
    assert spec.shutdown is Shutdown.INFINITY


def test_public_names_live_in_the_package() -> None:
    """Reprs and tracebacks show ``supervisors.X``, and every public name is exported."""
    assert ChildSpec.__module__ == "supervisors"
    assert sv.open_supervisor.__module__ == "supervisors"
    for name in sv.__all__:
        assert hasattr(sv, name)
    assert {"Strategy", "Restart", "Shutdown", "ChildSpec", "open_supervisor"} <= set(sv.__all__)
    assert {"Supervisor", "RestartIntensityExceeded"} <= set(sv.__all__)
    assert [s.name for s in Strategy] == ["ONE_FOR_ONE", "ONE_FOR_ALL", "REST_FOR_ONE"]
    assert [r.name for r in Restart] == ["PERMANENT", "TRANSIENT", "TEMPORARY"]
