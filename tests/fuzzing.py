"""Shared settings of the fuzz targets (hypothesis): bounded runs, counts set from the environment.

``PANTAU_FUZZ_EXAMPLES`` sets the examples per target (default 200 in CI, see docs/testing.md).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ = settings(
    max_examples=int(os.environ.get("PANTAU_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=os.environ.get("PANTAU_FUZZ_RANDOM") is None,
    database=None,  # no .hypothesis directory in the repository
)
