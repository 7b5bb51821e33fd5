"""The ICMP engine on real paths: namespaces made by the test, links cut, impaired, looped.

Every probe runs inside a lab namespace (no default route there: nothing can leave the machine).
Topology of most tests, a chain: ``agent ⟷ r1 ⟷ r2 ⟷ far``.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from pantau.lab.netns import Lab

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]

CHAIN = {"agent": None, "r1": "agent", "r2": "r1", "far": "r2"}


def run_py(lab: Lab, node: str, code: str, timeout: float = 60) -> Any:
    """Run ``code`` in ``node``; it prints one JSON document as its last line."""
    res = lab.exec_python(node, textwrap.dedent(code), timeout=timeout)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


SWEEP = """
import asyncio, json
from pantau.agent.icmp.pinger import Pinger

async def main():
    out = {}
    for mode in %(modes)r:
        pinger = Pinger(mode=mode)
        try:
            result = await pinger.sweep(%(targets)r, **%(kwargs)r)
        finally:
            pinger.close()
        out[mode] = {a: dict(sent=s.sent, received=s.received, reason=s.reason,
                             errors=s.errors, rtts=s.rtts) for a, s in result.items()}
    print(json.dumps(out))

asyncio.run(main())
"""


def sweep_in(lab: Lab, node: str, targets: list[str], modes=("raw", "dgram"), **kwargs) -> Any:
    code = SWEEP % {"modes": modes, "targets": targets, "kwargs": kwargs}
    return run_py(lab, node, code)


@pytest.fixture
def chain(lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory(tree=CHAIN)


def test_cut_link_fails_with_unreachable_on_both_socket_kinds(chain: Lab) -> None:
    far, r2 = chain.address("far"), chain.address("r2")
    chain.cut("far")  # r2 loses its route to far and answers "network unreachable"
    # A Linux router sends at most 5 such errors in a burst per source (net.ipv4.route.
    # error_burst, a machine-wide setting): 2 echoes per socket kind stay within it.
    out = sweep_in(chain, "agent", [far, r2], count=2, timeout=1.0)
    for mode in ("raw", "dgram"):
        assert out[mode][far] == {
            "sent": 2,
            "received": 0,
            "reason": "unreachable",
            "errors": {"unreachable": 2},
            "rtts": [],
        }, mode
        assert (out[mode][r2]["received"], out[mode][r2]["reason"]) == (2, "ok"), mode


def test_routing_loop_fails_with_ttl_exceeded(chain: Lab) -> None:
    looped = str(chain.net.network_address + 250)  # unused address of the lab's own /24
    up, mid = chain.link_between("r1", "agent"), chain.link_between("r2", "r1")
    chain.exec("agent", ["ip", "route", "add", f"{looped}/32", "via", up.addr_a], check=True)
    chain.exec("r1", ["ip", "route", "add", f"{looped}/32", "via", mid.addr_a], check=True)
    chain.exec("r2", ["ip", "route", "add", f"{looped}/32", "via", mid.addr_b], check=True)
    out = sweep_in(chain, "agent", [looped], count=2, timeout=1.0)
    for mode in ("raw", "dgram"):
        stats = out[mode][looped]
        assert (stats["sent"], stats["received"], stats["reason"]) == (2, 0, "ttl_exceeded")
        assert stats["errors"] == {"ttl_exceeded": 2}


def test_last_hop_is_the_target_then_the_router_before_the_cut(chain: Lab) -> None:
    far, r2 = chain.address("far"), chain.address("r2")
    code = f"""
        import asyncio, json
        from pantau.agent.icmp.traceroute import last_hop
        print(json.dumps(asyncio.run(last_hop({far!r}, max_hops=6, timeout=1.5, tries=2))))
    """
    assert run_py(chain, "agent", code) == far
    chain.cut("far")
    assert run_py(chain, "agent", code) == r2
    chain.kill("r1")  # nothing answers at all beyond the agent's own link
    assert run_py(chain, "agent", code) is None


def test_loss_30_percent_is_measured_within_binomial_bounds(chain: Lab) -> None:
    """Round-trip loss 30 %: the lab impairs each direction, so each loses 1 - sqrt(0.7)."""
    far, r2 = chain.address("far"), chain.address("r2")
    chain.netem("far", loss=1 - math.sqrt(0.7))
    n = 600
    out = sweep_in(chain, "agent", [far, r2], modes=("raw",), count=n, timeout=1.0, period=0.003)
    lost = 1 - out["raw"][far]["received"] / n
    # 4.5 standard deviations of a binomial(600, 0.3) share: a false alarm about 1 in 150,000.
    bound = 4.5 * math.sqrt(0.3 * 0.7 / n)
    assert abs(lost - 0.3) < bound, (lost, bound)
    assert out["raw"][r2]["received"] == n  # the unimpaired hop loses nothing


def test_200ms_delay_is_measured_and_late_replies_count_as_lost(chain: Lab) -> None:
    far = chain.address("far")
    chain.netem("far", delay=0.1)  # 100 ms each way
    # Neighbour (ARP) resolution across the slow link holds the first packets: get it done.
    sweep_in(chain, "agent", [far], modes=("raw",), count=1, timeout=2.0)
    out = sweep_in(chain, "agent", [far], modes=("raw", "dgram"), count=5, timeout=1.0, period=0.05)
    for mode in ("raw", "dgram"):
        rtts = out[mode][far]["rtts"]
        assert len(rtts) == 5 and 0.195 <= min(rtts) <= max(rtts) < 0.35, (mode, rtts)
    late = sweep_in(chain, "agent", [far], modes=("raw",), count=3, timeout=0.15)
    assert late["raw"][far] | {"rtts": []} == {
        "sent": 3,
        "received": 0,
        "reason": "timeout",
        "errors": {},
        "rtts": [],
    }


PROBER = """
import asyncio, json
from prometheus_client import CollectorRegistry
from pantau.agent.runtime.exposition import TextCollector
from pantau.agent.probes import ProbeContext, ProbeJob
from pantau.agent.probes.icmp import make_prober
from pantau.config import IcmpSettings

async def main():
    context = ProbeContext(config=None, limiter=asyncio.Semaphore(8))
    prober = make_prober(IcmpSettings(count=2, timeout=0.5), context)
    registry = CollectorRegistry()
    registry.register(TextCollector(prober.families))
    jobs = [ProbeJob("down", "icmp", None, %(far)r), ProbeJob("up", "icmp", None, %(r2)r)]
    try:
        results = await prober.run(jobs)
    finally:
        await prober.aclose()
    value = registry.get_sample_value
    print(json.dumps({
        "results": {k[0]: [r.ok, r.reason, r.sent, len(r.rtts)] for k, r in results.items()},
        "sent": value("pantau_icmp_packets_sent_total", {"site": "down"}),
        "received": value("pantau_icmp_packets_received_total", {"site": "down"}),
        "count": value("pantau_icmp_rtt_seconds_count", {"site": "down"}),
        "loss": value("pantau_icmp_round_loss_ratio", {"site": "down"}),
        "rtt_min": value("pantau_icmp_round_rtt_seconds", {"site": "down", "stat": "min"}),
        "up_loss": value("pantau_icmp_round_loss_ratio", {"site": "up"}),
    }))

asyncio.run(main())
"""


def test_prober_reports_a_dead_site(chain: Lab) -> None:
    far, r2 = chain.address("far"), chain.address("r2")
    chain.kill("far")
    out = run_py(chain, "agent", PROBER % {"far": far, "r2": r2})
    assert out["results"] == {"down": [False, "unreachable", 2, 0], "up": [True, "ok", 2, 2]}
    assert (out["sent"], out["received"], out["count"], out["loss"]) == (2, 0, 0, 1.0)
    assert out["rtt_min"] is None  # no reply, no RTT series (never a fake 0)
    assert out["up_loss"] == 0.0


def test_cli_exits_1_when_a_target_does_not_answer(chain: Lab) -> None:
    far, r2 = chain.address("far"), chain.address("r2")
    chain.netem("far", loss=1.0)  # silent: no ICMP error, just nothing back
    argv = ["-m", "pantau.cli", "probe", "icmp", "-c", "2", "-t", "0.5", far, r2]
    res = chain.exec_python("agent", argv, timeout=60)
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert res.returncode == 1, res.stderr
    assert [(r["target"], r["received"], r["reason"]) for r in rows] == [
        (far, 0, "timeout"),
        (r2, 2, "ok"),
    ]
    assert rows[0]["loss"] == 1.0 and rows[0]["rtt_avg_ms"] is None


INJECT = """
import asyncio, json, socket
from scapy.all import IP, ICMP, Raw
from pantau.agent.icmp.pinger import Pinger

TARGET, OTHER = "127.0.0.1", "127.0.0.2"

async def main():
    pinger = Pinger(mode="raw")
    pinger.open()
    ident, seq0 = pinger._channels[socket.AF_INET].ident, pinger._next_seq
    task = asyncio.create_task(pinger.sweep([TARGET], count=3, timeout=1.0))
    await asyncio.sleep(0.2)  # all three echo requests are out and unanswered
    def reply(src, i, s, **kw):
        return IP(src=src, dst=TARGET) / ICMP(type=0, id=i, seq=s, **kw) / Raw(bytes(56))
    def quoted(dst, s):
        return bytes(IP(src=TARGET, dst=dst, ttl=1) / ICMP(type=8, id=ident, seq=s))[:28]
    junk = [
        reply(TARGET, ident ^ 0x5555, seq0),            # another pinger's reply
        reply(OTHER, ident, seq0),                      # right id and seq, wrong target
        reply(TARGET, ident, seq0, chksum=0x1234),      # bad checksum
        IP(src=TARGET, dst=TARGET) / ICMP(type=0, id=ident, seq=seq0).build()[:6],  # truncated
        IP(src=OTHER, dst=TARGET) / ICMP(type=3, code=1) / quoted(OTHER, seq0),  # other target
        IP(src=OTHER, dst=TARGET) / ICMP(type=3, code=1) / b"\\x45\\x00",  # malformed quote
    ]
    good = [
        reply(TARGET, ident, (seq0 + 1) & 0xFFFF),       # the one real answer
        reply(TARGET, ident, (seq0 + 1) & 0xFFFF),       # and its duplicate
        IP(src=OTHER, dst=TARGET) / ICMP(type=3, code=1) / quoted(TARGET, (seq0 + 2) & 0xFFFF),
    ]
    out = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for pkt in junk + good:
        out.sendto(bytes(pkt), (TARGET, 0))
    stats = (await task)[TARGET]
    pinger.close()
    print(json.dumps([stats.sent, stats.received, stats.errors, stats.reason]))

asyncio.run(main())
"""


def test_foreign_truncated_and_malformed_packets_are_ignored(
    lab_factory: Callable[..., Lab],
) -> None:
    lab = lab_factory(tree={"solo": None})
    lab.exec("solo", ["sysctl", "-q", "-w", "net.ipv4.icmp_echo_ignore_all=1"], check=True)
    sent, received, errors, reason = run_py(lab, "solo", INJECT)
    assert (sent, received, errors, reason) == (3, 1, {"unreachable": 1}, "ok")


def test_ipv6_no_route_fails_with_unreachable(lab_factory: Callable[..., Lab]) -> None:
    """ICMPv6 destination unreachable, quoted header matched, on both socket kinds."""
    lab = lab_factory(tree={"agent": None, "r1": "agent"})
    link = lab.link_between("r1", "agent")
    v6 = "fd00:5e:{}::{}"  # a ULA prefix of the test's own: lives only in these namespaces
    for node, dev, host in (("r1", link.if_a, 1), ("agent", link.if_b, 2)):
        lab.exec(
            node,
            ["ip", "-6", "addr", "add", f"{v6.format(1, host)}/64", "dev", dev, "nodad"],
            check=True,
        )
        lab.exec(node, ["sysctl", "-q", "-w", "net.ipv6.icmp.ratelimit=0"], check=True)
    nowhere = v6.format(2, 9)
    lab.exec(
        "agent",
        ["ip", "-6", "route", "add", f"{v6.format(2, '')}/64", "via", v6.format(1, 1)],
        check=True,
    )
    out = sweep_in(lab, "agent", [nowhere, v6.format(1, 1)], count=2, timeout=1.0)
    for mode in ("raw", "dgram"):
        assert out[mode][nowhere] == {
            "sent": 2,
            "received": 0,
            "reason": "unreachable",
            "errors": {"unreachable": 2},
            "rtts": [],
        }, mode
        assert out[mode][v6.format(1, 1)]["received"] == 2, mode
