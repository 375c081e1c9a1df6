"""Which requests a fault rule hits: nth, every, count, probability and filters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hafs_actors.testing.emulators import EmulatorConfig, Fault, FaultPlan
from hafs_actors.testing.emulators.faults import FaultSelector

from ._helpers import auth_headers, chat_request, serving


def _fired(plan: FaultPlan, requests: int, seed: int = 0) -> list[int]:
    """1-based indices of the requests that got a fault, for identical chat requests."""
    selector = FaultSelector(plan, seed)
    return [
        i
        for i in range(1, requests + 1)
        if selector.select("chat.completions", "/v1/chat/completions", "generate", "m", False)
    ]


@given(
    nth=st.none() | st.integers(1, 30),
    every=st.none() | st.integers(1, 10),
    count=st.none() | st.integers(1, 10),
    requests=st.integers(0, 60),
)
def test_nth_every_count_select_exactly_the_expected_requests(
    nth: int | None, every: int | None, count: int | None, requests: int
) -> None:
    plan = FaultPlan([Fault(kind="http_error", nth=nth, every=every, count=count)])
    expected = [
        i
        for i in range(1, requests + 1)
        if (nth is None or i == nth) and (every is None or i % every == 0)
    ]
    if count is not None:
        expected = expected[:count]
    assert _fired(plan, requests) == expected


@given(
    first=st.integers(1, 20),
    second=st.integers(1, 20),
    requests=st.integers(1, 40),
)
def test_rules_count_independently_and_the_first_match_wins(
    first: int, second: int, requests: int
) -> None:
    plan = FaultPlan(
        [Fault(kind="http_error", status=500, nth=first), Fault(kind="hang", nth=second)]
    )
    selector = FaultSelector(plan, 0)
    kinds = []
    for _ in range(requests):
        fault = selector.select("e", "/p", "generate", None, False)
        kinds.append(fault.kind if fault else None)
    expected: list[str | None] = [None] * requests
    if second <= requests:
        expected[second - 1] = "hang"
    if first <= requests:
        expected[first - 1] = "http_error"
    assert kinds == expected


@given(probability=st.floats(0.0, 1.0), seed=st.integers(0, 2**32))
def test_probability_is_seeded(probability: float, seed: int) -> None:
    plan = FaultPlan([Fault(kind="http_error", probability=probability)])
    assert _fired(plan, 50, seed) == _fired(plan, 50, seed)
    if probability == 0.0:
        assert _fired(plan, 50, seed) == []
    if probability == 1.0:
        assert len(_fired(plan, 50, seed)) == 50


def test_probability_hits_about_that_share() -> None:
    plan = FaultPlan([Fault(kind="http_error", probability=0.3)], seed=11)
    assert 2400 < len(_fired(plan, 10_000)) < 3600
    assert _fired(plan, 200) != _fired(FaultPlan(plan.faults, seed=12), 200)


@pytest.mark.parametrize(
    ("fault", "hits"),
    [
        (Fault(kind="http_error", endpoint="embeddings"), {"embed"}),
        (Fault(kind="http_error", endpoint="/v1/chat/completions"), {"chat", "stream", "other"}),
        (Fault(kind="http_error", endpoint="generate"), {"chat", "stream", "other"}),
        (Fault(kind="http_error", model="gpt-4o"), {"other"}),
        (Fault(kind="http_error", stream=True), {"stream"}),
        (Fault(kind="http_error", stream=False), {"chat", "embed", "other"}),
    ],
)
async def test_filters_over_the_wire(fault: Fault, hits: set[str]) -> None:
    _path, chat = chat_request("openai")
    _, stream = chat_request("openai", stream=True)
    requests = {
        "chat": ("/v1/chat/completions", chat),
        "stream": ("/v1/chat/completions", stream),
        "embed": ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"}),
        "other": ("/v1/chat/completions", {**chat, "model": "gpt-4o"}),
    }
    config = EmulatorConfig(faults=FaultPlan([Fault(**{**_fields(fault), "status": 503})]))
    async with serving("openai", config) as (emu, client):
        failed = set()
        for name, (request_path, body) in requests.items():
            response = await client.post(request_path, json=body, headers=auth_headers(emu))
            if response.status_code == 503:
                failed.add(name)
    assert failed == hits


def _fields(fault: Fault) -> dict[str, object]:
    return {k: v for k, v in fault.to_dict().items()}


async def test_nth_request_over_the_wire_and_runtime_replacement() -> None:
    path, body = chat_request("anthropic")
    config = EmulatorConfig(faults=FaultPlan([Fault(kind="http_error", status=529, nth=3)]))
    async with serving("anthropic", config) as (emu, client):
        statuses = [
            (await client.post(path, json=body, headers=auth_headers(emu))).status_code
            for _ in range(5)
        ]
        emu.set_faults(FaultPlan([Fault(kind="http_error", status=500, nth=1)]))
        after = [
            (await client.post(path, json=body, headers=auth_headers(emu))).status_code
            for _ in range(2)
        ]
    assert statuses == [200, 200, 529, 200, 200]
    assert after == [500, 200]  # a new plan counts from one again
