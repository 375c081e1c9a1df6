"""Random programs of API calls and child exits against a model of OTP's supervisor state.

Each program runs in one trio run; after every step the supervisor's ``which_children`` must
equal the model's, and every call must succeed or fail exactly as the model says. Children do
not trap exits, so whatever their ``shutdown`` they are cancelled at once: no clock time passes
(checked after every step) and every restart falls in the intensity window.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import supervisors as sv
from supervisors import Restart, Strategy

IDS = ("a", "b", "c", "d")
SHUTDOWNS = (sv.Shutdown.BRUTAL_KILL, sv.Shutdown(5.0), sv.Shutdown.INFINITY)


class Crash(Exception):
    pass


class Scripted:
    """A child that exits or crashes when told; its handle counts its starts."""

    def __init__(self, child_id: str) -> None:
        self.id = child_id
        self.starts = 0
        self._command: trio.MemorySendChannel[str] | None = None

    async def __call__(self, *, task_status: trio.TaskStatus[str]) -> None:
        self.starts += 1
        send, receive = trio.open_memory_channel[str](1)
        self._command = send
        task_status.started(f"{self.id}#{self.starts}")
        if await receive.receive() == "crash":
            raise Crash(self.id)

    def tell(self, command: str) -> None:
        assert self._command is not None
        self._command.send_nowait(command)


class Model:
    """Children in start order: id -> [restart type, state]."""

    def __init__(self, strategy: Strategy, intensity: int) -> None:
        self.strategy = strategy
        self.intensity = intensity
        self.children: dict[str, list[Any]] = {}
        self.restarts = 0
        self.gave_up = False

    def rows(self) -> list[tuple[str, str]]:
        return [(cid, state) for cid, (_, state) in self.children.items()]

    def start(self, cid: str, restart: Restart) -> str:
        if cid in self.children:
            return "duplicate"
        self.children[cid] = [restart, "running"]
        return "ok"

    def terminate(self, cid: str) -> str:
        if cid not in self.children:
            return "not_found"
        if self.children[cid][0] is Restart.TEMPORARY:
            del self.children[cid]
        else:
            self.children[cid][1] = "terminated"
        return "ok"

    def restart(self, cid: str) -> str:
        if cid not in self.children:
            return "not_found"
        if self.children[cid][1] == "running":
            return "running"
        self.children[cid][1] = "running"
        return "ok"

    def delete(self, cid: str) -> str:
        if cid not in self.children:
            return "not_found"
        if self.children[cid][1] != "terminated":
            return "running"
        del self.children[cid]
        return "ok"

    def child_exits(self, cid: str, crashed: bool) -> None:
        restart = self.children[cid][0]
        if restart is Restart.TEMPORARY:
            del self.children[cid]
            return
        if restart is Restart.TRANSIENT and not crashed:
            self.children[cid][1] = "terminated"
            return
        if self.restarts + 1 > self.intensity:  # all at t=0: every restart is in the window
            self.gave_up = True
            return
        self.restarts += 1
        ids = list(self.children)
        if self.strategy is Strategy.ONE_FOR_ONE:
            group = [cid]
        elif self.strategy is Strategy.ONE_FOR_ALL:
            group = ids
        else:
            group = ids[ids.index(cid) :]
        for other in group:
            if other != cid and self.children[other][0] is Restart.TEMPORARY:
                del self.children[other]
            else:
                self.children[other][1] = "running"


operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("start"),
            st.sampled_from(IDS),
            st.sampled_from(list(Restart)),
            st.sampled_from(SHUTDOWNS),
        ),
        st.tuples(st.sampled_from(["terminate", "restart", "delete"]), st.sampled_from(IDS)),
        st.tuples(st.sampled_from(["crash", "exit"]), st.sampled_from(IDS)),
    ),
    max_size=30,
)


@given(
    strategy=st.sampled_from(list(Strategy)),
    intensity=st.integers(0, 6),
    program=operations,
)
def test_random_programs_match_the_model(strategy, intensity, program):
    model = Model(strategy, intensity)

    async def main() -> None:
        scripted: dict[str, Scripted] = {}
        outcome_of = {
            sv.DuplicateChildError: "duplicate",
            sv.ChildNotFoundError: "not_found",
            sv.ChildRunningError: "running",
        }
        try:
            async with sv.open_supervisor(strategy, intensity) as sup:
                for op, cid, *rest in program:
                    if op in ("crash", "exit"):
                        if model.children.get(cid, [None, ""])[1] != "running":
                            continue
                        scripted[cid].tell(op)
                        model.child_exits(cid, op == "crash")
                        await trio.testing.wait_all_tasks_blocked()
                        assert trio.current_time() == 0.0
                        if model.gave_up:
                            await trio.sleep(1)  # the supervisor cancels us and raises
                            raise AssertionError("the supervisor should have given up")
                        continue
                    try:
                        if op == "start":
                            child = Scripted(cid)
                            await sup.start_child(
                                sv.ChildSpec(cid, child, rest[0], shutdown=rest[1])
                            )
                            scripted[cid] = child
                        else:
                            await getattr(sup, f"{op}_child")(cid)
                        got = "ok"
                    except sv.SupervisorError as exc:
                        got = outcome_of[type(exc)]
                    expected = getattr(model, op)(cid, *rest[:1])
                    assert got == expected, (op, cid)
                    assert trio.current_time() == 0.0
                    rows = [(c.id, c.state.value) for c in sup.which_children()]
                    assert rows == model.rows()
                    assert sup.statistics().restarts_total == model.restarts
        except sv.RestartIntensityExceeded:
            assert model.gave_up
        else:
            assert not model.gave_up
            assert trio.current_time() == 0.0  # leaving the block stopped everyone at once

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
