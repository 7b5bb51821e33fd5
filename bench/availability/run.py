"""Availability figures at scale: the one implementation versus a bare loop over the same changes.

    python bench/availability/run.py [--sites 10000] [--changes 20] [--districts 100] [--seed 1]

Seeded timelines (each site ``--changes`` random changes among up/down/unknown over 30 days),
a maintenance window for every third district; times ``site_windows`` and ``figures`` (what the
collector's ``/metrics`` and ``/api/v1/availability`` and ``pantau report`` run), and, as the
reference measured in the same run, a bare Python loop that only reads every change once. Prints
the times and the ratio ``figures / bare loop``.
"""

from __future__ import annotations

import argparse
import random
import time

from pantau.collector.availability import Maintenance, SiteKey, figures, site_windows

MONTH = 30 * 86400.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=10_000)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--districts", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    timelines = {}
    for i in range(args.sites):
        t, timeline = 0.0, [(0.0, "up")]
        for _ in range(args.changes):
            t += rng.uniform(0, MONTH / args.changes)
            timeline.append((t, rng.choice(("down", "up", "unknown"))))
        timelines[f"s{i}"] = tuple(timeline)
    sites = [SiteKey(f"s{i}", f"d{i % args.districts}") for i in range(args.sites)]
    windows = [Maintenance(1000.0, 5000.0, district=f"d{j}") for j in range(0, args.districts, 3)]

    t0 = time.perf_counter()
    seen = 0.0
    for timeline in timelines.values():
        for when, state in timeline:
            seen += when if state == "up" else 0.0
    t1 = time.perf_counter()
    per_site_windows = site_windows(windows, sites)
    t2 = time.perf_counter()
    per_site, per_district = figures(timelines, sites, 0.0, MONTH, per_site_windows)
    t3 = time.perf_counter()
    changes = sum(len(t) for t in timelines.values())
    print(f"{args.sites} sites, {changes} changes, {len(per_district)} districts")
    print(f"bare loop over the changes (reference): {t1 - t0:.3f} s")
    print(f"site_windows: {t2 - t1:.3f} s")
    print(f"figures: {t3 - t2:.3f} s  ({(t3 - t2) / (t1 - t0):.1f}x the bare loop)")
    assert len(per_site) == args.sites


if __name__ == "__main__":
    main()
