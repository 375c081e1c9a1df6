"""The root of every error the library raises on purpose, shared by all layers (the actor
runtime included, which knows nothing else of the LLM errors)."""

from __future__ import annotations

import attrs

from ._secrets import redact

__all__ = ["HafsError"]


class HafsError(Exception):
    """Base of every error this library raises on purpose."""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: the error's type, message and its public fields (attempts included)."""
        from .types import to_plain

        out: dict[str, object] = {"type": type(self).__name__, "message": str(self)}
        for key, value in vars(self).items():
            if key.startswith("_") or key in ("message", "cause"):
                continue
            if isinstance(value, tuple):
                value = [to_plain(v) if attrs.has(type(v)) else v for v in value]
            elif attrs.has(type(value)):
                value = to_plain(value)
            out[key] = value
        cause = getattr(self, "cause", None)
        if cause is not None:
            out["cause"] = f"{type(cause).__name__}: {redact(str(cause))}"
        return out
