"""Shared test configuration.

Hypothesis runs without deadlines (trio's MockClock makes wall time meaningless) and with a
bounded number of examples so the whole suite stays well inside CI's time budget.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
)
# CI explores the same examples on every run, so a submission's verdict does not depend on luck;
# local runs keep exploring new examples (and remember failures in .hypothesis/).
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")
