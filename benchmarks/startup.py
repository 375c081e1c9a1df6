"""Start-up cost of ``import hafs_actors`` beside ``import httpx, trio`` alone.

Each round starts a fresh interpreter per variant, interleaved (so a busy moment hits both),
and reads the import's own wall time (``time.perf_counter`` around the import, inside the
child) and the child's peak RSS after it (``resource.getrusage``'s ``ru_maxrss``). The figures
are medians over the rounds; the ratios are what the targets speak of (at most 1.2x each).

    .venv/bin/python benchmarks/startup.py              # 15 rounds
    .venv/bin/python benchmarks/startup.py --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

VARIANTS = {
    "python alone": "pass",
    "httpx + trio": "import httpx, trio",
    "hafs_actors": "import hafs_actors",
}

CHILD = """
import resource, time, json
t0 = time.perf_counter()
{statement}
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"ms": elapsed * 1000, "rss_kib": peak}}))
"""


def measure(statement: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(statement=statement)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for statement in VARIANTS.values():  # warm the file cache once
        measure(statement)
    for _ in range(args.rounds):
        for name, statement in VARIANTS.items():
            samples[name].append(measure(statement))
    ms = {n: statistics.median(s["ms"] for s in runs) for n, runs in samples.items()}
    rss = {n: statistics.median(s["rss_kib"] for s in runs) / 1024 for n, runs in samples.items()}
    print(f"{'variant':<14} {'import ms':>10} {'peak RSS MiB':>13}")
    for name in VARIANTS:
        print(f"{name:<14} {ms[name]:>10.1f} {rss[name]:>13.1f}")
    base = "httpx + trio"
    print(
        f"hafs_actors / httpx + trio: import time {ms['hafs_actors'] / ms[base]:.2f}x, "
        f"RSS {rss['hafs_actors'] / rss[base]:.2f}x (targets <= 1.2x)"
    )


if __name__ == "__main__":
    main()
