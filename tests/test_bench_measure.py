"""The ICMP bench measures each tool's own process, not the Python parent that starts it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "icmp_sweep" / "run.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("icmp_sweep_bench", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_peak_memory_is_the_childs_own_whatever_the_parent_holds(tmp_path: Path) -> None:
    bench = load_bench()
    ballast = b"\x01" * (300 << 20)  # resident in this process: 300 MiB
    small = bench.measure([sys.executable, "-c", "pass"], tmp_path / "o", tmp_path / "e", tmp_path)
    large = bench.measure(
        [sys.executable, "-c", "b = b'\\x01' * (200 << 20)"],
        tmp_path / "o",
        tmp_path / "e",
        tmp_path,
    )
    del ballast
    assert small["rss_mib"] < 60, small  # a bare interpreter, not this process's 300+ MiB
    assert 200 <= large["rss_mib"] < 290, large
    assert small["exit"] == 0 and large["exit"] == 0
    assert large["cpu"] > 0 and large["wall"] >= large["cpu"] * 0.5


def test_exit_status_of_the_tool_is_reported(tmp_path: Path) -> None:
    bench = load_bench()
    r = bench.measure([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "o", tmp_path / "e",
                      tmp_path)  # fmt: skip
    assert r["exit"] == 3
