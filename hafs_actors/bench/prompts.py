"""Synthetic prompts of roughly a given token count.

Each request gets its own text (seeded by the run seed and the request index) so that no
provider-side prompt cache can make later requests look faster than the first ones. Words are
common short English words, about one token each in the major tokenizers; counts are
approximate, which is all a latency benchmark needs.
"""

from __future__ import annotations

import random

__all__ = ["synthetic_prompt"]

_VOCABULARY = (
    "the of and to in is it you that he was for on are as with his they at be this have from "
    "or one had by word but not what all were we when your can said there use an each which "
    "she do how their if will up other about out many then them these so some her would make "
    "like him into time has look two more write go see number no way could people my than "
    "first water been call who oil its now find long down day did get come made may part over "
    "new sound take only little work know place year live me back give most very after thing "
    "our just name good sentence man think say great where help through much before line right "
    "too mean old any same tell boy follow came want show also around form three small set put "
    "end does another well large must big even such because turn here why ask went men read "
    "need land different home us move try kind hand picture again change off play spell air "
    "away animal house point page letter mother answer found study still learn should world"
)
_WORDS = tuple(_VOCABULARY.split())

_INSTRUCTION = "Continue this text with a long story:"


def synthetic_prompt(tokens: int, *, seed: int, index: int) -> str:
    """About ``tokens`` tokens of text, distinct per ``(seed, index)`` and reproducible."""
    rng = random.Random(seed * 1_000_003 + index)
    n = max(tokens - 8, 1)
    words = rng.choices(_WORDS, k=n)
    return f"{_INSTRUCTION} [{index}] {' '.join(words)}"
