"""bench/health_import: what the compiled MIB modules cost a process that uses SNMP health.

Measured in fresh interpreters (``sys.executable``), bytecode cached first, ``--runs`` times each,
medians printed with the load average:

* on disk: bytes of ``agent/snmp/health/compiled/*.py``;
* import: ``-X importtime`` of ``import pantau.agent.snmp.health.registry``, then the CPU and
  wall time of ``registry.tables()``, which imports the compiled modules (when the tables are
  resolved, not when the registry is imported);
* memory: peak RSS (``ru_maxrss``) of ``import pantau.agent.probes.snmp`` plus
  ``registry.tables()``, against the same without ``tables()``, and against ``python -c pass``.

No reference tool: compare two trees with ``--src`` (the ``src`` folder of each).
``python3 bench/health_import/run.py [--src SRC] [--runs 9]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPILED = "pantau.agent.snmp.health.compiled"
_RSS = "import resource{imp}; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def run(src: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, check=True, timeout=120
    )


def import_times(src: Path) -> tuple[float, float, float]:
    """(-X importtime of the registry import, CPU and wall seconds of ``tables()``), one run.

    ``tables()`` loads the compiled modules through ``importlib.import_module``, which
    ``-X importtime`` does not see (it times the import statement only): timed in process."""
    code = (
        "import time; import pantau.agent.snmp.health.registry as r\n"
        "c, w = time.process_time(), time.perf_counter(); r.tables()\n"
        "print(time.process_time() - c, time.perf_counter() - w)"
    )
    proc = run(src, "-X", "importtime", "-c", code)
    registry = 0
    for line in proc.stderr.splitlines():
        if line.rstrip().endswith("| pantau.agent.snmp.health.registry"):  # top level
            registry = int(line.split("|")[1])
    cpu, wall = map(float, proc.stdout.split())
    return registry / 1e6, cpu, wall


def rss_kib(src: Path, imports: str) -> int:
    return int(run(src, "-c", _RSS.format(imp=imports)).stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, default=REPO / "src", help="the tree's src folder")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    src = args.src.resolve()
    compiled = src / "pantau" / "agent" / "snmp" / "health" / "compiled"
    files = sorted(compiled.glob("*.py"))
    oids = run(
        src,
        "-c",
        "import pantau.agent.snmp.health.registry as r, sys; r.tables(); "
        f"print(sum(len(m.OIDS) for n, m in sys.modules.items() if n.startswith('{COMPILED}.')))",
    )
    run(
        src,
        "-c",
        "import pantau.agent.probes.snmp, pantau.agent.snmp.health.registry as r; r.tables()",
    )  # bytecode written once, not in the figures
    load = os.getloadavg()
    times = [import_times(src) for _ in range(args.runs)]
    probe = "; import pantau.agent.probes.snmp, pantau.agent.snmp.health.registry as r"
    with_tables = [rss_kib(src, probe + "; r.tables()") for _ in range(args.runs)]
    without = [rss_kib(src, probe) for _ in range(args.runs)]
    bare = [rss_kib(src, "") for _ in range(args.runs)]
    registry, cpu, wall = (statistics.median(t[i] for t in times) for i in range(3))
    print(f"tree: {src}")
    print(
        f"compiled modules: {len(files)} files, {sum(f.stat().st_size for f in files):,} bytes, "
        f"{int(oids.stdout):,} objects loaded by tables()"
    )
    print(
        f"import registry (-X importtime): {registry * 1000:.1f} ms; then tables() (loads the "
        f"compiled modules): {cpu * 1000:.1f} ms CPU, {wall * 1000:.1f} ms wall "
        f"(medians of {args.runs})"
    )
    added = statistics.median(with_tables) - statistics.median(without)
    print(
        f"peak RSS: SNMP probe + tables() {statistics.median(with_tables) / 1024:.1f} MiB, "
        f"without tables() {statistics.median(without) / 1024:.1f} MiB, "
        f"python -c pass {statistics.median(bare) / 1024:.1f} MiB; "
        f"tables() adds {added / 1024:.1f} MiB"
    )
    print(
        f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} -> "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
