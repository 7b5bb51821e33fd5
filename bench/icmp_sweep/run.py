"""Benchmark: one ICMP sweep of loopback targets x 3 echoes, pantau against fping; and start-up.

Run as root (fping's fastest settings need root), from the repository root or from anywhere, with
the python of the venv pantau is installed in (its ``pantau`` next to ``sys.executable`` is the
one run):

    /path/to/venv/bin/python bench/icmp_sweep/run.py [--targets 1000,10000,50000] [--runs 5]
    /path/to/venv/bin/python bench/icmp_sweep/run.py --startup [--runs 21]

Both tools get the same targets (127.1.x.y: every address of 127.0.0.0/8 answers on Linux ``lo``,
so nothing leaves the machine), alternately, ``--runs`` times each. fping 5.1 refuses more than
~21,845 targets at 3 echoes in one process ("not enough sequence numbers"), so above 20,000
targets its list is split into chunks of at most 20,000, one fping process per chunk, all started
at once (pantau splits its sweep between forked workers too); CPU is then the sum of the chunks
and peak memory the largest single chunk.

Each figure is the measured tool's own: the tool runs under ``/usr/bin/time``, which forks it
from a 2 MiB process, so its peak resident set (``%M``) is its own and not this Python parent's
(a child's ``ru_maxrss`` starts from the resident set of the process it was forked or spawned
from: measured from here it reported ~30 MiB for fping, whose own peak is 8.6 MiB). CPU time
(user + system) comes from ``wait4`` on ``/usr/bin/time``, which includes the tool and every
process it reaped (pantau's sweep workers, fping's chunks) plus ~1 ms of ``time`` itself.

``--startup``: ``pantau probe icmp 127.0.0.1 -c 1`` against the bare interpreter
(``python -c pass``, the same interpreter and flags), interleaved: pantau's own start-up cost is
the difference of the medians. ``--instructions`` adds the instructions each executes, counted
by ``valgrind --tool=callgrind`` (Debian package ``valgrind``): CPU time on a loaded machine
varies by tens of percent, the count by well under 1%.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIME = "/usr/bin/time"  # Debian package `time` (GNU time)
FPING_MAX = 20_000  # targets per fping process at 3 echoes (its limit is ~21,845)
COUNT = 3


def measure(argv: list[str], stdout: Path, stderr: Path, work: Path) -> dict[str, float]:
    """Run ``argv`` once under GNU time: wall, CPU (user, sys) and the tool's own peak RSS."""
    report = work / "time.out"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([TIME, "-f", "%M %x", "-o", str(report), *argv], stdout=out,
                                stderr=err)  # fmt: skip
        try:
            _, _, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted or terminated: never leave the tool running
            proc.kill()
            proc.wait()
            raise
        wall = time.perf_counter() - start
    peak_kib, code = report.read_text().split()[-2:]
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "user": usage.ru_utime,
        "sys": usage.ru_stime,
        "rss_mib": int(peak_kib) / 1024,
        "exit": int(code),  # the tool's, as time reports it
    }


def lost_pantau(path: Path, n: int) -> int:
    """Echoes without a reply in pantau's output (every target must be reported)."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    if len(rows) != n:
        sys.exit(f"pantau: {len(rows)} lines for {n} targets")
    return sum(COUNT - r["received"] for r in rows)


def lost_fping(paths: list[Path], n: int) -> int:
    """Echoes without a reply in fping's reports: -C prints "TARGET : rtt rtt rtt" per target on
    stderr, "-" for a lost echo."""
    rows = [line for p in paths for line in p.read_text().splitlines() if " : " in line]
    if len(rows) != n:
        sys.exit(f"fping: {len(rows)} targets reported of {n}")
    return sum(line.split(" : ", 1)[1].split().count("-") for line in rows)


def pantau_workers(stderr: Path) -> str:
    """What pantau logged: how many sweep workers, which socket kind."""
    text = stderr.read_text()
    workers = re.search(r"icmp sweep addresses=\d+ workers=(\d+)", text)
    kind = re.search(r"icmp socket opened family=ipv4 kind=(\w+)", text)
    return f"{workers[1] if workers else '?'} workers, {kind[1] if kind else '?'} socket"


def find_pantau() -> str:
    # The pantau installed with this interpreter (a venv's bin/ is not on PATH unless activated;
    # PATH may lead to another checkout's pantau).
    pantau = Path(sys.executable).with_name("pantau")
    if pantau.exists():
        return str(pantau)
    return shutil.which("pantau") or sys.exit("needs pantau installed (pip install .)")


def compile_pantau() -> None:
    """`pip install .` compiles to bytecode; an editable install under PYTHONDONTWRITEBYTECODE=1
    (as on this project's machines) would compile from source at every start."""
    # compile_dir does not follow links: src/pantau's agent/, geo/, ... are links in a checkout.
    for name in ("pantau", "pantau.agent", "pantau.collector", "pantau.geo", "pantau.lab"):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            sys.exit(f"{name} is not importable by this interpreter")
        for path in spec.submodule_search_locations:
            compileall.compile_dir(path, quiet=1)


def fping_command(fping: str, chunks: list[Path], errs: list[Path]) -> list[str]:
    one = [fping, "-q", "-C", str(COUNT), "-t", "1000", "-i", "0", "-p", "0", "-f"]
    if len(chunks) == 1:
        return [*one, str(chunks[0])]
    # As many chunks at once as there are usable CPUs (pantau forks as many sweep workers), each
    # its own process with its own report; sh waits for each wave.
    wave = len(os.sched_getaffinity(0))
    jobs = [f'"$@" {c} 2>{e} &' for c, e in zip(chunks, errs, strict=True)]
    script = " ".join(" ".join(jobs[i : i + wave]) + " wait;" for i in range(0, len(jobs), wave))
    return ["sh", "-c", script, "sh", *one]


def sweep_bench(n: int, runs: int, workers: str, work: Path) -> dict:
    fping, pantau = shutil.which("fping"), find_pantau()
    if fping is None:
        sys.exit("needs fping (apt-get install fping)")
    addrs = [f"127.{1 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}" for i in range(n)]
    targets = work / "targets.txt"
    targets.write_text("".join(a + "\n" for a in addrs))
    k = -(-n // FPING_MAX)
    chunks, errs = [], []
    for c in range(k):
        chunk = work / f"fping-{c}.txt"
        chunk.write_text("".join(a + "\n" for a in addrs[c * n // k : (c + 1) * n // k]))
        chunks.append(chunk)
        errs.append(work / f"fping-{c}.err")
    commands = {
        "fping": fping_command(fping, chunks, errs),
        "pantau": [pantau, "--log-level", "INFO", "probe", "icmp", "--count", str(COUNT),
                   "--timeout", "1", "--rate", "0", "--workers", workers,
                   "--targets-file", str(targets)],
    }  # fmt: skip
    results: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
    seen: set[str] = set()
    for i in range(runs):
        for name in list(commands) if i % 2 == 0 else list(commands)[::-1]:
            out, err = work / f"{name}.out", work / f"{name}.err"
            r = measure(commands[name], out, err, work)
            if name == "pantau":
                r["lost"] = lost_pantau(out, n)
                seen.add(pantau_workers(err))
            else:
                r["lost"] = lost_fping(errs if k > 1 else [err], n)
            results[name].append(r)
    return {"results": results, "fping_processes": k, "pantau": pantau, "seen": seen}


def instructions(argv: list[str]) -> int:
    """Instructions ``argv`` executes, counted by callgrind (its own cost is not counted)."""
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if found is None:
        sys.exit(f"callgrind counted nothing for {argv}: {proc.stderr[-500:]}")
    return int(found[1])


def startup_bench(runs: int, work: Path) -> dict:
    pantau = find_pantau()
    # The console script's interpreter and flags, as in its first line.
    shebang = Path(pantau).read_text().splitlines()[0][2:].split()
    commands = {
        "python -c pass": [*shebang, "-c", "pass"],
        "pantau probe icmp 127.0.0.1 -c 1": [pantau, "probe", "icmp", "127.0.0.1", "-c", "1"],
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
    for i in range(runs + 1):  # the first pair warms the page cache; not counted
        for name in list(commands) if i % 2 == 0 else list(commands)[::-1]:
            r = measure(commands[name], work / "out", work / "err", work)
            if i:
                results[name].append(r)
    return {"results": results, "pantau": pantau, "commands": commands}


def medians(results: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    keys = ("wall", "cpu", "user", "sys", "rss_mib")
    return {n: {k: statistics.median(r[k] for r in rs) for k in keys} for n, rs in results.items()}


def table(med: dict[str, dict[str, float]]) -> None:
    print(f"{'':<34}{'wall s':>9}{'cpu s':>9}{'user s':>9}{'sys s':>9}{'peak RSS MiB':>14}")
    for name, m in med.items():
        print(f"{name:<34}{m['wall']:>9.3f}{m['cpu']:>9.3f}{m['user']:>9.3f}{m['sys']:>9.3f}"
              f"{m['rss_mib']:>14.1f}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="10000", help="comma-separated sizes, e.g. 1000,10000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", default="auto", help="pantau's --workers (default auto)")
    parser.add_argument("--startup", action="store_true", help="start-up against bare python")
    parser.add_argument(
        "--instructions", action="store_true", help="with --startup: callgrind instruction counts"
    )
    parser.add_argument("--no-nice", dest="nice", action="store_false")
    args = parser.parse_args()
    if not Path(TIME).exists():
        sys.exit(f"needs {TIME} (apt-get install time): it measures each tool's own peak memory")
    if os.geteuid() != 0 and not args.startup:
        sys.exit("run as root: fping refuses -i 0 / -p 0 otherwise")
    compile_pantau()
    spec = importlib.util.find_spec("pantau")
    where = spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else "?"
    print(f"pantau's modules (from {where}) compiled to bytecode (as `pip install .` does)")
    if args.nice and os.geteuid() == 0:
        os.setpriority(os.PRIO_PROCESS, 0, -20)  # both tools inherit it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # like Ctrl-C: clean up below
    work = Path(tempfile.mkdtemp(prefix=f"icmp-bench-{os.getpid()}-"))
    try:
        load = os.getloadavg()
        if args.startup:
            got = startup_bench(args.runs, work)
            med = medians(got["results"])
            print(f"start-up, median of {args.runs} interleaved runs; pantau: {got['pantau']}")
            print(f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}")
            table(med)
            bare, pan = med.values()
            print(f"pantau's own start-up + one echo: cpu {1000 * (pan['cpu'] - bare['cpu']):.0f}"
                  f" ms, wall {1000 * (pan['wall'] - bare['wall']):.0f} ms over the bare "
                  f"interpreter (target < 50 ms); peak {pan['rss_mib']:.1f} MiB against "
                  f"{bare['rss_mib']:.1f} MiB")  # fmt: skip
            if args.instructions:
                if shutil.which("valgrind") is None:
                    sys.exit("--instructions needs valgrind (apt-get install valgrind)")
                counts = {name: instructions(argv) for name, argv in got["commands"].items()}
                for name, count in counts.items():
                    print(f"{name:<34}{count:>14,} instructions (callgrind)")
                base, own = counts.values()
                print(f"pantau's own: {own - base:,} instructions over the bare interpreter")
            return 0
        for n in (int(x) for x in args.targets.split(",")):
            load = os.getloadavg()
            got = sweep_bench(n, args.runs, args.workers, work)
            med = medians(got["results"])
            k = got["fping_processes"]
            wave = min(k, len(os.sched_getaffinity(0)))
            print(f"\n{n} loopback targets x {COUNT} echoes, median of {args.runs} runs; "
                  f"fping in {k} process{f'es, {wave} at a time' if k > 1 else ''}; pantau "
                  f"{'; '.join(sorted(got['seen']))}; load average before {load[0]:.2f}, "
                  f"after {os.getloadavg()[0]:.2f}")  # fmt: skip
            table(med)
            p, f = med["pantau"], med["fping"]
            print(f"pantau/fping: wall {p['wall'] / f['wall']:.2f}x, "
                  f"cpu {p['cpu'] / f['cpu']:.2f}x, peak RSS {p['rss_mib'] / f['rss_mib']:.2f}x; "
                  f"cpu per 1,000 targets: pantau {1e6 * p['cpu'] / n:.1f} ms, "
                  f"fping {1e6 * f['cpu'] / n:.1f} ms")  # fmt: skip
            for name, rs in got["results"].items():
                print(f"  {name} runs (wall s/cpu s/MiB/echoes lost): "
                      + ", ".join(f"{r['wall']:.3f}/{r['cpu']:.3f}/{r['rss_mib']:.1f}/"
                                  f"{r['lost']:.0f}" for r in rs))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
