"""The front ends mirror the trio API: same parameters, loaded only on request."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import hafs_actors.aio
import hafs_actors.sync
from hafs_actors import UnifiedOrchestrator

MIRRORED = [
    "generate",
    "stream",
    "embed",
    "embeddings",
    "fanout",
    "generate_many",
    "status",
    "health",
    "register_adapter",
    "set_tier_route",
]


@pytest.mark.parametrize("front_end", [hafs_actors.aio.Orchestrator, hafs_actors.sync.Orchestrator])
@pytest.mark.parametrize("name", MIRRORED)
def test_methods_have_the_trio_methods_parameters_and_docs(front_end: type, name: str) -> None:
    ours, theirs = getattr(front_end, name), getattr(UnifiedOrchestrator, name)
    assert inspect.signature(ours) == inspect.signature(theirs)
    assert ours.__doc__ == theirs.__doc__
    assert ours.__qualname__ == f"Orchestrator.{name}"


def test_import_hafs_actors_does_not_load_the_front_ends() -> None:
    code = (
        "import sys, hafs_actors; "
        "print(sorted(m for m in sys.modules if m.startswith('hafs_actors.frontends') "
        "or m in ('hafs_actors.aio', 'hafs_actors.sync')))"
    )
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
