"""One seed, one schedule: two identical MockClock runs of breaker + retry + backoff match."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import supervisors
from hafs_actors.errors import ServerError
from hafs_actors.resilience import (
    BreakerConfig,
    CircuitBreaker,
    RetryConfig,
    RetryPolicy,
    Seeds,
    derive_rng,
)

Schedule = list[tuple[str, float]]


def run_scenario(seed: int | None) -> Schedule:
    """A provider that always fails: the attempts, breaker trips and restarts, with times."""
    seeds = Seeds(seed)
    schedule: Schedule = []

    async def main() -> None:
        breaker = CircuitBreaker(
            BreakerConfig(consecutive_failures=2, open_duration=1.0), rng=seeds.rng("breaker", "p")
        )
        policy = RetryPolicy(RetryConfig(max_retries=3), rng=seeds.rng("retry"))
        backoff = supervisors.Backoff(min=0.1, max=2.0, rng=seeds.rng("supervisor", "p"))
        for request in range(6):
            policy.record_request("p", trio.current_time())
            for attempt in range(4):
                now = trio.current_time()
                permit = breaker.try_acquire(now)
                if permit is None:
                    schedule.append(("rejected", now))
                    await trio.sleep(breaker.retry_after(now) or 0.0)
                    continue
                schedule.append((f"attempt {request}.{attempt}", now))
                error = ServerError("boom", provider="p", status=500)
                breaker.on_failure(permit, now, 0.01, error)
                decision = policy.decide(error, attempt, now, None, provider="p")
                if not decision.retry:
                    break
                await trio.sleep(decision.delay)
            await trio.sleep(backoff.delay(request))
        schedule.append(("end", trio.current_time()))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return schedule


def test_the_same_seed_gives_the_same_schedule() -> None:
    first = run_scenario(42)
    assert first == run_scenario(42)
    assert any(kind == "rejected" for kind, _ in first)  # the breaker's jitter was exercised


def test_different_seeds_give_different_schedules() -> None:
    assert run_scenario(1) != run_scenario(2)


def test_components_draw_independently() -> None:
    """Drawing in one component never shifts another's draws."""
    a = Seeds(7)
    retry = a.rng("retry")
    for _ in range(10):
        retry.random()
    assert a.rng("breaker", "p").random() == Seeds(7).rng("breaker", "p").random()
    assert derive_rng(7, "a", "bc").random() != derive_rng(7, "ab", "c").random()


def test_unseeded_generators_differ() -> None:
    assert derive_rng(None, "retry").random() != derive_rng(None, "retry").random()


@pytest.mark.parametrize("seed", [True, 1.5, "1"])
def test_a_seed_must_be_an_integer(seed: object) -> None:
    with pytest.raises(TypeError, match="random_seed"):
        derive_rng(seed, "retry")  # type: ignore[arg-type]


def test_a_backoff_with_rng_ignores_the_supervisors_draw() -> None:
    one = supervisors.Backoff(min=1.0, max=8.0, rng=derive_rng(3, "s"))
    two = supervisors.Backoff(min=1.0, max=8.0, rng=derive_rng(3, "s"))
    assert [one.delay(n, 0.9) for n in range(5)] == [two.delay(n, 0.1) for n in range(5)]
    assert one == supervisors.Backoff(min=1.0, max=8.0)  # the generator is not configuration
