"""Soak benchmark: one agent with 10,000 loopback ICMP targets for a long time (not run in CI).

Run as root, from the repository root or anywhere, with the python pantau is installed for:

    python bench/soak/run.py [--minutes 30] [--targets 10000] [--interval 10] [--no-reference]

Starts ``pantau agent`` on a generated inventory (127.1.x.y: every address of 127.0.0.0/8 answers
on Linux ``lo``, so nothing leaves the machine) and samples, every ``--sample`` seconds, its
resident memory and CPU time (from /proc) and its own metrics: rounds, overruns, scheduling lag
histogram, sites up. fping in loop mode on the same targets, at the same period, runs alongside
as the reference for memory and CPU, given the same work: 3 echoes per target per interval at
10,000 packets per second (``fping -l -p INTERVAL/3 -i 0.1``: fping cannot loop with ``-C 3``).
Memory and CPU of both are each process's own, from /proc. Prints a table of samples and a
summary with the issue's targets: RSS growth after warm-up <= 5 %, zero overruns, scheduling lag
p99 < 1 s. The work folder is removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import tomli_w
from prometheus_client.parser import text_string_to_metric_families

TICK = os.sysconf("SC_CLK_TCK")


def targets(n: int) -> list[str]:
    return [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(workdir: Path, addrs: list[str], interval: float, port: int) -> Path:
    inventory = workdir / "sites.csv"
    with inventory.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "name", "kind", "lat", "lon", "address", "probes"])
        for i, a in enumerate(addrs):
            out.writerow([f"s{i}", f"Site {i}", "hotspot", -1.2 - i * 1e-5, 116.8, a, "icmp"])
    config = workdir / "soak.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "agent": {
                    "name": "soak",
                    "listen": f"127.0.0.1:{port}",
                    "state_dir": str(workdir / "state"),
                    "canaries": ["127.0.0.1"],
                    "traceroute": False,
                    "icmp": {"interval": interval, "timeout": 1.0, "count": 3, "jitter": 0.0},
                },
                "inventory": {"sites": [str(inventory)]},
            }
        )
    )
    return config


def proc_usage(pid: int) -> tuple[float, float]:
    """(RSS MiB, CPU seconds) of a live process."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return rss, (int(fields[11]) + int(fields[12])) / TICK


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def lag_p99(m: dict[tuple[str, tuple], float]) -> tuple[float, float]:
    """(upper bound of the bucket holding the 99th percentile, number of rounds observed)."""
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in m.items()
        if name == "pantau_agent_scheduling_lag_seconds_bucket"
        and dict(labels).get("kind") == "icmp"
    )
    total = buckets[-1][1] if buckets else 0.0
    for le, count in buckets:
        if total and count >= 0.99 * total:
            return le, total
    return float("nan"), total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--targets", type=int, default=10_000)
    p.add_argument("--interval", type=float, default=10.0, help="ICMP interval, seconds")
    p.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--warmup", type=float, default=0.2, help="share of the run that is warm-up")
    p.add_argument("--no-reference", action="store_true", help="do not run fping alongside")
    p.add_argument("--keep", action="store_true", help="keep the work folder (config, agent log)")
    args = p.parse_args()

    # SIGTERM ends the run like Ctrl-C: the agent and fping are stopped in `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="pantau-soak-"))
    addrs = targets(args.targets)
    port = free_port()
    config = write_config(workdir, addrs, args.interval, port)
    (workdir / "targets").write_text("\n".join(addrs) + "\n")
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pantau.cli",
            "--log-level",
            "WARNING",
            "agent",
            "--config",
            str(config),
        ],
        stdout=(workdir / "agent.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    fping = None
    if not args.no_reference and shutil.which("fping"):
        # The same work as the agent: 3 echoes per target per interval, at most 10,000 packets
        # per second (the agent's default rate). fping 5.1 cannot combine -l with -c/-C, so its
        # loop pings each target every interval/3 (-p), one packet every 0.1 ms (-i).
        period_ms = f"{args.interval * 1000 / 3:.0f}"
        fping = subprocess.Popen(
            [
                "fping",
                "-q",
                "-l",
                "-p",
                period_ms,
                "-t",
                "1000",
                "-i",
                "0.1",
                "-f",
                str(workdir / "targets"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}/metrics"
    rows = []
    start = time.monotonic()
    end = start + args.minutes * 60
    try:
        while time.monotonic() < end:
            time.sleep(args.sample)
            if agent.poll() is not None:
                log = (workdir / "agent.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"agent exited {agent.returncode}:\n{log}")
            rss, cpu = proc_usage(agent.pid)
            try:
                m = scrape(url)
            except OSError:
                continue  # still starting
            p99, _ = lag_p99(m)
            row = {
                "t": round(time.monotonic() - start, 1),
                "rss_mib": round(rss, 1),
                "cpu_s": round(cpu, 1),
                "rounds": m.get(("pantau_agent_rounds_total", (("kind", "icmp"),)), 0),
                "overruns": m.get(("pantau_agent_round_overruns_total", (("kind", "icmp"),)), 0),
                "lag_p99_le": p99,
                "sites_up": sum(v for (n, _), v in m.items() if n == "pantau_site_up"),
                "round_s": m.get(("pantau_agent_round_duration_seconds", (("kind", "icmp"),))),
            }
            if fping is not None and fping.poll() is None:
                row["fping_rss_mib"], row["fping_cpu_s"] = (
                    round(x, 1) for x in proc_usage(fping.pid)
                )
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
        if fping is not None:
            fping.kill()
            fping.wait()
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    summary = summarize(rows, args)
    print(json.dumps(summary, indent=2))
    return 0 if summary["pass"] else 1


def summarize(rows: list[dict], args: argparse.Namespace) -> dict:
    if not rows:
        return {"pass": False, "error": "no samples"}
    warm = [r for r in rows if r["t"] >= args.warmup * args.minutes * 60] or rows[-1:]
    base = warm[0]["rss_mib"]
    peak = max(r["rss_mib"] for r in warm)
    last = rows[-1]
    cpu_per_round = last["cpu_s"] / last["rounds"] if last["rounds"] else None
    out = {
        "minutes": round(last["t"] / 60, 1),
        "targets": args.targets,
        "interval_s": args.interval,
        "rounds": last["rounds"],
        "sites_up_last": last["sites_up"],
        "rss_after_warmup_mib": base,
        "rss_peak_after_warmup_mib": peak,
        "rss_last_mib": last["rss_mib"],
        "rss_growth_pct": round(100 * (peak - base) / base, 2),
        "overruns": last["overruns"],
        "lag_p99_le_s": last["lag_p99_le"],
        "cpu_s": last["cpu_s"],
        "cpu_s_per_round": round(cpu_per_round, 3) if cpu_per_round else None,
    }
    if "fping_rss_mib" in last:
        out["fping_rss_mib"] = last["fping_rss_mib"]
        out["fping_cpu_s"] = last["fping_cpu_s"]
        out["rss_ratio_vs_fping"] = round(last["rss_mib"] / last["fping_rss_mib"], 1)
        if last["fping_cpu_s"]:
            out["cpu_ratio_vs_fping"] = round(last["cpu_s"] / last["fping_cpu_s"], 2)
    out["pass"] = (
        out["rss_growth_pct"] <= 5
        and out["overruns"] == 0
        and out["lag_p99_le_s"] <= 1.0
        and out["sites_up_last"] == args.targets
    )
    return out


if __name__ == "__main__":
    sys.exit(main())
