"""Shared pytest setup. Keep small: fixtures live in their own modules, loaded here."""

import os

from hypothesis import settings

pytest_plugins = ["labfixtures"]

# CI explores the same examples every run, so a red build is always reproducible; developers'
# runs stay random and keep finding new cases (as they found the flapping-cause bug).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
