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
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: agentrun
from agentrun import Agent, proc_usage, running_agent, targets


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

    # SIGTERM ends the run like Ctrl-C: fping and the agent are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows = []
    agent_cm = running_agent(args.targets, args.interval, canaries=["127.0.0.1"], keep=args.keep)
    with agent_cm as agent:
        fping = None
        if not args.no_reference and shutil.which("fping"):
            # The same work as the agent: 3 echoes per target per interval, at most 10,000
            # packets per second (the agent's default rate). fping 5.1 cannot combine -l with
            # -c/-C, so its loop pings each target every interval/3 (-p), one packet every
            # 0.1 ms (-i).
            (agent.workdir / "targets").write_text("\n".join(targets(args.targets)) + "\n")
            period_ms = f"{args.interval * 1000 / 3:.0f}"
            loop = ["-q", "-l", "-p", period_ms, "-t", "1000", "-i", "0.1"]
            fping = subprocess.Popen(
                ["fping", *loop, "-f", str(agent.workdir / "targets")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            sample(agent, fping, args, rows)
        finally:
            if fping is not None:
                fping.kill()
                fping.wait()
    summary = summarize(rows, args)
    print(json.dumps(summary, indent=2))
    return 0 if summary["pass"] else 1


def sample(
    agent: Agent, fping: subprocess.Popen[bytes] | None, args: argparse.Namespace, rows: list[dict]
) -> None:
    """Append one row every ``--sample`` seconds for ``--minutes`` (printed as it is taken)."""
    start = time.monotonic()
    end = start + args.minutes * 60
    while time.monotonic() < end:
        time.sleep(args.sample)
        agent.check_alive()
        rss, _, cpu = proc_usage(agent.proc.pid)
        try:
            m = agent.metrics()
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
            fping_rss, _, fping_cpu = proc_usage(fping.pid)
            row["fping_rss_mib"], row["fping_cpu_s"] = round(fping_rss, 1), round(fping_cpu, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)


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
