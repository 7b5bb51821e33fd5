"""What a machine without a Debian tool or without the shared boundary layers is told.

The lab needs ``ip``/``tc`` (iproute2), ``ping`` (iputils-ping) and ``sysctl`` (procps): without one
it names the package to install instead of failing later ("office1 cannot reach core"). Tests that
read the shared boundary layers skip saying where the layers come from and how to point at them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _path_without(tmp: Path, missing: str) -> str:
    """A PATH holding the lab's tools, except ``missing``."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for tool in ("ip", "tc", "ping", "sysctl"):
        found = shutil.which(tool)
        if tool != missing and found:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


@pytest.mark.skipif(os.geteuid() != 0, reason="the lab checks its tools once it runs as root")
@pytest.mark.parametrize(
    ("tool", "package"), [("ping", "iputils-ping"), ("tc", "iproute2")], ids=["ping", "tc"]
)
def test_the_lab_names_the_debian_package_of_a_missing_tool(tmp_path, tool, package) -> None:
    env = {**os.environ, "PATH": _path_without(tmp_path, tool)}
    res = subprocess.run(
        [sys.executable, "-m", "pantau.cli", "lab", "--duration", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert res.returncode == 1
    assert f"network lab needs {tool}: install the Debian package(s) {package}" in res.stdout
    assert f"(apt-get install {package})" in res.stdout
    assert "Traceback" not in res.stderr


def test_boundary_layer_tests_say_where_the_layers_come_from(tmp_path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "test_geo_districts.py"), "-k", "shared or real or shp"],
        capture_output=True,
        text=True,
        env={**os.environ, "PANTAU_SHARED_GEO": str(tmp_path / "nowhere")},
        timeout=120,
        cwd=tmp_path,
    )  # fmt: skip
    skipped = [line for line in res.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skipped, res.stdout[-2000:]
    for line in skipped:
        assert f"real boundary layers not found at {tmp_path / 'nowhere'}" in line
        assert "cahyadsn/wilayah_boundaries" in line and "../shared/geo" in line
        assert "PANTAU_SHARED_GEO=/path/to/geo" in line
