"""Where the tests' data lives: the recorded provider payloads and the documents they check."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
USAGE = REPO / "docs" / "usage.md"
