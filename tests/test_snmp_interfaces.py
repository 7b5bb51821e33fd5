"""Interfaces the way real devices answer them (issue #16), on recordings served by snmpsim.

The recordings reproduce each device's shape (tests/data/snmp/make_shapes.py and README.md);
every asserted value is read from the recording, not from pantau.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil

import pytest
from pydantic import ValidationError
from snmp_peers import DATA, Snmpsim, free_udp_port
from test_snmp_probe import job, prober, v2c

from pantau.agent.probes import ProbeContext
from pantau.agent.probes.snmp import make_prober
from pantau.agent.snmp.ber import GET, GET_BULK
from pantau.agent.snmp.session import V2cSession
from pantau.agent.snmp.walk import (
    IF_COLUMNS,
    LEGACY_COLUMNS,
    STATIC_FIELDS,
    STATIC_MAX_TICKS,
    poll_device,
)
from pantau.config import Config, SnmpSettings

pytestmark = pytest.mark.skipif(
    shutil.which("snmpget") is None, reason="net-snmp snmpget not installed (waits for snmpsim)"
)
SHAPES = ("catalyst-partial-hc", "unifi-split-index", "cambium-no-ifname", "speed-quirks")


@pytest.fixture(scope="module")
def sim():
    if os.geteuid() != 0:
        pytest.skip("snmpsim refuses root and must drop to nobody: the test needs root")
    recordings = {name: DATA / f"{name}.snmprec" for name in SHAPES}
    recordings |= {"switch96": DATA / "switch96.snmprec", "legacy": DATA / "legacy-radio.snmprec"}
    peer = Snmpsim(free_udp_port(), recordings)
    try:
        yield peer.start()
    finally:
        peer.stop()


async def poll(sim: Snmpsim, community: str, max_repetitions: int = 10):
    profile = {**v2c(sim.port, community), "timeout": 5.0, "max_repetitions": max_repetitions}
    # the interfaces alone: what health tables cost is tested in test_snmp_health.py
    profile["health"] = []
    snmp, registry = prober({"p": profile}, timeout=20.0)
    try:
        res = (await snmp.run([job(community, "p")]))[(community, "snmp:p")]
    finally:
        await snmp.aclose()
    assert res.ok, res.message
    return res.data, registry.get_sample_value


def iface(site: str, index: int, name: str, alias: str = "") -> dict[str, str]:
    return {"site": site, "ifindex": str(index), "ifname": name, "ifalias": alias}


async def test_hc_counters_on_some_interfaces_only(sim: Snmpsim) -> None:
    site = "catalyst-partial-hc"
    snap, value = await poll(sim, site)
    assert len(snap.interfaces) == 19
    assert [i.index for i in snap.interfaces.values() if i.octet_bits == 32] == [1, *range(4, 20)]
    mgmt = iface(site, 1, "Gi0/0")
    assert value("pantau_if_in_octets_total", mgmt) == 1_007
    assert value("pantau_if_out_octets_total", mgmt) == 2_009
    vlan = iface(site, 19, "Vl190")
    assert (value("pantau_if_in_octets_total", vlan), value("pantau_if_oper_status", vlan)) == (
        19_007,
        2,
    )
    uplink = iface(site, 2, "Te1/1/1", "uplink-kominfo")
    assert value("pantau_if_in_octets_total", uplink) == 10**12 + 2  # HC, not ifInOctets
    assert value("pantau_if_out_octets_total", uplink) == 2 * 10**12 + 2
    assert snap.interfaces[2].octet_bits == 64


class Recording:
    """The real v2c session, with the PDUs it sent written down."""

    def __init__(self, session: V2cSession) -> None:
        self.session, self.sent = session, []

    async def request(self, pdu_type, oids, non_repeaters=0, max_repetitions=0):
        self.sent.append((pdu_type, list(oids)))
        return await self.session.request(pdu_type, oids, non_repeaters, max_repetitions)


@pytest.mark.parametrize(
    ("community", "fallback"),
    [
        # 17 rows without HC counters: their ifInOctets/ifOutOctets in GETs of 20 and 14 varbinds
        pytest.param("catalyst-partial-hc", [(GET, 20), (GET, 14)], id="some-rows-get"),
        pytest.param("cambium-no-ifname", [], id="hc-everywhere-nothing-more"),
        # no ifXTable: both columns walked, whatever the number of rows
        pytest.param("legacy", [(GET_BULK, 2)], id="no-hc-at-all-walk"),
    ],
)
async def test_fallback_costs_only_what_it_needs(
    sim: Snmpsim, community: str, fallback: list
) -> None:
    session = Recording(V2cSession("127.0.0.1", sim.port, community, 5.0, 0))
    try:
        snap = await poll_device(session, 25)  # type: ignore[arg-type]
    finally:
        await session.session.aclose()
    counters32 = set(LEGACY_COLUMNS.values())  # the main walk never asks for them
    extra = [(t, len(oids)) for t, oids in session.sent if {o[:10] for o in oids} <= counters32]
    assert extra[: len(fallback)] == fallback
    if fallback and fallback[0][0] == GET_BULK:  # a walk: as many requests as the rows need
        assert all(sent == fallback[0] for sent in extra)
    else:
        assert len(extra) == len(fallback)
    assert snap.pdus == len(session.sent)


async def test_control_characters_never_reach_label_values(sim: Snmpsim) -> None:
    site = "catalyst-partial-hc"
    snap, value = await poll(sim, site)
    descr = (
        "Cisco IOS Software [Bengaluru], Catalyst L3 Switch Software (CAT9K_IOSXE), Version "
        "17.6.4, RELEASE SOFTWARE (fc1) Technical Support: http://www.cisco.com/techsupport "
        "Copyright (c) 1986-2022 by Cisco Systems, Inc. Compiled Sun 14-Aug-22 08:21 by mcpre"
    )
    assert snap.sys_descr == descr
    labels = {"site": site, "sysname": "c9300-diskominfo", "sysdescr": descr}
    assert value("pantau_snmp_info", labels) == 1


async def test_last_change_and_type(sim: Snmpsim) -> None:
    site = "catalyst-partial-hc"
    _, value = await poll(sim, site)
    # ifLastChange 1234501 ticks: the device had been up 12345.01 s when Gi0/0 last changed
    assert value("pantau_if_last_change_seconds", iface(site, 1, "Gi0/0")) == 12_345.01
    assert value("pantau_if_last_change_seconds", iface(site, 5, "Vl50")) == 0
    null0 = {**iface(site, 4, "Nu0"), "ifdescr": "Nu0", "iftype": "1"}
    svi = {**iface(site, 5, "Vl50"), "ifdescr": "Vl50", "iftype": "53"}
    assert value("pantau_if_info", null0) == value("pantau_if_info", svi) == 1
    assert value("pantau_if_speed_bits_per_second", iface(site, 4, "Nu0")) is None  # 0: unknown
    assert value("pantau_if_speed_bits_per_second", iface(site, 3, "Te1/1/2")) == 10e9


async def test_tables_with_different_index_ranges(sim: Snmpsim) -> None:
    site = "unifi-split-index"
    snap, value = await poll(sim, site)
    assert sorted(snap.interfaces) == [1, 2, 3, 4, 101, 102, 103]
    port2 = iface(site, 2, "Port 2")  # no ifName for this ifIndex: named by ifDescr
    assert value("pantau_if_oper_status", port2) == 1
    assert value("pantau_if_in_octets_total", port2) == 102  # ifInOctets: no HC row for it
    eth1 = iface(site, 102, "eth1")
    assert value("pantau_if_in_octets_total", eth1) == 5_102
    assert value("pantau_if_oper_status", eth1) is None  # the device did not say


async def test_no_ifname_column_names_rows_by_descr(sim: Snmpsim) -> None:
    site = "cambium-no-ifname"
    snap, value = await poll(sim, site)
    assert snap.pdus == 1 + 1  # HC counters everywhere: no fallback request
    eth1 = iface(site, 2, "eth1")
    assert value("pantau_if_in_octets_total", eth1) == 702
    assert value("pantau_if_speed_bits_per_second", eth1) == 1e9
    assert value("pantau_if_info", {**eth1, "ifdescr": "eth1", "iftype": "6"}) == 1


@pytest.mark.parametrize(
    ("index", "name", "bps"),
    [
        pytest.param(1, "eth0", 1e9, id="aerohive-highspeed-0-uses-ifspeed"),
        pytest.param(2, "wifi0", 3e8, id="radio-highspeed-in-bps-uses-ifspeed"),
        pytest.param(3, "wifi1", None, id="radio-highspeed-in-bps-ifspeed-saturated-no-speed"),
        pytest.param(4, "mgt0", None, id="zero-in-both-no-speed"),
    ],
)
async def test_speeds(sim: Snmpsim, index: int, name: str, bps: float | None) -> None:
    _, value = await poll(sim, "speed-quirks")
    assert value("pantau_if_speed_bits_per_second", iface("speed-quirks", index, name)) == bps


@pytest.mark.parametrize("community", ["switch96", "legacy"], ids=["ifxtable", "mib2-only"])
async def test_speed_zero_is_absent_on_every_path(sim: Snmpsim, community: str) -> None:
    # port1 (ifIndex 2) answers ifSpeed 0, and ifHighSpeed 0 where the device has ifXTable
    _, value = await poll(sim, community, max_repetitions=25)
    assert value("pantau_if_speed_bits_per_second", iface(community, 2, "port1")) is None
    assert value("pantau_if_speed_bits_per_second", iface(community, 1, "lo")) == 10e6


def simulator(port: int, context: str) -> dict:
    """snmpsim's own v3 user (MD5 + DES, as older MikroTik and Cisco devices offer); snmpsim picks
    the recording by the v3 contextName and drops requests without one."""
    return {
        "version": "3",
        "user": "simulator",
        "auth_protocol": "MD5",
        "auth_key_env": "PANTAU_TEST_SIM_AUTH",
        "priv_protocol": "DES",
        "priv_key_env": "PANTAU_TEST_SIM_PRIV",
        "context": context,
        "port": port,
        "timeout": 3.0,
        "retries": 0,
    }


@pytest.mark.parametrize("engine", [False, True], ids=["pantau-usm", "pysnmp-engine"])
@pytest.mark.parametrize(
    ("context", "reason"),
    [pytest.param("speed-quirks", "ok", id="context"), pytest.param("", "timeout", id="none")],
)
async def test_v3_md5_des_with_context_name(
    sim: Snmpsim, monkeypatch: pytest.MonkeyPatch, engine: bool, context: str, reason: str
) -> None:
    monkeypatch.setenv("PANTAU_TEST_SIM_AUTH", "auctoritas")
    monkeypatch.setenv("PANTAU_TEST_SIM_PRIV", "privatus")
    config = Config.model_validate({"snmp": {"profiles": {"p": simulator(sim.port, context)}}})
    snmp_engine = None
    if engine:
        from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

        snmp_engine = SnmpEngine()
    snmp = make_prober(
        SnmpSettings(timeout=10.0), ProbeContext(config, asyncio.Semaphore(4)), snmp_engine
    )
    try:
        res = (await snmp.run([job("ap", "p")]))[("ap", "snmp:p")]
    finally:
        await snmp.aclose()
        if snmp_engine is not None:
            snmp_engine.close_dispatcher()
    assert res.reason == reason, res.message
    if res.ok:
        assert res.data.sys_name == "ap-balai-desa"
        assert res.data.interfaces[1].speed == 1_000_000_000


def test_context_name_needs_v3() -> None:
    profile = {"version": "2c", "community": "x", "context": "vlan-10"}
    with pytest.raises(
        ValidationError, match="context is an SNMPv3 contextName: it needs version 3"
    ):
        Config.model_validate({"snmp": {"profiles": {"p": profile}}})


def walked(sent: list, column: tuple) -> bool:
    """Whether any GETBULK asked for OIDs in ``column``."""
    return any(
        oid[: len(column)] == column for pdu, oids in sent if pdu == GET_BULK for oid in oids
    )


@pytest.mark.parametrize(
    ("change", "again"),
    [
        pytest.param(lambda known: known, False, id="nothing-changed-not-read"),
        pytest.param(
            lambda known: dataclasses.replace(
                known,
                interfaces={
                    **known.interfaces,
                    2: dataclasses.replace(known.interfaces[2], last_change=1),
                },
            ),
            True,
            id="a-link-changed-read-again",
        ),
        pytest.param(
            lambda known: dataclasses.replace(
                known, interfaces={i: r for i, r in known.interfaces.items() if i != 7}
            ),
            True,
            id="a-row-came-read-again",
        ),
        pytest.param(
            lambda known: dataclasses.replace(known, static_ticks=known.uptime_ticks + 1),
            True,
            id="rebooted-read-again",
        ),
        pytest.param(
            lambda known: dataclasses.replace(
                known, static_ticks=known.uptime_ticks - STATIC_MAX_TICKS
            ),
            True,
            id="15-minutes-old-read-again",
        ),
    ],
)
async def test_static_columns_read_only_when_they_may_have_changed(
    sim: Snmpsim, change, again: bool
) -> None:
    session = Recording(V2cSession("127.0.0.1", sim.port, "catalyst-partial-hc", 5.0, 0))
    try:
        first = await poll_device(session, 25)  # type: ignore[arg-type]
        session.sent.clear()
        second = await poll_device(session, 25, known=change(first))  # type: ignore[arg-type]
    finally:
        await session.session.aclose()
    assert [walked(session.sent, IF_COLUMNS[f]) for f in STATIC_FIELDS] == [again] * 4
    assert walked(session.sent, IF_COLUMNS["last_change"])  # measured on every poll
    assert second.static_ticks == (second.uptime_ticks if again else first.static_ticks)
    for index, row in first.interfaces.items():  # lent or read again, the same values
        got = second.interfaces[index]
        assert (got.descr, got.type, got.speed, got.name) == (
            row.descr,
            row.type,
            row.speed,
            row.name,
        )
    assert second.interfaces[1].type == 6 and second.interfaces[4].descr == "Nu0"


async def test_second_round_lends_static_columns_and_exports_the_same(sim: Snmpsim) -> None:
    site = "catalyst-partial-hc"
    profile = {**v2c(sim.port, site), "timeout": 5.0}
    snmp, registry = prober({"p": profile}, timeout=20.0)
    null0 = {**iface(site, 4, "Nu0"), "ifdescr": "Nu0", "iftype": "1"}
    te = iface(site, 3, "Te1/1/2")
    try:
        seen = []
        for _ in range(2):
            res = (await snmp.run([job(site, "p")]))[(site, "snmp:p")]
            value = registry.get_sample_value
            seen.append(
                (
                    res.data.pdus,
                    value("pantau_if_info", null0),
                    value("pantau_if_speed_bits_per_second", te),
                )
            )
    finally:
        await snmp.aclose()
    assert [s[1:] for s in seen] == [(1, 10e9), (1, 10e9)]
    assert seen[1][0] <= seen[0][0]  # 12 columns instead of 15: never more PDUs
