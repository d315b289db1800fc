"""Test-wide settings: every random generator is seeded.

Hypothesis runs derandomized (its examples are a fixed function of the test), so
a failure reproduces on every machine.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    derandomize=True,
    deadline=None,
    max_examples=int(os.environ.get("STREAMFEAT_HYPOTHESIS_EXAMPLES", "60")),
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("default")
