"""Shared test configuration.

Hypothesis runs without deadlines (trio's MockClock makes wall time meaningless) and with a
bounded number of examples so the whole suite stays well inside CI's time budget.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("ci", parent=settings.get_profile("default"))
settings.load_profile("default")
