"""4 processes x 32 tasks on one quota admit exactly what one GCRA admits (real time, ~6 s)."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time

from tests.state._worker import BURST, LIMITS
from tests.state.conftest import COREDIS_DISCARDED_CONNECTIONS, RedisServer

pytestmark = COREDIS_DISCARDED_CONNECTIONS

ROOT = __file__.rsplit("/tests/", 1)[0]


def test_four_processes_admit_exactly_the_gcra_expectation(redis: RedisServer) -> None:
    run_for = 5.6
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.state._worker", redis.url, str(run_for)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    try:
        # every worker is connected and polling once the clients show up on the server
        with socket.create_connection(("127.0.0.1", redis.port), timeout=1) as sock:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                sock.sendall(b"CLIENT LIST\r\n")
                reply = sock.recv(65536).decode()
                if reply.count("cmd=get") >= 4:
                    break
                time.sleep(0.05)
            sock.sendall(b"SET go 1\r\n")
            sock.recv(16)
        outputs = [p.communicate(timeout=60)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert all(p.returncode == 0 for p in procs)
    times = sorted(t for out in outputs for t in json.loads(out))
    interval = LIMITS.period / LIMITS.requests  # 50 ms
    tolerance = BURST * LIMITS.period  # 200 ms
    start = times[0]
    # never early: admission k (0-based) comes no sooner than GCRA allows it
    for k, t in enumerate(times):
        assert t >= start + (k + 1) * interval - tolerance - 1e-6, (k, t - start)
    # never late: every slot of the first 5 s (plus half a slot of margin) was used
    span = 5.0 + interval / 2
    expected = math.floor((span + tolerance) / interval)
    assert sum(1 for t in times if t <= start + span) == expected
