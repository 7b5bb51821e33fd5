"""Benchmark: one ICMP sweep of 10,000 loopback targets x 3 echoes, pantau against fping.

Run as root from the repository root (fping's fastest settings need root), with the python of
the venv pantau is installed in (its ``pantau`` next to ``sys.executable`` is the one run):

    /path/to/venv/bin/python bench/icmp_sweep/run.py [--targets 10000] [--runs 3]

Both tools get the same target file (127.1.x.y: every address of 127.0.0.0/8 answers on Linux
``lo``, so nothing leaves the machine), alternately, ``--runs`` times each. Prints the median wall
time, CPU time (user + system, from the child's own rusage) and peak resident memory of each,
and pantau/fping ratios, and how many sweep workers pantau used (from its INFO log). Checks that
every target answered all 3 echoes in both tools.
"""

from __future__ import annotations

import argparse
import compileall
import importlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(argv: list[str], stdout: Path, stderr: Path) -> dict[str, float]:
    """Run ``argv`` once; wall seconds, CPU seconds and peak RSS (MiB) of that child alone."""
    with stdout.open("wb") as out, stderr.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "user": usage.ru_utime,
        "sys": usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024,
        "exit": proc.returncode,
    }


def check_pantau(path: Path, n: int, count: int) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    bad = [r for r in rows if r["received"] != count]
    if len(rows) != n or bad:
        sys.exit(f"pantau: {len(rows)} lines, {len(bad)} targets short of {count} replies")


def pantau_workers(stderr: Path) -> str:
    """What pantau logged: how many sweep workers, which socket kind."""
    text = stderr.read_text()
    workers = re.search(r"icmp sweep addresses=\d+ workers=(\d+)", text)
    kind = re.search(r"icmp socket opened family=ipv4 kind=(\w+)", text)
    return f"{workers[1] if workers else '?'} workers, {kind[1] if kind else '?'} socket"


def check_fping(path: Path, n: int, count: int) -> None:
    # fping -C prints "TARGET : rtt rtt rtt" per target on stderr, "-" for a lost echo.
    rows = [line for line in path.read_text().splitlines() if " : " in line]
    lost = sum(line.split(" : ", 1)[1].split().count("-") for line in rows)
    if len(rows) != n or lost:
        sys.exit(f"fping: {len(rows)} targets reported, {lost} echoes lost")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--workers", default="auto", help="pantau's --workers (default auto, as its own default)"
    )
    parser.add_argument(
        "--no-nice", dest="nice", action="store_false", help="run both tools at normal priority"
    )
    args = parser.parse_args()
    count = 3
    fping = shutil.which("fping")
    # The pantau installed with this interpreter (a venv's bin/ is not on PATH unless activated;
    # PATH may lead to another checkout's pantau).
    pantau = str(Path(sys.executable).with_name("pantau"))
    if not Path(pantau).exists():
        pantau = shutil.which("pantau") or pantau
    if fping is None or not Path(pantau).exists():
        sys.exit("needs fping (apt-get install fping) and pantau (pip install -e .)")
    if os.geteuid() != 0:
        sys.exit("run as root: fping refuses -i 0 / -p 0 otherwise")
    # `pip install .` compiles pantau's modules to bytecode; an editable install under
    # PYTHONDONTWRITEBYTECODE=1 (as on this project's machines) would compile them from source at
    # every start (~10 ms). Compile them once so the bench measures what an installation runs.
    for name in ("pantau", "pantau.agent", "pantau.collector", "pantau.geo", "pantau.lab"):
        for path in importlib.import_module(name).__path__:
            compileall.compile_dir(path, quiet=1)
    print("pantau's modules compiled to bytecode (as `pip install .` does)")
    if args.nice:
        # Both tools inherit the same high priority, so other work on a shared machine
        # disturbs them less (and equally).
        os.setpriority(os.PRIO_PROCESS, 0, -20)

    work = Path(tempfile.mkdtemp(prefix=f"icmp-bench-{os.getpid()}-"))
    try:
        targets = work / "targets.txt"
        targets.write_text(
            "".join(f"127.1.{i // 250}.{i % 250 + 1}\n" for i in range(args.targets))
        )
        commands = {
            "fping": [
                fping,
                "-q",
                "-C",
                str(count),
                "-t",
                "1000",
                "-i",
                "0",
                "-p",
                "0",
                "-f",
                str(targets),
            ],
            "pantau": [
                pantau,
                "--log-level",
                "INFO",  # a few lines on stderr: the socket kind and the number of workers
                "probe",
                "icmp",
                "--count",
                str(count),
                "--timeout",
                "1",
                "--rate",
                "0",
                "--workers",
                args.workers,
                "--targets-file",
                str(targets),
            ],
        }
        checks = {"fping": (check_fping, "err"), "pantau": (check_pantau, "out")}
        load_before = os.getloadavg()
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
        seen: set[str] = set()
        for i in range(args.runs):
            order = list(commands) if i % 2 == 0 else list(commands)[::-1]
            for name in order:
                out, err = work / f"{name}.out", work / f"{name}.err"
                result = measure(commands[name], out, err)
                check, stream = checks[name]
                check(out if stream == "out" else err, args.targets, count)
                runs[name].append(result)
                if name == "pantau":
                    seen.add(pantau_workers(err))
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = {
        name: {
            k: statistics.median(r[k] for r in rs)
            for k in ("wall", "cpu", "user", "sys", "rss_mib")
        }
        for name, rs in runs.items()
    }
    print(f"{args.targets} loopback targets x {count} echoes, median of {args.runs} runs")
    print(f"pantau: {pantau} ({'; '.join(sorted(seen))})")
    print(
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
        f"priority {'nice -20' if args.nice else 'normal'} for both"
    )
    print(f"{'tool':<8}{'wall s':>9}{'cpu s':>9}{'user s':>9}{'sys s':>9}{'peak RSS MiB':>14}")
    for name, m in med.items():
        print(
            f"{name:<8}{m['wall']:>9.3f}{m['cpu']:>9.3f}{m['user']:>9.3f}{m['sys']:>9.3f}"
            f"{m['rss_mib']:>14.1f}"
        )
    p, f = med["pantau"], med["fping"]
    print(
        f"pantau/fping: wall {p['wall'] / f['wall']:.2f}x (target <= 1), "
        f"cpu {p['cpu'] / f['cpu']:.2f}x (target <= 2); "
        f"pantau peak RSS {p['rss_mib']:.1f} MiB (target < 100)"
    )
    for name, rs in runs.items():
        print(
            f"{name} runs (wall/cpu s): " + ", ".join(f"{r['wall']:.3f}/{r['cpu']:.3f}" for r in rs)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
