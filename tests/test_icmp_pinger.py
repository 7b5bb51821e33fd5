"""The sweep engine against real loopback peers (all of 127.0.0.0/8 and ::1 answer echo)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from icmp_support import loopback_targets, needs_icmp, needs_icmp6

from pantau.agent.icmp.pinger import Pinger, TargetStats, sweep
from pantau.agent.icmp.sockets import permission_message


@needs_icmp
async def test_sweep_of_1000_loopback_addresses_all_answer() -> None:
    targets = loopback_targets(1000)
    result = await sweep(targets, count=3, timeout=2.0, rate=None)
    assert list(result) == targets
    failed = {a: s for a, s in result.items() if (s.sent, s.received, s.reason) != (3, 3, "ok")}
    assert not failed
    for stats in result.values():
        rtt = stats.rtt_stats()
        assert rtt is not None and 0 < rtt["min"] <= rtt["avg"] <= rtt["max"] < 2.0
        assert rtt["stddev"] >= 0 and stats.loss == 0.0 and stats.errors == {}


@needs_icmp6
async def test_ipv6_loopback_and_mixed_families() -> None:
    result = await sweep(["::1", "127.0.0.1", "0:0:0:0:0:0:0:1"], count=2, timeout=2.0)
    assert list(result) == ["::1", "127.0.0.1", "0:0:0:0:0:0:0:1"]  # keys as given
    for stats in result.values():
        assert (stats.sent, stats.received, stats.reason) == (2, 2, "ok")


@needs_icmp
async def test_duplicates_are_swept_once() -> None:
    pinger = Pinger()
    try:
        result = await pinger.sweep(["127.0.0.3"] * 5, count=2, timeout=2.0)
        assert result == {"127.0.0.3": result["127.0.0.3"]}
        assert result["127.0.0.3"].sent == 2
        assert pinger.kind() in ("raw", "dgram")
    finally:
        pinger.close()


@needs_icmp
async def test_concurrent_sweeps_on_one_pinger_do_not_steal_replies() -> None:
    pinger = Pinger()
    try:
        a, b = await asyncio.gather(
            pinger.sweep(loopback_targets(300), count=2, timeout=2.0),
            pinger.sweep(loopback_targets(150), count=3, timeout=2.0),
        )
    finally:
        pinger.close()
    assert all((s.sent, s.received) == (2, 2) for s in a.values())
    assert all((s.sent, s.received) == (3, 3) for s in b.values())


@needs_icmp
async def test_rate_limits_packets_per_second() -> None:
    start = time.monotonic()
    result = await sweep(loopback_targets(100), count=2, timeout=2.0, rate=1000)
    elapsed = time.monotonic() - start
    # 200 packets at 1000/s with a burst of 10 cannot take less than 0.19 s.
    assert elapsed >= 0.19 * 0.95
    assert all(s.received == 2 for s in result.values())


@needs_icmp
async def test_period_spaces_echoes_to_one_target() -> None:
    start = time.monotonic()
    result = await sweep(["127.0.0.4", "127.0.0.5"], count=3, timeout=2.0, period=0.2)
    elapsed = time.monotonic() - start
    assert elapsed >= 0.4 * 0.95  # echoes 2 and 3 wait 0.2 s each after the one before
    assert all(s.received == 3 for s in result.values())


@needs_icmp
async def test_event_loop_keeps_running_during_a_fast_sweep(monkeypatch) -> None:
    """The sweep hands the loop a turn every few hundred sends, however fast the machine is:
    a task running once per loop turn sees at most that much sweep work between two turns.
    (The pinger reads the monotonic clock once per echo sent and per reply read: counting those
    calls counts its work without timing it.)"""
    from pantau.agent.icmp import pinger

    calls = 0

    def counting_monotonic() -> float:
        nonlocal calls
        calls += 1
        return time.monotonic()

    monkeypatch.setattr(pinger, "monotonic", counting_monotonic)
    work_between_turns: list[int] = []

    async def ticker() -> None:
        last = calls
        while True:
            await asyncio.sleep(0)  # once per loop turn
            work_between_turns.append(calls - last)
            last = calls

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    result = await sweep(loopback_targets(3000), count=3, timeout=2.0, rate=None)
    task.cancel()
    sent = sum(s.sent for s in result.values())
    assert sent == 9000 and calls >= sent  # the work was counted
    # At most one yield interval of sends, plus the replies read meanwhile (and one drain).
    bound = 2 * pinger._YIELD_EVERY + pinger._DRAIN_EVERY
    assert max(work_between_turns) <= bound, (max(work_between_turns), bound)
    assert bound * 4 < sent  # a sweep that never yielded would fail the bound above


async def test_addresses_must_be_ip_literals() -> None:
    with pytest.raises(ValueError, match="'localhost' is not an IPv4 or IPv6 address"):
        await sweep(["localhost"])


@needs_icmp
async def test_count_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"count must be 1\.\.65535"):
        await sweep(["127.0.0.1"], count=0)


def test_target_stats_figures() -> None:
    stats = TargetStats("192.0.2.1", 4, (0.001, 0.003), {}, "ok")
    assert stats.received == 2 and stats.loss == 0.5
    assert stats.rtt_stats() == pytest.approx(
        {"min": 0.001, "avg": 0.002, "max": 0.003, "stddev": 0.001}
    )
    none = TargetStats("192.0.2.1", 0, (), {}, "error")
    assert none.loss is None and none.rtt_stats() is None


def test_permission_message_says_what_to_run() -> None:
    text = permission_message("/usr/bin/python3.11", 1000, "1 0")
    assert text == (
        "cannot open an ICMP socket: this process lacks CAP_NET_RAW and its group id 1000 is "
        "outside net.ipv4.ping_group_range (1 0). Do one of:\n"
        "  sudo setcap cap_net_raw+ep /usr/bin/python3.11\n"
        "      (the real python binary, not a venv symlink)\n"
        "  AmbientCapabilities=CAP_NET_RAW\n"
        "      (in the [Service] section of pantau's systemd unit)\n"
        '  sudo sysctl -w net.ipv4.ping_group_range="1000 1000"\n'
        "      (persist it in /etc/sysctl.d/; lets that group use unprivileged ICMP sockets)"
    )


def test_pinger_kind_is_none_before_open() -> None:
    assert Pinger().kind(socket.AF_INET6) is None


@needs_icmp
async def test_empty_sweep_returns_at_once() -> None:
    start = time.monotonic()
    assert await sweep([], count=3, timeout=5.0) == {}
    assert time.monotonic() - start < 1.0


@needs_icmp
async def test_a_cancelled_sweep_leaves_the_pinger_usable() -> None:
    pinger = Pinger()
    try:
        task = asyncio.create_task(
            pinger.sweep(loopback_targets(200), count=5, timeout=2.0, rate=500)
        )
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not pinger._pending  # nothing left to match
        again = await pinger.sweep(["127.0.0.1"], count=2, timeout=2.0)
        assert again["127.0.0.1"].received == 2
    finally:
        pinger.close()
