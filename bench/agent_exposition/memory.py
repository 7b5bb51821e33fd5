"""Agent memory and /metrics size by number of sites (issue 18): the agent process alone.

Run from the repository root or anywhere pantau is installed:

    python bench/agent_exposition/memory.py [--sites 1000 10000 50000] [--rounds 3]

For each size, one agent on that many loopback ICMP sites (127.x.y.z, nothing leaves the
machine) runs ``--rounds`` ICMP rounds; then the agent's own resident memory (``VmRSS``) and
peak (``VmHWM``, the high-water mark of that process alone, read from /proc) and its /metrics
size, plain and gzip, are printed, with ``[agent.icmp] rtt_histogram`` as shipped ("listed":
thin) and, with ``--histogram all``, every bucket for every site (the exposition before issue 18).
The claim: the agent at 50,000 ICMP sites under 150 MiB.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: agentrun
from agentrun import load, running_agent, wait_rounds


def measure(sites: int, rounds: int, histogram: str) -> dict[str, object]:
    interval = max(10.0, sites / 2000)  # a 50,000-site sweep at 10,000 packets/s takes 15 s
    icmp = {"rtt_histogram": histogram} if histogram != "listed" else {}
    with running_agent(sites, interval, icmp) as agent:
        wait_rounds(agent, rounds, timeout=rounds * interval * 6 + 120)
        plain = len(agent.body(gzip_ok=False))
        packed = len(agent.body(gzip_ok=True))
        rss, hwm = agent.memory()
        round_s = agent.value("pantau_agent_round_duration_seconds", kind="icmp")
        overruns = agent.value("pantau_agent_round_overruns_total", kind="icmp")
    return {
        "sites": sites,
        "rtt_histogram": histogram,
        "interval_s": interval,
        "rss_mib": round(rss, 1),
        "peak_rss_mib": round(hwm, 1),
        "metrics_bytes": plain,
        "metrics_gzip_bytes": packed,
        "gzip_ratio": round(plain / packed, 1),
        "last_round_s": round(round_s or float("nan"), 2),
        "overruns": overruns,
        "load": load(),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sites", type=int, nargs="+", default=[1000, 10_000, 50_000])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--histogram", choices=["listed", "all"], nargs="+", default=["listed"])
    args = p.parse_args()
    rows = []
    for histogram in args.histogram:
        for n in args.sites:
            row = measure(n, args.rounds, histogram)
            rows.append(row)
            print(json.dumps(row), flush=True)
    big = [r for r in rows if r["sites"] == 50_000 and r["rtt_histogram"] == "listed"]
    verdict = {"pass_50k_under_150MiB": all(r["peak_rss_mib"] < 150 for r in big)} if big else {}
    print(json.dumps(verdict))
    return 0 if all(verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
