"""Scrape load benchmark: is an agent's probing late because of its scrapers? (issue 12)

Run from the repository root or anywhere pantau is installed (as root, or where the ICMP
datagram socket is allowed):

    python bench/agent_exposition/scrape.py [--sites 10000] [--scrapers 20] [--seconds 60]

One agent on ``--sites`` loopback ICMP sites (127.x.y.z, nothing leaves the machine), interval
``--interval``. First it runs ``--seconds`` with one light scrape per 5 s (the idle figure),
then ``--seconds`` with ``--scrapers`` clients scraping /metrics back to back, as Prometheus
does (``Accept-Encoding: gzip``, body read, not decompressed). Prints the rounds skipped, the
median ICMP round duration of each phase and their ratio, and the scrape latency p50/p99,
against the idle run of the same agent. The claim (issue 12): 0 skipped rounds, round duration
within 10 % of idle, scrape p99 under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: agentrun
import aiohttp
from agentrun import Agent, load, running_agent, wait_rounds


def round_sample(agent: Agent) -> tuple[float, float, float]:
    names = [
        "pantau_agent_rounds_total",
        "pantau_agent_round_overruns_total",
        "pantau_agent_round_duration_seconds",
    ]
    got = agent.values(names, kind="icmp")
    rounds, overruns, duration = (got[n] for n in names)
    return rounds or 0.0, overruns or 0.0, float("nan") if duration is None else duration


async def watch_rounds(agent: Agent, seconds: float, stop: asyncio.Event) -> dict[str, object]:
    """Sample the last round's duration every second (a new round gives a new figure)."""
    durations: dict[float, float] = {}
    first = await asyncio.to_thread(round_sample, agent)
    deadline = time.monotonic() + seconds
    last = first
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        last = await asyncio.to_thread(round_sample, agent)
        durations[last[0]] = last[2]
    stop.set()
    measured = [d for r, d in durations.items() if r > first[0]]
    return {
        "rounds": last[0] - first[0],
        "skipped": last[1] - first[1],
        "round_median_s": statistics.median(measured) if measured else float("nan"),
    }


async def scraper(url: str, stop: asyncio.Event, latencies: list[float], sizes: list[int]) -> None:
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(auto_decompress=False, timeout=timeout) as session:
        while not stop.is_set():
            started = time.monotonic()
            size = 0
            async with session.get(url, headers={"Accept-Encoding": "gzip"}) as resp:
                async for chunk in resp.content.iter_any():  # read, never kept or parsed
                    size += len(chunk)
            latencies.append(time.monotonic() - started)
            sizes.append(size)


async def phase(agent: Agent, seconds: float, scrapers: int) -> dict[str, object]:
    stop = asyncio.Event()
    latencies: list[float] = []
    sizes: list[int] = []
    tasks = [
        asyncio.create_task(scraper(agent.url + "/metrics", stop, latencies, sizes))
        for _ in range(scrapers)
    ]
    cpu = agent.cpu_seconds()
    rounds = await watch_rounds(agent, seconds, stop)
    out = dict(rounds)
    out["agent_cpu_share"] = round((agent.cpu_seconds() - cpu) / seconds, 3)
    await asyncio.gather(*tasks)
    if latencies:
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        out.update(
            scrapes=len(latencies),
            scrape_p50_s=round(q[49], 3),
            scrape_p99_s=round(q[98], 3),
            scrape_gzip_bytes=sizes[-1],
        )
    out["load"] = load()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sites", type=int, default=10_000)
    p.add_argument("--scrapers", type=int, default=20)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--interval", type=float, default=10.0, help="ICMP interval, seconds")
    args = p.parse_args()
    with running_agent(args.sites, args.interval) as agent:
        wait_rounds(agent, 2, timeout=30 * args.interval)
        plain = len(agent.body(gzip_ok=False))
        idle = asyncio.run(phase(agent, args.seconds, 0))
        loaded = asyncio.run(phase(agent, args.seconds, args.scrapers))
    ratio = loaded["round_median_s"] / idle["round_median_s"]  # type: ignore[operator]
    summary = {
        "sites": args.sites,
        "scrapers": args.scrapers,
        "seconds": args.seconds,
        "metrics_plain_bytes": plain,
        "idle": idle,
        "loaded": loaded,
        "round_ratio_loaded_vs_idle": round(ratio, 3),
        "pass": loaded["skipped"] == 0 and ratio <= 1.10 and loaded.get("scrape_p99_s", 99) < 1.0,  # type: ignore[operator]
    }
    print(json.dumps(summary, indent=2))
    return 0 if summary["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
