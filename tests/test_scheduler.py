"""APScheduler mapping: one job per kind, overruns counted and never stacked, lag measured."""

from __future__ import annotations

import asyncio
import logging
import types

from pantau.agent.runtime.metrics import AgentStats
from pantau.agent.runtime.scheduler import RoundScheduler


def settings(interval, jitter=0.0):
    return types.SimpleNamespace(interval=interval, jitter=jitter)


async def test_slow_rounds_are_skipped_and_counted_never_stacked(caplog):
    stats = AgentStats()
    running = peak = 0
    started = []

    async def slow_round(kind):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        started.append(kind)
        try:
            await asyncio.sleep(0.75)  # three intervals of 0.25 s
        finally:
            running -= 1

    scheduler = RoundScheduler(slow_round, stats)
    scheduler.start()
    with caplog.at_level(logging.WARNING, logger="pantau.agent.runtime.scheduler"):
        scheduler.apply({"tcp": settings(0.25)})
        await asyncio.sleep(1.6)
        await scheduler.stop(grace=2.0)
    assert peak == 1
    assert 2 <= stats.rounds["tcp"] <= 3
    assert stats.overruns["tcp"] >= 2
    assert stats.round_duration["tcp"] >= 0.7
    assert "round skipped kind=tcp why=previous round still running count=1" in caplog.text


async def test_one_job_per_kind_with_lag_and_reapply():
    stats = AgentStats()
    seen = []

    async def quick(kind):
        seen.append(kind)

    scheduler = RoundScheduler(quick, stats)
    scheduler.start()
    scheduler.apply({"icmp": settings(0.2, 0.1), "http": settings(0.3)})
    await asyncio.sleep(0.7)
    scheduler.apply({"icmp": settings(0.2, 0.1)})  # http removed; icmp unchanged
    http_rounds = stats.rounds["http"]
    await asyncio.sleep(0.5)
    await scheduler.stop(grace=1.0)
    assert stats.rounds["http"] == http_rounds >= 2
    assert stats.rounds["icmp"] >= 4
    assert stats.overruns == {}
    lag = {
        s.name: s.value
        for m in stats.lag.collect()
        for s in m.samples
        if s.labels.get("kind") == "icmp"
    }
    assert lag["pantau_agent_scheduling_lag_seconds_count"] == stats.rounds["icmp"]
    # Rounds start within a few hundredths of their due time on an idle loop.
    assert lag["pantau_agent_scheduling_lag_seconds_sum"] / stats.rounds["icmp"] < 0.05


async def test_stop_cancels_a_round_past_the_grace():
    stats = AgentStats()
    cancelled = asyncio.Event()

    async def stuck(kind):
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    scheduler = RoundScheduler(stuck, stats)
    scheduler.start()
    scheduler.apply({"snmp": settings(10)})
    await asyncio.sleep(0.2)
    await scheduler.stop(grace=0.2)
    assert cancelled.is_set()


async def test_a_stuck_kind_turns_stale_and_its_results_are_not_exported():
    """Rounds that stop finishing make the kind stale: /healthz says so and the old results
    (an "up" from minutes ago) are no longer exported as current."""
    from test_exposition import big_source, samples

    from pantau.agent.runtime.exposition import render
    from pantau.agent.runtime.health import round_problems
    from pantau.agent.runtime.metrics import SiteFamilies
    from pantau.agent.runtime.state import ProbeState, SiteState

    stats = AgentStats()
    release = asyncio.Event()

    async def first_quick_then_stuck(kind):
        if stats.rounds[kind]:
            await release.wait()

    scheduler = RoundScheduler(first_quick_then_stuck, stats)
    scheduler.start()
    scheduler.apply({"icmp": types.SimpleNamespace(interval=0.1, jitter=0.0, timeout=0.05)})
    await asyncio.sleep(0.15)
    assert stats.rounds["icmp"] == 1 and scheduler.stale() == {}
    await asyncio.sleep(0.5)  # > 3 intervals + timeout after the last finished round
    stale = scheduler.stale()
    assert list(stale) == ["icmp"] and stale["icmp"] > 0.35
    [problem] = round_problems(stale, scheduler.intervals())
    assert problem.severity == "critical" and "no icmp round finished" in problem.message

    src = big_source(3)
    src.states = {s: SiteState("up", {"icmp": ProbeState("up")}) for s in src.sites}
    fresh = samples(render(SiteFamilies()(src)))
    old = samples(render(SiteFamilies()(src, stale)))
    assert fresh[("pantau_site_up", (("site", "s1"),))] == 1.0
    assert not [k for k in old if k[0] in ("pantau_site_up", "pantau_probe_success")]
    assert [k for k in old if k[0] == "pantau_site_info"]  # attributes stay

    release.set()
    await asyncio.sleep(0.2)
    assert scheduler.stale() == {}
    await scheduler.stop(grace=1.0)
