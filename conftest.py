"""Project-wide pytest configuration for Patch's own test suite.

Hypothesis profiles: ``ci`` (the default: a few hundred examples over the whole suite)
and ``fuzz`` (thousands, for a long hunt). Pick one with hypothesis' own
``--hypothesis-profile=fuzz`` or with ``PATCH_HYPOTHESIS_PROFILE=fuzz``.
"""

import os

from hypothesis import HealthCheck, settings

_common = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
# CI draws the same examples on every run, so a red run is reproducible; fuzz explores.
settings.register_profile(
    "ci", max_examples=20, stateful_step_count=30, derandomize=True, **_common
)
settings.register_profile("fuzz", max_examples=2000, stateful_step_count=60, **_common)
settings.load_profile(os.environ.get("PATCH_HYPOTHESIS_PROFILE", "ci"))
