"""Reboot detection, reset-proof counters and watched interfaces (pure functions)."""

from __future__ import annotations

import pytest

from pantau.agent.snmp.state import DeviceState, accumulate, advance, interfaces_down, speed_bps
from pantau.agent.snmp.walk import Interface, Snapshot


def snap(uptime: int, **ifaces: dict) -> Snapshot:
    rows = [Interface(**{"index": i, "name": n, **f}) for i, (n, f) in enumerate(ifaces.items(), 1)]
    return Snapshot(uptime, "r", "d", {r.index: r for r in rows}, {}, 1)


@pytest.mark.parametrize(
    ("total", "last", "raw", "expected"),
    [
        pytest.param(None, None, 2**64 - 5, 2**64 - 5, id="first-reading-starts-at-device-value"),
        pytest.param(100, 100, 150, 150, id="growth-adds-delta"),
        pytest.param(10**12, 10**12, 300, 10**12 + 300, id="reset-adds-new-value-only"),
        pytest.param(500, 2**64 - 10, 20, 520, id="counter64-wrap-no-spike"),
    ],
)
def test_accumulate(total, last, raw, expected) -> None:
    assert accumulate(total, last, raw) == expected


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        pytest.param(10_000, 1_000 + 150, id="plausible-32bit-wrap-counts-the-wrapped-increase"),
        pytest.param(100, 1_000 + 50, id="implausible-wrap-is-a-reset"),
        pytest.param(None, 1_000 + 50, id="no-speed-known-is-a-reset"),
    ],
)
def test_accumulate_32bit_wrap(limit, expected) -> None:
    assert accumulate(1_000, 2**32 - 100, 50, limit) == expected


def test_advance_legacy_wrap_uses_speed_and_device_time() -> None:
    state = DeviceState()
    fast = {"speed": 100_000_000, "oper": 1, "octet_bits": 32}  # 100 Mbit/s: 750 MB in 60 s
    legacy = lambda up, octets: snap(up, eth0={**fast, "in_octets": octets})  # noqa: E731
    advance(state, legacy(6_000, 2**32 - 1_000_000))
    advance(state, legacy(12_000, 5_000_000))  # 60 s later: wrapped after 6 MB in all
    assert state.totals[(1, "in_octets")] == 2**32 - 1_000_000 + 6_000_000
    advance(state, legacy(100, 7))  # rebooted: a reset, whatever the speed
    assert state.totals[(1, "in_octets")] == 2**32 - 1_000_000 + 6_000_007


def test_advance_counts_reboots_and_keeps_totals_monotonic() -> None:
    state = DeviceState()
    assert not advance(state, snap(1000, eth0={"in_octets": 9_000, "oper": 1}))
    assert not advance(state, snap(2000, eth0={"in_octets": 10_000, "oper": 1}))
    assert advance(state, snap(50, eth0={"in_octets": 40, "oper": 1}))
    assert state.reboots == 1
    assert state.totals[(1, "in_octets")] == 10_040
    advance(state, snap(60, eth1={"index": 7, "in_octets": 1}))
    assert (1, "in_octets") not in state.totals  # eth0 left: its series goes too


@pytest.mark.parametrize(
    ("wanted", "down"),
    [
        pytest.param(["ether1"], [], id="up-by-name"),
        pytest.param(["2"], ["2"], id="down-by-index"),
        pytest.param(["wan"], ["wan"], id="missing-counts-down"),
        pytest.param(["Intel uplink"], [], id="by-descr"),
    ],
)
def test_interfaces_down(wanted: list[str], down: list[str]) -> None:
    s = snap(1, ether1={"oper": 1, "descr": "Intel uplink"}, ether2={"oper": 2})
    assert interfaces_down(wanted, s) == down


@pytest.mark.parametrize(
    ("fields", "bps"),
    [
        pytest.param({"speed": 10**9, "high_speed": 1000}, 1e9, id="both-agree"),
        pytest.param({"speed": 1_544_000, "high_speed": 2}, 1_544_000.0, id="ifspeed-more-precise"),
        pytest.param({"speed": 2**32 - 1, "high_speed": 100_000}, 1e11, id="saturated-ifspeed"),
        pytest.param({"speed": 10**9, "high_speed": 0}, 1e9, id="highspeed-0"),
        pytest.param({"high_speed": 10**9}, None, id="highspeed-in-bps-implausible"),
        pytest.param({"high_speed": 10_000_000}, 1e13, id="highspeed-10tbps-limit"),
        pytest.param({"speed": 0, "high_speed": 0}, None, id="zero-is-unknown"),
        pytest.param({"speed": 0}, None, id="zero-without-ifxtable"),
        pytest.param({}, None, id="nothing"),
    ],
)
def test_speed_bps(fields: dict, bps: float | None) -> None:
    assert speed_bps(Interface(1, **fields)) == bps
