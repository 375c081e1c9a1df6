"""Typed errors of the benchmark harness."""

from __future__ import annotations

from ..errors import HafsError

__all__ = ["BenchError", "BenchSpecError", "ReportFormatError"]


class BenchError(HafsError):
    """Base of the harness's own errors (request failures are recorded, never raised)."""


class BenchSpecError(BenchError, ValueError):
    """A benchmark specification is invalid; the message names the field and the value."""


class ReportFormatError(BenchError, ValueError):
    """A report file is not a ``hafs-bench`` JSON document this version can read."""
