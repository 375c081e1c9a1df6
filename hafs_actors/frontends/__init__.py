"""Front ends for asyncio and synchronous programs: :mod:`hafs_actors.aio`, :mod:`hafs_actors.sync`.

The trio runtime stays the core: each front-end orchestrator runs a UnifiedOrchestrator in a
thread of its own and enters it through trio's token portal. Nothing here runs asyncio inside
the runtime. See docs/frontends.md.
"""
