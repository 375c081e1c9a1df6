"""docs/testing.md's examples run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from trio.testing import MockClock

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


async def test_every_example_runs(autojump_clock: MockClock) -> None:
    examples = blocks()
    assert len(examples) == 2
    for code in examples:
        namespace: dict[str, Any] = {}
        exec(compile(code, str(DOC), "exec"), namespace)
        tests = [v for k, v in namespace.items() if k.startswith("test_")]
        assert tests
        for test in tests:
            await test()
