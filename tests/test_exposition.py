"""The streamed text exposition of the per-site families: format, escaping, slicing, snapshots."""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from test_agent_server import Source

from pantau.agent.probes import ProbeResult
from pantau.agent.runtime.exposition import TextFamily, label_value, number, render, stream
from pantau.agent.runtime.metrics import AgentStats, SiteFamilies
from pantau.agent.runtime.state import SiteState
from pantau.inventory import Site


def big_source(n: int) -> Source:
    src = Source(stats=AgentStats())
    src.sites = {
        f"s{i}": Site(id=f"s{i}", name=f"Kantor {i}", kind="office", lat=-1.2, lon=116.8)
        for i in range(n)
    }
    src.states = {f"s{i}": SiteState("up" if i % 3 else "down", {}) for i in range(n)}
    src.results = {
        (f"s{i}", "icmp"): ProbeResult(bool(i % 3), "ok" if i % 3 else "timeout", 0.5, 1.0)
        for i in range(n)
    }
    return src


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_number_formats_like_the_text_format() -> None:
    assert [number(x) for x in (3, 0.25, math.inf, -math.inf)] == ["3.0", "0.25", "+Inf", "-Inf"]
    assert number(math.nan) == "NaN"
    assert float(number(1e-5)) == 1e-5


@given(st.text())
def test_label_values_survive_escaping(value: str) -> None:
    """Any site name, however odd, reads back exactly through prometheus_client's parser."""
    family = TextFamily("x_info", "gauge", "h", [f'x_info{{name="{label_value(value)}"}} 1\n'])
    (sample,) = next(text_string_to_metric_families(render([family]))).samples
    assert sample.labels == {"name": value}


def test_site_families_values_and_absent_unknown() -> None:
    src = big_source(6)
    src.states["s0"] = SiteState()  # unknown: no pantau_site_up series
    src.stats.failures[("s0", 'http:https://x/a"b', "timeout")] += 2
    got = samples(render(SiteFamilies()(src)))
    assert got[("pantau_site_up", (("site", "s1"),))] == 1
    assert got[("pantau_site_up", (("site", "s3"),))] == 0
    assert ("pantau_site_up", (("site", "s0"),)) not in got
    assert got[("pantau_probe_success", (("probe", "icmp"), ("site", "s3")))] == 0
    assert got[("pantau_probe_duration_seconds", (("probe", "icmp"), ("site", "s4")))] == 0.5
    key = (("probe", 'http:https://x/a"b'), ("reason", "timeout"), ("site", "s0"))
    assert got[("pantau_probe_failures_total", key)] == 2
    assert sum(1 for name, _ in got if name == "pantau_site_info") == 6


def test_site_families_follow_a_changed_site_and_drop_removed_ones() -> None:
    src = big_source(3)
    families = SiteFamilies()
    render(families(src))
    src.sites["s1"] = Site(id="s1", name='Puskesmas "Baru"', kind="office", lat=0.5, lon=117.0)
    del src.sites["s2"], src.results[("s2", "icmp")], src.states["s2"]
    got = samples(render(families(src)))
    info = {
        dict(labels)["site"]: dict(labels) for name, labels in got if name == "pantau_site_info"
    }
    assert set(info) == {"s0", "s1"}
    assert info["s1"]["name"] == 'Puskesmas "Baru"' and info["s1"]["lat"] == "0.5"
    assert ("pantau_probe_success", (("probe", "icmp"), ("site", "s2"))) not in got


async def test_stream_yields_between_slices_and_matches_render() -> None:
    src = big_source(3000)
    families = SiteFamilies()
    whole = render(families(src))
    chunks: list[bytes] = []
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def write(chunk: bytes) -> None:
        chunks.append(chunk)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    written = await stream(families(src), write, slice_lines=500)
    task.cancel()
    assert b"".join(chunks).decode() == whole and written == len(whole.encode())
    assert len(chunks) > 20  # 5 families x 3,000 sites in slices of 500 lines
    assert ticks - before >= len(chunks) - 1  # the loop ran between every two slices


async def test_a_scrape_sees_the_snapshot_taken_when_it_started() -> None:
    """A round that lands while a scrape is being written does not leak into that scrape."""
    src = big_source(2000)
    families = SiteFamilies()
    snapshot = families(src)
    for key in list(src.results):
        src.results[key] = ProbeResult(False, "timeout", 9.0, 2.0)
    src.results[("new", "icmp")] = ProbeResult(True, "ok", 0.1, 2.0)
    got = samples(render(snapshot))
    durations = {v for (n, _), v in got.items() if n == "pantau_probe_duration_seconds"}
    assert durations == {0.5}
    assert ("pantau_probe_success", (("probe", "icmp"), ("site", "new"))) not in got


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (prometheus) not installed")
def test_promtool_accepts_a_large_exposition() -> None:
    text = render(SiteFamilies()(big_source(2000)))
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=60
    )
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), (
        done.stdout + done.stderr
    )


def test_snmp_families_one_series_per_interface_and_a_consistent_view() -> None:
    """Two SNMP probes of one site export its interfaces once; a poll that lands while a scrape
    is written does not leak into it (the counters are replaced per poll, not edited)."""
    from pantau.agent.probes.snmp import SnmpProber
    from pantau.agent.snmp.state import DeviceState, advance
    from pantau.agent.snmp.walk import Interface, Snapshot

    def snap(octets: int, alias: str) -> Snapshot:
        lo = Interface(1, "lo", alias, "", 1, 1, octets, octets, 10, None, 0, 0, 0, 0)
        return Snapshot(500, "r1", 'Linux "core"\nrouter', {1: lo}, {"1.3.6.1.2.1.1.7.0": 72.0}, 1)

    prober = SnmpProber.__new__(SnmpProber)  # only the state families() reads; no sockets
    prober._in_flight = 0
    prober._health = {}  # no health tables on this device
    state = DeviceState()
    advance(state, snap(1000, "uplink"))
    prober._devices = {"r1": state}
    prober._results = {
        ("r1", "snmp:v2"): ProbeResult(True, "ok", 0.01, 1.0),
        ("r1", "snmp:v3"): ProbeResult(True, "ok", 0.01, 1.0),
    }
    families = prober.families()
    advance(state, snap(5000, "uplink, ganti"))  # the next poll, while the scrape is written
    text = render(families)
    got = samples(text)
    assert text.count("pantau_if_in_octets_total{") == 1
    lo = (("ifalias", "uplink"), ("ifindex", "1"), ("ifname", "lo"), ("site", "r1"))
    assert got[("pantau_if_in_octets_total", lo)] == 1000
    assert got[("pantau_if_speed_bits_per_second", lo)] == 10e6
    assert got[("pantau_snmp_up", (("probe", "snmp:v3"), ("site", "r1")))] == 1
    info = (("site", "r1"), ("sysdescr", 'Linux "core"\nrouter'), ("sysname", "r1"))
    assert got[("pantau_snmp_info", info)] == 1
    later = samples(render(prober.families()))
    lo2 = (("ifalias", "uplink, ganti"), *lo[1:])
    assert later[("pantau_if_in_octets_total", lo2)] == 5000
