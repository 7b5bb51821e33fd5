"""Commands that need an optional extra say which one and how to install it (exit 2, no traceback).

Each case runs the real ``pantau`` command in a child process whose import system refuses the
extra's modules, as on an agent host installed without ``pantau[geo]`` or ``pantau[postgres]``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Runs pantau's main() with some top-level modules unimportable (ModuleNotFoundError, as when
# the extra was never installed), whatever this machine has installed.
_WITHOUT = """
import sys
blocked = set(sys.argv[1].split(","))

class Absent:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Absent)
from pantau.cli import main
sys.exit(main(sys.argv[2:]))
"""


def pantau_without(modules: list[str], args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT, ",".join(modules), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


GEO_MODULES = ["geopandas", "shapely", "pyogrio", "pyproj", "matplotlib", "tqdm"]


@pytest.mark.parametrize(
    "args",
    [
        ["map", "--config", "config.example.toml", "--out", "OUT", "--state",
         "examples/state.json", "--at", "2026-11-20"],
        ["report", "--config", "config.example.toml", "--out", "OUT", "--state",
         "examples/state.json", "--month", "2026-11"],
    ],
    ids=["map", "report"],
)  # fmt: skip
def test_geo_commands_without_the_geo_extra_say_how_to_install_it(args, tmp_path):
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    res = pantau_without(GEO_MODULES, args, ROOT)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert f"pantau {args[0]}: this needs the optional extra 'geo'" in res.stderr
    assert f"{sys.executable} -m pip install 'pantau[geo]'" in res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_postgres_without_the_postgres_extra_says_how_to_install_it(tmp_path):
    config = tmp_path / "pantau.toml"
    config.write_text(
        '[collector]\nlisten = "127.0.0.1:0"\n'
        'database = "postgresql://pantau@127.0.0.1:1/pantau"\nagents = []\n'
    )
    res = pantau_without(["psycopg"], ["collector", "--config", str(config)], tmp_path)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "pantau collector: this needs the optional extra 'postgres'" in res.stderr
    assert f"{sys.executable} -m pip install 'pantau[postgres]'" in res.stderr


def test_a_missing_module_of_no_extra_is_still_a_bug_with_its_traceback(tmp_path):
    # only the extras' modules become advice; anything else missing is a broken install
    res = pantau_without(["aiohttp"], ["collector", "--config", "nonexistent.toml"], tmp_path)
    assert res.returncode == 1
    assert "Traceback" in res.stderr and "aiohttp" in res.stderr
