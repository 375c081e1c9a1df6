"""Key material never leaves the library: the configured keys, and anything shaped like a key,
are scrubbed from every error text and log line."""

from __future__ import annotations

import re

__all__ = ["redact", "register_secret"]

_KEY_PATTERNS = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|sk-ant-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,}"
    r"|(?<=key=)[^&\s\"']+|(?<=Bearer )[^\s\"']+)"
)


#: The configured key values themselves: removed from every error text and log line whatever
#: their shape (a key a server echoes back need not look like ``sk-...``).
_SECRETS: set[str] = set()
_SECRET_PATTERN: re.Pattern[str] | None = None
_MIN_SECRET_LENGTH = 6  # shorter values would scrub ordinary words


def register_secret(value: str | None) -> None:
    """Scrub ``value`` (a configured API key) from every error text and log line from now on."""
    global _SECRET_PATTERN
    if not value or len(value) < _MIN_SECRET_LENGTH or value in _SECRETS:
        return
    _SECRETS.add(value)
    ordered = sorted(_SECRETS, key=len, reverse=True)  # longest first: no partial leftovers
    _SECRET_PATTERN = re.compile("|".join(re.escape(v) for v in ordered))


def redact(text: str) -> str:
    """Replace the configured keys, and anything shaped like an API key, with ``[REDACTED]``."""
    if _SECRET_PATTERN is not None:
        text = _SECRET_PATTERN.sub("[REDACTED]", text)
    return _KEY_PATTERNS.sub("[REDACTED]", text)
