"""Testing your code with hafs: no keys, no network.

- :func:`open_emulated_orchestrator`: the five provider emulators on loopback and an
  orchestrator routed to them (``async with open_emulated_orchestrator() as (orch, emus):``);
- :mod:`hafs_actors.testing.emulators`: the emulators themselves, in-process
  (:func:`~hafs_actors.testing.emulators.open_emulators`) or as a subprocess
  (:func:`emulator_process`), with fault plans, quotas and latency models;
- :class:`ScriptedAdapter` and :class:`FunctionAdapter`: custom adapters whose answers a test
  scripts, registered with ``orch.register_adapter(name, adapter)``.

See docs/testing.md.
"""

from __future__ import annotations

from .._exports import publish as _publish
from ..bench.emulator_process import EmulatorProcess, emulator_process
from ._adapters import Delay, FunctionAdapter, Outcome, ScriptedAdapter
from ._orchestrator import emulated_config, emulator_base_url, open_emulated_orchestrator

__all__ = [
    "Delay",
    "EmulatorProcess",
    "FunctionAdapter",
    "Outcome",
    "ScriptedAdapter",
    "emulated_config",
    "emulator_base_url",
    "emulator_process",
    "open_emulated_orchestrator",
]

_publish(__name__, globals(), __all__)
