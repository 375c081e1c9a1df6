"""Restart intensity, exactly at the boundary, against a reference model of OTP's counting.

OTP (``add_restart`` in supervisor.erl): keep the earlier restarts with ``t >= now - period``, add
``now``, give up if the count exceeds ``intensity``. Counted per supervisor, not per child.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import supervisors as sv
from supervisors import Restart, Strategy
from supervisors._intensity import RestartWindow


class Crash(Exception):
    pass


# --- the window on its own ------------------------------------------------------------------


@given(
    intensity=st.integers(0, 5),
    period=st.floats(0.001, 100, allow_nan=False),
    gaps=st.lists(st.floats(0, 50, allow_nan=False), max_size=30),
)
def test_window_matches_naive_count_until_it_gives_up(intensity, period, gaps):
    """record(now) is exceeded exactly when more than intensity stamps satisfy t >= now - period."""
    window = RestartWindow(intensity, period)
    now, stamps = 0.0, []
    for gap in gaps:
        now += gap
        stamps.append(now)
        expected = sum(1 for t in stamps if t >= now - period) > intensity
        assert window.record(now) == expected
        if expected:
            break


def test_window_boundary_is_inclusive():
    """A restart exactly period seconds ago still counts."""
    window = RestartWindow(1, 5.0)
    assert not window.record(10.0)
    assert window.record(15.0)
    window = RestartWindow(1, 5.0)
    assert not window.record(10.0)
    assert not window.record(15.5)


# --- whole supervisors against the model ----------------------------------------------------


@attrs.frozen
class Scenario:
    strategy: Strategy
    intensity: int
    period: float
    restarts: tuple[Restart, ...]
    #: (child index, absolute time, "crash" or "exit"), times distinct and increasing.
    schedule: tuple[tuple[int, float, str], ...]

    @property
    def end(self) -> float:
        return (self.schedule[-1][1] if self.schedule else 0.0) + 1.0


@st.composite
def scenarios(draw: Any) -> Scenario:
    n = draw(st.integers(1, 4))
    times = sorted(draw(st.lists(st.integers(1, 40), unique=True, max_size=25)))
    schedule = tuple(
        (draw(st.integers(0, n - 1)), float(t), draw(st.sampled_from(["crash", "crash", "exit"])))
        for t in times
    )
    return Scenario(
        strategy=draw(st.sampled_from(list(Strategy))),
        intensity=draw(st.integers(0, 4)),
        period=float(draw(st.integers(1, 8))),
        restarts=tuple(draw(st.lists(st.sampled_from(list(Restart)), min_size=n, max_size=n))),
        schedule=schedule,
    )


def model(sc: Scenario) -> tuple[list[tuple[Any, ...]], tuple[int, str] | None, int]:
    """OTP's supervisor, by hand: the events it reports, who made it give up, restarts done."""
    n = len(sc.restarts)
    out: list[tuple[Any, ...]] = [("started", i, 0.0) for i in range(n)]
    running = [True] * n
    present = [True] * n
    stamps: list[float] = []
    done = 0
    for i, t, kind in sc.schedule:
        if not running[i]:
            continue  # that incarnation is gone; the event never happens
        running[i] = False
        reason = "error" if kind == "crash" else "normal"
        out.append(("exited", i, reason, t))
        restart = sc.restarts[i]
        if restart is Restart.TEMPORARY:
            present[i] = False
            continue
        if restart is Restart.TRANSIENT and reason == "normal":
            continue
        stamps = [s for s in stamps if s >= t - sc.period] + [t]
        if len(stamps) > sc.intensity:
            out.append(("gave_up", i, t))
            for j in reversed(range(n)):
                if present[j] and running[j]:
                    out.append(("exited", j, "shutdown", t))
            return out, (i, kind), done
        done += 1
        if sc.strategy is Strategy.ONE_FOR_ONE:
            group = [i]
        elif sc.strategy is Strategy.ONE_FOR_ALL:
            group = [j for j in range(n) if present[j]]
        else:
            group = [j for j in range(n) if present[j] and j >= i]
        for j in reversed(group):
            if j != i and running[j]:
                out.append(("exited", j, "shutdown", t))
                running[j] = False
        for j in group:
            if j != i and sc.restarts[j] is Restart.TEMPORARY:
                present[j] = False
                continue
            running[j] = True
            out.append(("restarted", j, t))
    for j in reversed(range(n)):
        if present[j] and running[j]:
            out.append(("exited", j, "shutdown", sc.end))
    return out, None, done


def run_scenario(sc: Scenario) -> tuple[list[tuple[Any, ...]], BaseException | None, int]:
    observed: list[tuple[Any, ...]] = []
    restarts_done = -1

    def observe(e: sv.SupervisorEvent) -> None:
        if isinstance(e, sv.ChildStarted):
            observed.append(("started", e.child_id, e.time))
        elif isinstance(e, sv.ChildRestarted):
            observed.append(("restarted", e.child_id, e.time))
        elif isinstance(e, sv.ChildExited):
            observed.append(("exited", e.child_id, e.reason.value, e.time))
        else:
            observed.append(("gave_up", e.child_id, e.time))

    def child(index: int) -> sv.ChildSpec:
        async def start(*, task_status: trio.TaskStatus[int]) -> None:
            now = trio.current_time()
            task_status.started(index)
            upcoming = [(t, k) for (i, t, k) in sc.schedule if i == index and t > now]
            if not upcoming:
                await trio.sleep_forever()
            t, kind = upcoming[0]
            await trio.sleep_until(t)
            if kind == "crash":
                raise Crash(f"child {index} at {t}")

        return sv.ChildSpec(index, start, sc.restarts[index], shutdown=sv.Shutdown.BRUTAL_KILL)

    async def main() -> BaseException | None:
        nonlocal restarts_done
        try:
            async with sv.open_supervisor(
                sc.strategy,
                sc.intensity,
                sc.period,
                [child(i) for i in range(len(sc.restarts))],
                observer=observe,
            ) as sup:
                await trio.sleep_until(sc.end)
                restarts_done = sup.statistics().restarts_total
        except sv.RestartIntensityExceeded as exc:
            return exc
        return None

    error = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return observed, error, restarts_done


@given(scenarios())
def test_random_crash_schedules_match_the_otp_model(sc):
    """Every strategy and restart type, random exits: same events, same give-up, same count."""
    expected, gave_up, done = model(sc)
    observed, error, restarts_done = run_scenario(sc)
    assert observed == expected
    if gave_up is None:
        assert error is None
        assert restarts_done == done
    else:
        assert isinstance(error, sv.RestartIntensityExceeded)
        assert error.child_id == gave_up[0]
        if gave_up[1] == "crash":
            assert isinstance(error.error, Crash)
            assert error.__cause__ is error.error
        else:
            assert error.error is None


@pytest.mark.parametrize(
    ("crash_times", "gives_up"),
    [
        ([1.0, 2.0, 6.0], True),  # 6 - 5 == 1: the restart at t=1 is still in the window
        ([1.0, 2.0, 6.25], False),  # just past it
        ([1.0, 1.0, 1.0], True),
        ([1.0, 6.0, 11.0, 16.0], False),  # 2 in any window
    ],
)
async def test_intensity_boundary_is_inclusive_end_to_end(crash_times, gives_up, autojump_clock):
    """intensity=2, period=5: a third restart exactly 5 s after the first one gives up."""
    remaining = list(crash_times)

    async def flaky(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        if remaining:
            await trio.sleep_until(remaining.pop(0))
            raise Crash("scheduled")
        await trio.sleep_forever()

    async def run() -> None:
        async with sv.open_supervisor(
            intensity=2, period=5.0, children=[sv.ChildSpec("f", flaky)]
        ) as sup:
            await trio.sleep_until(30)
            assert sup.statistics().restarts_total == len(crash_times)

    if gives_up:
        with pytest.raises(sv.RestartIntensityExceeded, match="more than 2 restart"):
            await run()
    else:
        await run()


async def test_intensity_is_counted_per_supervisor_not_per_child(autojump_clock):
    """Two children crashing once each exceed intensity=1 together."""

    async def once(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await trio.sleep(1)
        raise Crash("once")

    with pytest.raises(sv.RestartIntensityExceeded):
        async with sv.open_supervisor(
            intensity=1, children=[sv.ChildSpec("a", once), sv.ChildSpec("b", once)]
        ):
            await trio.sleep(10)


async def test_statistics_report_restarts_in_window(autojump_clock):
    """restarts_in_window forgets restarts older than period; restarts_total does not."""
    times = [1.0, 2.0]

    async def flaky(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        if times:
            await trio.sleep_until(times.pop(0))
            raise Crash("scheduled")
        await trio.sleep_forever()

    async with sv.open_supervisor(
        intensity=5, period=3.0, children=[sv.ChildSpec("f", flaky)]
    ) as sup:
        await trio.sleep_until(4.0)
        stats = sup.statistics()
        assert (stats.restarts_total, stats.restarts_in_window) == (2, 2)
        await trio.sleep_until(4.5)
        assert sup.statistics().restarts_in_window == 1
        await trio.sleep_until(5.0)
        assert sup.statistics().restarts_in_window == 1  # t=2 is exactly period ago
        await trio.sleep_until(5.5)
        assert sup.statistics().restarts_in_window == 0
        assert sup.statistics().restarts_total == 2
