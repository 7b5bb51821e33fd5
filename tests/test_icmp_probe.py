"""The ICMP prober: results per job and its metric families, read from a private registry."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest
from icmp_support import needs_icmp, needs_icmp6
from prometheus_client import CollectorRegistry, generate_latest

from pantau.agent.probes import PROBES, ProbeContext, ProbeJob
from pantau.agent.probes.icmp import RTT_BUCKETS, IcmpProber
from pantau.agent.runtime.exposition import TextCollector, render
from pantau.config import IcmpSettings
from pantau.inventory import Site

pytestmark = needs_icmp


def make(count: int = 2, **settings: object) -> tuple[IcmpProber, CollectorRegistry]:
    settings.setdefault("rtt_histogram", "all")
    context = ProbeContext(config=None, limiter=asyncio.Semaphore(4), clock=lambda: 1700000000.0)
    prober = PROBES["icmp"].make_prober(IcmpSettings(count=count, **settings), context)
    assert isinstance(prober, IcmpProber)
    registry = CollectorRegistry()
    registry.register(TextCollector(prober.families))
    return prober, registry


def job(site: str, address: str | None) -> ProbeJob:
    return ProbeJob(site=site, probe="icmp", arg=None, address=address)


def site(site_id: str, district: str | None = None) -> Site:
    return Site(id=site_id, name=site_id, kind="office", lat=-1.2, lon=116.8, district=district)


async def test_round_results_and_metrics() -> None:
    prober, registry = make(count=3, timeout=1.0)
    try:
        jobs = [job("kantor-a", "127.0.0.1"), job("kantor-b", "127.0.0.2"), job("no-addr", None)]
        results = await prober.run(jobs)
        results = await prober.run(jobs)  # counters add up over rounds
    finally:
        await prober.aclose()
    assert set(results) == {("kantor-a", "icmp"), ("kantor-b", "icmp"), ("no-addr", "icmp")}
    a = results[("kantor-a", "icmp")]
    assert (a.ok, a.reason, a.sent, len(a.rtts), a.loss_ratio) == (True, "ok", 3, 3, 0.0)
    assert a.time == 1700000000.0 and a.duration > 0
    missing = results[("no-addr", "icmp")]
    assert (missing.ok, missing.reason, missing.sent) == (False, "error", 0)

    value = registry.get_sample_value
    assert value("pantau_icmp_packets_sent_total", {"site": "kantor-a"}) == 6
    assert value("pantau_icmp_packets_received_total", {"site": "kantor-a"}) == 6
    assert value("pantau_icmp_rtt_seconds_count", {"site": "kantor-a"}) == 6
    assert value("pantau_icmp_rtt_seconds_bucket", {"site": "kantor-a", "le": "+Inf"}) == 6
    assert 0 < value("pantau_icmp_rtt_seconds_sum", {"site": "kantor-a"}) < 6
    fastest = value("pantau_icmp_rtt_seconds_bucket", {"site": "kantor-a", "le": "0.1"})
    assert fastest == 6  # loopback answers well under 100 ms
    assert value("pantau_icmp_round_loss_ratio", {"site": "kantor-b"}) == 0.0
    stats = {
        s: value("pantau_icmp_round_rtt_seconds", {"site": "kantor-b", "stat": s})
        for s in ("min", "avg", "max", "stddev")
    }
    assert 0 < stats["min"] <= stats["avg"] <= stats["max"] and stats["stddev"] >= 0
    # No data, no series: the site without an address exports nothing.
    assert value("pantau_icmp_packets_sent_total", {"site": "no-addr"}) is None


async def test_histogram_buckets_are_cumulative_and_ordered() -> None:
    prober, registry = make(count=4)
    try:
        await prober.run([job("s", "127.0.0.9")])
    finally:
        await prober.aclose()
    counts = [
        registry.get_sample_value("pantau_icmp_rtt_seconds_bucket", {"site": "s", "le": repr(b)})
        for b in RTT_BUCKETS
    ]
    assert counts == sorted(counts) and counts[-1] == 4


@needs_icmp6
async def test_ipv6_and_shared_address_and_host_name() -> None:
    prober, registry = make(count=2)
    try:
        results = await prober.run(
            [
                job("v6", "::1"),
                job("one", "127.0.0.7"),
                job("same", "127.0.0.7"),
                job("name", "localhost"),
            ]
        )
    finally:
        await prober.aclose()
    assert all(r.ok and r.sent == 2 for r in results.values()), results
    assert registry.get_sample_value("pantau_icmp_packets_sent_total", {"site": "same"}) == 2


async def test_retain_drops_removed_sites() -> None:
    prober, registry = make(count=1)
    try:
        await prober.run([job("keep", "127.0.0.1"), job("gone", "127.0.0.2")])
        prober.retain({"keep": site("keep")})
    finally:
        await prober.aclose()
    assert registry.get_sample_value("pantau_icmp_packets_sent_total", {"site": "keep"}) == 1
    assert registry.get_sample_value("pantau_icmp_packets_sent_total", {"site": "gone"}) is None


async def test_series_follow_sites_added_and_removed_and_old_snapshots_stay() -> None:
    """The per-site columns (issue 18) follow the inventory; a scrape's snapshot of an earlier
    round never sees a later round, not even its new sites."""
    prober, registry = make(count=1)
    try:
        await prober.run([job("a", "127.0.0.1"), job("b", "127.0.0.2")])
        earlier = prober.families()
        await prober.run([job("a", "127.0.0.1"), job("b", "127.0.0.2"), job("c", "127.0.0.3")])
        prober.retain({"b": site("b"), "c": site("c")})
    finally:
        await prober.aclose()
    value = registry.get_sample_value
    assert value("pantau_icmp_packets_sent_total", {"site": "a"}) is None
    assert value("pantau_icmp_packets_sent_total", {"site": "b"}) == 2
    assert value("pantau_icmp_packets_received_total", {"site": "c"}) == 1
    assert value("pantau_icmp_rtt_seconds_count", {"site": "c"}) == 1
    text = render(earlier)
    assert 'pantau_icmp_packets_sent_total{site="a"} 1.0' in text
    assert 'pantau_icmp_packets_sent_total{site="b"} 1.0' in text and 'site="c"' not in text


async def test_canary_sweep_through_the_prober() -> None:
    prober, _ = make(count=3)
    try:
        result = await prober.sweep(["127.0.0.1", "127.0.0.53"], timeout=1.0)
    finally:
        await prober.aclose()
    assert [s.received for s in result.values()] == [1, 1]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (prometheus) not installed")
async def test_promtool_accepts_the_metrics() -> None:
    prober, registry = make(count=2)
    try:
        await prober.run([job("kantor-a", "127.0.0.1")])
    finally:
        await prober.aclose()
    text = generate_latest(registry)
    check = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert check.returncode == 0 and not check.stdout.strip(), check.stdout + check.stderr


async def test_only_listed_sites_export_every_bucket() -> None:
    """Thinned by default: a site not listed exports the +Inf bucket, _sum and _count only
    (mean RTT still works); listed by id or by district, it exports all 14 buckets."""
    prober, registry = make(
        count=2,
        rtt_histogram="listed",
        rtt_histogram_sites=["by-id"],
        rtt_histogram_districts=["64.71"],
    )
    sites = {
        "by-id": site("by-id"),
        "by-district": site("by-district", "64.71"),
        "thin": site("thin"),
    }
    try:
        prober.retain(sites)
        await prober.run([job(s, f"127.0.0.{i + 1}") for i, s in enumerate(sites)])
    finally:
        await prober.aclose()
    text = generate_latest(registry).decode()
    for name in ("by-id", "by-district", "thin"):
        buckets = [
            line
            for line in text.splitlines()
            if line.startswith("pantau_icmp_rtt_seconds_bucket") and f'site="{name}"' in line
        ]
        assert len(buckets) == (1 if name == "thin" else len(RTT_BUCKETS) + 1), (name, buckets)
        value = registry.get_sample_value
        assert value("pantau_icmp_rtt_seconds_bucket", {"site": name, "le": "+Inf"}) == 2
        assert value("pantau_icmp_rtt_seconds_count", {"site": name}) == 2
        assert 0 < value("pantau_icmp_rtt_seconds_sum", {"site": name}) < 2
    promtool = shutil.which("promtool")
    if promtool is not None:
        done = subprocess.run(
            [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
        )
        assert done.returncode == 0, done.stdout + done.stderr
