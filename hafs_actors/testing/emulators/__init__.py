"""Loopback emulators of the five LLM providers, for tests, demos and benchmarks.

Each emulator speaks one provider's real wire protocol (OpenAI, Anthropic, Gemini, Ollama,
llama.cpp) over a real socket, with deterministic content, a latency model on trio's clock,
server-side quotas and a fault plan that can be changed while it runs::

    async with open_emulator("openai", config=EmulatorConfig(latency="realistic")) as emu:
        emu.set_faults(FaultPlan([Fault(kind="rate_limit", nth=2)]))
        ...  # point a client at emu.base_url + "/v1" with emu.api_key

``hafs emulate`` serves them from a separate process (trio, or granian for benchmarks).
"""

from __future__ import annotations

from .config import DEFAULT_API_KEY, EmulatorConfig, LatencyMode
from .content import count_tokens, embedding_vector
from .core import EmulatorCore
from .emulator import Emulator, open_emulator, open_emulators
from .faults import FAULT_KINDS, Fault, FaultKind, FaultPlan
from .profiles import PROVIDERS, LatencyModel, ModelProfile, default_profiles
from .quota import Quota
from .stats import EmulatorStats

__all__ = [
    "DEFAULT_API_KEY",
    "FAULT_KINDS",
    "PROVIDERS",
    "Emulator",
    "EmulatorConfig",
    "EmulatorCore",
    "EmulatorStats",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "LatencyMode",
    "LatencyModel",
    "ModelProfile",
    "Quota",
    "count_tokens",
    "default_profiles",
    "embedding_vector",
    "open_emulator",
    "open_emulators",
]
