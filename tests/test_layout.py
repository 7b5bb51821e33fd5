"""The layout every tool understands: tests and the processes they start run this checkout's code.

``src/pantau`` is the package; its ``agent``, ``collector``, ``geo`` and ``lab`` are links to the
top-level folders. Whatever pantau is installed (editable or not, or none), pytest's
``pythonpath = ["src"]`` and ``tests/conftest.py`` (``PYTHONPATH`` for child processes) make the
checkout's code the one under test, from any working directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pantau
import pantau.agent.icmp.wire

ROOT = Path(__file__).resolve().parents[1]


def test_nothing_at_the_repository_root_shadows_the_package() -> None:
    assert not (ROOT / "pantau").exists()
    assert (ROOT / "src" / "pantau" / "agent").resolve() == ROOT / "agent"


def test_the_tests_import_this_checkout() -> None:
    assert Path(pantau.__file__).resolve() == ROOT / "src" / "pantau" / "__init__.py"
    assert Path(pantau.agent.icmp.wire.__file__).resolve() == ROOT / "agent" / "icmp" / "wire.py"


@pytest.mark.parametrize("where", ["root", "tests", "elsewhere"])
def test_child_processes_import_this_checkout_from_any_directory(where, tmp_path) -> None:
    cwd = {"root": ROOT, "tests": ROOT / "tests", "elsewhere": tmp_path}[where]
    code = "import pantau.lab.control as m, pathlib; print(pathlib.Path(m.__file__).resolve())"
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(ROOT / "lab" / "control.py")


def test_python_m_runs_lab_modules_from_the_repository_root() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "pantau.lab.wire", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert "python -m pantau.lab.wire" in res.stdout
