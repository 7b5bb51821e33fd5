"""Shared pytest setup. Keep small: fixtures live in their own modules, loaded here."""

import os
from pathlib import Path

from hypothesis import settings

# The processes the tests start (agents, collectors, the lab) run this checkout's code too, as the
# test process does through pyproject's `pythonpath`, whatever pantau is installed and wherever
# pytest was started from.
_SRC = str(Path(__file__).resolve().parents[1] / "src")
if _SRC not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)

pytest_plugins = ["labfixtures", "collectorproc"]

# CI explores the same examples every run, so a red build is always reproducible; developers'
# runs stay random and keep finding new cases (as they found the flapping-cause bug).
# No per-example time limit anywhere: the machines are shared and a slow example is not a wrong
# one (a 200 ms deadline failed test_state at load 10 and passed alone). Speed belongs in bench/.
settings.register_profile("shared", deadline=None)
settings.register_profile(
    "ci", parent=settings.get_profile("shared"), derandomize=True, print_blob=True
)
settings.load_profile("ci" if os.environ.get("CI") else "shared")
