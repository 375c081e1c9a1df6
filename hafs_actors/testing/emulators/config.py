"""How one emulator behaves: key, models, latency mode, content, faults."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import attrs

from .faults import FaultPlan
from .profiles import LatencyModel, ModelProfile

__all__ = ["DEFAULT_API_KEY", "EmulatorConfig", "LatencyMode"]

DEFAULT_API_KEY = "emulator-key"
LatencyMode = Literal["zero", "realistic"]


def _reply_tokens(_inst: object, _attr: object, value: tuple[int, int]) -> None:
    lo, hi = value
    if not 1 <= lo <= hi:
        raise ValueError(f"reply_tokens must be (min, max) with 1 <= min <= max, got {value!r}")


def _latency(_inst: object, _attr: object, value: object) -> None:
    if not isinstance(value, LatencyModel) and value not in ("zero", "realistic"):
        raise ValueError(f"latency must be 'zero', 'realistic' or a LatencyModel, got {value!r}")


def _model_tuple(models: Iterable[ModelProfile] | None) -> tuple[ModelProfile, ...] | None:
    return None if models is None else tuple(models)


@attrs.frozen
class EmulatorConfig:
    """Configuration of one emulated provider.

    * ``api_key``: the key it accepts (never shown in reprs). ``require_auth=None`` checks keys
      the way the real service does by default: OpenAI, Anthropic and Gemini always; Ollama and
      llama.cpp never (set ``True`` to emulate ``llama-server --api-key`` or Ollama's cloud).
    * ``models``: the models served (``None``: realistic defaults per provider, see
      :func:`~.profiles.default_profiles`); unknown models get the provider's
      404 unless ``accept_any_model`` (default: only llama.cpp, which ignores the name).
    * ``latency``: ``"zero"`` (no delays: tests and throughput), ``"realistic"`` (each model's
      profile) or one :class:`LatencyModel` for every model.
    * ``seed``, ``reply_prefix`` (may use ``{provider}`` and ``{model}``) and ``reply_tokens``
      (natural reply length range, before ``max_tokens``) shape the deterministic content.
    * ``faults``: the initial fault plan (and quota). ``loading_seconds``: llama.cpp answers
      503 "Loading model" this long after start. ``epoch``: wall-clock time at start (``None``:
      the real time), which fixes ``created`` fields for byte-exact tests.
    """

    api_key: str = attrs.field(default=DEFAULT_API_KEY, repr=False)
    require_auth: bool | None = None
    models: tuple[ModelProfile, ...] | None = attrs.field(default=None, converter=_model_tuple)
    accept_any_model: bool | None = None
    latency: LatencyMode | LatencyModel = attrs.field(default="zero", validator=_latency)
    seed: int = 0
    reply_prefix: str = ""
    reply_tokens: tuple[int, int] = attrs.field(default=(12, 48), validator=_reply_tokens)
    embedding_dimensions: int | None = None
    faults: FaultPlan = attrs.field(factory=FaultPlan)
    loading_seconds: float = 0.0
    epoch: float | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    admin: bool = True
