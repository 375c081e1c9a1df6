"""One worker process of the exactness test: 32 tasks take admissions from one shared quota.

Usage: python -m tests.state._worker URL SECONDS. Waits for the key ``go``, then prints a JSON
list of the Redis server times of its admissions.
"""

from __future__ import annotations

import json
import sys

import trio

from hafs_actors.resilience import RateLimits
from hafs_actors.state import StateSettings, open_state_backend
from hafs_actors.state._limiter import SharedRateLimiter

#: 20 requests per second (one every 50 ms) with 0.2 s of burst tolerance
LIMITS = RateLimits(requests=20, period=1.0)
BURST = 0.2


async def main(url: str, seconds: float) -> None:
    times: list[float] = []
    settings = StateSettings(redis_url=url, share=4, burst=BURST)
    async with open_state_backend(settings) as backend:
        limiter = backend.limiter("exact", "", LIMITS)
        assert isinstance(limiter, SharedRateLimiter)
        client = backend._client  # type: ignore[attr-defined]
        while await client.get("go") is None:
            await trio.sleep(0.002)

        async def task() -> None:
            while True:
                async with limiter.acquire() as lease:
                    assert lease.server_time is not None
                    times.append(lease.server_time)

        with trio.move_on_after(seconds):
            async with trio.open_nursery() as nursery:
                for _ in range(32):
                    nursery.start_soon(task)
    print(json.dumps(times))


if __name__ == "__main__":
    trio.run(main, sys.argv[1], float(sys.argv[2]))
