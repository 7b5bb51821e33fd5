"""Reboot detection, reset-proof counters and watched interfaces (pure functions)."""

from __future__ import annotations

import pytest
from pantau.agent.snmp_state import DeviceState, accumulate, advance, interfaces_down
from pantau.agent.snmp_walk import Interface, Snapshot


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
