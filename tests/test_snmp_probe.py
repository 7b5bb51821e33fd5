"""The SNMP prober against real agents on loopback: net-snmp snmpd and snmpsim recordings."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from snmp_peers import DATA, Snmpd, Snmpsim, delay_proxy, free_udp_port

from pantau import cli
from pantau.agent.probes import ProbeContext, ProbeJob
from pantau.agent.probes.snmp import SnmpProber, make_prober
from pantau.agent.runtime.exposition import TextCollector
from pantau.config import Config, SnmpSettings
from pantau.errors import ProbeSetupError

pytestmark = pytest.mark.skipif(
    shutil.which("snmpd") is None, reason="net-snmp snmpd not installed"
)

AUTH_KEY, PRIV_KEY = "pantau-auth-key-1", "pantau-priv-key-1"
HC_IN_LO = "1.3.6.1.2.1.31.1.1.1.6.1"


def snmpd_lines(*extra: str) -> list[str]:
    return [
        "[snmpd] rocommunity lab-ro 127.0.0.1",
        f"[snmpd] createUser pantau SHA-256 {AUTH_KEY} AES {PRIV_KEY}",
        "[snmpd] rouser pantau priv",
        f"[snmpd] createUser pantau-sha SHA {AUTH_KEY} AES {PRIV_KEY}",
        "[snmpd] rouser pantau-sha priv",
        f"[snmpd] createUser pantau-256 SHA-256 {AUTH_KEY} AES256 {PRIV_KEY}",
        "[snmpd] rouser pantau-256 priv",
        "[snmpd] createUser pantau-plain",
        "[snmpd] rouser pantau-plain noauth",
        "[snmpd] sysName lab-router",
        "[snmpd] sysServices 72",
        *extra,
    ]


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory):
    daemon = Snmpd(tmp_path_factory.mktemp(f"snmpd{os.getpid()}"), free_udp_port(), snmpd_lines())
    try:
        yield daemon.start("lab-ro")
    finally:
        daemon.stop()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTAU_TEST_AUTH", AUTH_KEY)
    monkeypatch.setenv("PANTAU_TEST_PRIV", PRIV_KEY)
    monkeypatch.setenv("PANTAU_TEST_WRONG", "not-the-right-key")


def v3(
    port: int,
    auth_env: str = "PANTAU_TEST_AUTH",
    priv_env: str = "PANTAU_TEST_PRIV",
    user: str = "pantau",
    auth: str | None = "SHA-256",
    priv: str | None = "AES-128",
) -> dict:
    profile: dict = {"version": "3", "user": user, "port": port, "timeout": 0.5, "retries": 0}
    if auth:
        profile |= {"auth_protocol": auth, "auth_key_env": auth_env}
    if priv:
        profile |= {"priv_protocol": priv, "priv_key_env": priv_env}
    return profile


def v2c(port: int, community: str = "lab-ro") -> dict:
    return {"version": "2c", "community": community, "port": port, "timeout": 0.5, "retries": 0}


def prober(
    profiles: dict[str, dict], timeout: float = 5.0, max_in_flight: int = 8
) -> tuple[SnmpProber, CollectorRegistry]:
    config = Config.model_validate({"snmp": {"profiles": profiles}})
    context = ProbeContext(config=config, limiter=asyncio.Semaphore(100))
    snmp = make_prober(SnmpSettings(timeout=timeout, max_in_flight=max_in_flight), context)
    registry = CollectorRegistry()
    registry.register(TextCollector(snmp.families))
    return snmp, registry


def job(site: str, profile: str) -> ProbeJob:
    return ProbeJob(site, f"snmp:{profile}", profile, "127.0.0.1")


@pytest.mark.parametrize(
    ("version", "engine"),
    [
        pytest.param(lambda port: v2c(port), False, id="v2c"),
        pytest.param(lambda port: v3(port), False, id="v3-sha256-aes128"),
        pytest.param(
            lambda port: v3(port, user="pantau-sha", auth="SHA"), False, id="v3-sha-aes128"
        ),
        pytest.param(
            lambda port: v3(port, user="pantau-256", priv="AES-256"), False, id="v3-aes256"
        ),
        pytest.param(
            lambda port: v3(port, user="pantau-plain", auth=None, priv=None), False, id="v3-noauth"
        ),
        pytest.param(lambda port: v3(port), True, id="v3-pysnmp-engine"),
    ],
)
async def test_poll_exports_device_and_interfaces(
    agent: Snmpd, keys: None, version, engine: bool
) -> None:
    snmp, registry = prober({"p": version(agent.port)})
    if engine:  # the same poll through pysnmp's own SnmpEngine, the interoperability fallback
        from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

        snmp_engine = SnmpEngine()
        context = ProbeContext(
            Config.model_validate({"snmp": {"profiles": {"p": version(agent.port)}}}),
            asyncio.Semaphore(4),
        )
        snmp = make_prober(SnmpSettings(), context, snmp_engine)
        registry = CollectorRegistry()
        registry.register(TextCollector(snmp.families))
    try:
        results = await snmp.run([job("kantor", "p")])
    finally:
        await snmp.aclose()
        if engine:
            snmp_engine.close_dispatcher()
    res = results[("kantor", "snmp:p")]
    assert (res.ok, res.reason) == (True, "ok"), res.message
    assert registry.get_sample_value("pantau_snmp_up", {"site": "kantor", "probe": "snmp:p"}) == 1
    assert registry.get_sample_value("pantau_snmp_sysuptime_seconds", {"site": "kantor"}) > 0
    assert registry.get_sample_value("pantau_snmp_reboots_total", {"site": "kantor"}) == 0
    lo = {"site": "kantor", "ifindex": "1", "ifname": "lo", "ifalias": ""}
    assert registry.get_sample_value("pantau_if_oper_status", lo) == 1
    assert registry.get_sample_value("pantau_if_admin_status", lo) == 1
    assert registry.get_sample_value("pantau_if_in_octets_total", lo) > 0  # our own queries
    assert registry.get_sample_value("pantau_if_in_errors_total", lo) == 0
    lo_info = {**lo, "ifdescr": "lo", "iftype": "24"}  # softwareLoopback
    assert registry.get_sample_value("pantau_if_info", lo_info) == 1
    assert registry.get_sample_value("pantau_if_last_change_seconds", lo) is not None
    assert res.data.sys_name == "lab-router"
    assert registry.get_sample_value("pantau_snmp_requests_in_flight") == 0


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        pytest.param(lambda port: v2c(port, community="wrong"), "timeout", id="wrong-community"),
        pytest.param(lambda port: v3(port, auth_env="PANTAU_TEST_WRONG"), "auth", id="v3-auth-key"),
        # snmpd drops a message it cannot decrypt without a Report (snmpget also says Timeout)
        pytest.param(
            lambda port: v3(port, priv_env="PANTAU_TEST_WRONG"), "timeout", id="v3-priv-key"
        ),
        pytest.param(lambda port: v2c(free_udp_port()), "refused", id="v2c-nothing-listening"),
        pytest.param(lambda port: v3(free_udp_port()), "refused", id="v3-nothing-listening"),
        pytest.param(lambda port: v3(port, user="nobody-here"), "auth", id="v3-unknown-user"),
    ],
)
async def test_failures_have_fixed_reasons(agent: Snmpd, keys: None, profile, reason: str) -> None:
    snmp, registry = prober({"bad": profile(agent.port), "good": v2c(agent.port)})
    try:
        results = await snmp.run([job("bad-site", "bad"), job("good-site", "good")])
    finally:
        await snmp.aclose()
    bad = results[("bad-site", "snmp:bad")]
    assert (bad.ok, bad.reason) == (False, reason), bad.message
    assert results[("good-site", "snmp:good")].ok
    assert (
        registry.get_sample_value("pantau_snmp_up", {"site": "bad-site", "probe": "snmp:bad"}) == 0
    )
    assert (
        registry.get_sample_value(
            "pantau_if_oper_status",
            {"site": "bad-site", "ifindex": "1", "ifname": "lo", "ifalias": ""},
        )
        is None
    )


def test_missing_secret_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PANTAU_TEST_NOPE", raising=False)
    profile = {"version": "2c", "community_env": "PANTAU_TEST_NOPE"}
    with pytest.raises(
        ProbeSetupError, match=r"snmp\.profiles\.r\.community_env: .*PANTAU_TEST_NOPE"
    ):
        prober({"r": profile})


async def test_slow_device_fails_alone_and_never_delays_others(agent: Snmpd) -> None:
    async with delay_proxy(agent.port, delay=3.0) as slow_port:
        snmp, _ = prober({"slow": v2c(slow_port), "fast": v2c(agent.port)}, timeout=1.0)
        t0 = time.monotonic()
        try:
            results = await snmp.run([job("slow-site", "slow"), job("fast-site", "fast")])
        finally:
            await snmp.aclose()
    elapsed = time.monotonic() - t0
    assert results[("slow-site", "snmp:slow")].reason == "timeout"
    fast = results[("fast-site", "snmp:fast")]
    assert fast.ok and fast.duration < 0.9, fast
    assert elapsed < 2.5  # bounded by the per-poll deadline, not by the device


async def test_slow_device_within_deadline_is_ok(agent: Snmpd) -> None:
    async with delay_proxy(agent.port, delay=0.05) as port:
        snmp, _ = prober({"p": v2c(port)})
        try:
            res = (await snmp.run([job("s", "p")]))[("s", "snmp:p")]
        finally:
            await snmp.aclose()
    assert res.ok and res.duration >= 0.05 * res.data.pdus


# v3: the restarted agent has a new engine ID, so pantau must rediscover it (unknownEngineID)
@pytest.mark.parametrize("version", [v2c, v3], ids=["v2c", "v3-rediscovers-engine"])
async def test_reboot_is_counted_and_counters_do_not_spike(
    tmp_path: Path, keys: None, version
) -> None:
    port = free_udp_port()
    before = Snmpd(
        tmp_path / "a", port, snmpd_lines(f"[snmpd] override {HC_IN_LO} counter 5000000")
    )
    after = Snmpd(tmp_path / "b", port, snmpd_lines(f"[snmpd] override {HC_IN_LO} counter 1000"))
    snmp, registry = prober({"p": version(port)})
    lo = {"site": "r", "ifindex": "1", "ifname": "lo", "ifalias": ""}
    try:
        before.start("lab-ro")
        await asyncio.sleep(1.1)  # sysUpTime in centiseconds: let it grow past the restart's
        assert (await snmp.run([job("r", "p")]))[("r", "snmp:p")].ok
        assert registry.get_sample_value("pantau_if_in_octets_total", lo) == 5_000_000
        before.stop()
        after.start("lab-ro")
        assert (await snmp.run([job("r", "p")]))[("r", "snmp:p")].ok
    finally:
        before.stop()
        after.stop()
        await snmp.aclose()
    assert registry.get_sample_value("pantau_snmp_reboots_total", {"site": "r"}) == 1
    # reset to 1000 after 5,000,000: the device counted 1000 since; no drop, no spike
    assert registry.get_sample_value("pantau_if_in_octets_total", lo) == 5_001_000


@pytest.fixture(scope="module")
def switch():
    if os.geteuid() != 0:
        pytest.skip("snmpsim refuses root and must drop to nobody: the test needs root")
    if shutil.which("snmpget") is None:
        pytest.skip("net-snmp snmpget not installed (used to wait for the agent)")
    recordings = {"switch96": DATA / "switch96.snmprec", "legacy": DATA / "legacy-radio.snmprec"}
    sim = Snmpsim(free_udp_port(), recordings)
    try:
        yield sim.start()
    finally:
        sim.stop()


async def test_recorded_switch_with_many_interfaces(switch: Snmpsim) -> None:
    # snmpsim answers one request at a time at ~1 ms CPU per varbind on a loaded 2-core machine
    # (~1,100 varbinds a walk): three polls at once measured snmpsim, not pantau, against a 5 s
    # deadline. One poll in flight, each with its own deadline (the wait for a slot is not counted).
    profile = {**v2c(switch.port, community="switch96"), "timeout": 5.0, "max_repetitions": 10}
    snmp, registry = prober(
        {
            "sw": profile,
            "up": {**profile, "interfaces": ["port1", "port3"]},
            "down": {**profile, "interfaces": ["port1", "port4"]},
        },
        # this checks decoding, not speed: snmpsim spends ~9 ms CPU per request, and three polls
        # of ~100 PDUs each overran 5 s on a loaded 2-core machine (a timeout, not a wrong answer)
        timeout=60.0,
        max_in_flight=1,
    )
    try:
        results = await snmp.run([job("sw", "sw"), job("sw-up", "up"), job("sw-down", "down")])
    finally:
        await snmp.aclose()
    snap = results[("sw", "snmp:sw")].data
    assert len(snap.interfaces) == 97 and snap.sys_name == "sw-kantor-bupati"
    assert snap.pdus < 97 * 11 / 10  # columns advance together, several varbinds per PDU
    port4 = {"site": "sw", "ifindex": "5", "ifname": "port4", "ifalias": ""}
    assert registry.get_sample_value("pantau_if_oper_status", port4) == 2
    assert results[("sw-up", "snmp:up")].ok
    down = results[("sw-down", "snmp:down")]
    assert (down.ok, down.reason, down.message) == (False, "if_down", "not up: port4")
    assert (
        registry.get_sample_value("pantau_snmp_up", {"site": "sw-down", "probe": "snmp:down"}) == 1
    )


def test_probe_cli_polls_and_reports_json(agent: Snmpd, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["probe", "snmp", "--community", "lab-ro", "--port", str(agent.port)]
    assert cli.main([*argv, "--interface", "lo", "127.0.0.1"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["ok"], row["reason"], row["sysname"], row["down"]) == (True, "ok", "lab-router", [])
    assert row["interfaces"] >= 1 and row["interfaces_up"] >= 1
    assert cli.main([*argv, "--interface", "nonexistent0", "127.0.0.1"]) == 1
    assert json.loads(capsys.readouterr().out)["down"] == ["nonexistent0"]
    assert cli.main(["probe", "snmp", "127.0.0.1"]) == 2
    assert "--community-env" in capsys.readouterr().err


def test_agent_process_polls_snmp_sites(agent: Snmpd, tmp_path: Path) -> None:
    from agentproc import AgentProcess, free_port, site_states, site_toml, write_config

    snmp = "\n".join(
        [
            "[agent.snmp]\ninterval = 0.5\ntimeout = 0.4\njitter = 0.0",
            f'[snmp.profiles.up]\ncommunity = "lab-ro"\nport = {agent.port}\ninterfaces = ["lo"]',
            f'[snmp.profiles.gone]\ncommunity = "lab-ro"\nport = {agent.port}\n'
            'interfaces = ["nonexistent0"]',
            f'[snmp.profiles.wrong]\ncommunity = "nope"\nport = {agent.port}\ntimeout = 0.2\n'
            "retries = 0",
        ]
    )
    sites = [snmp] + [site_toml(p, "127.0.0.1", [f"snmp:{p}"]) for p in ("up", "gone", "wrong")]
    port = free_port()
    config = write_config(tmp_path / "agent.toml", port, sites)
    with AgentProcess(config, port) as proc:
        proc.wait_ready()
        events = proc.wait_for(lambda ev: len(site_states(ev)) == 3)
        _, metrics = proc.get("/metrics")
        proc.stop()
    assert site_states(events) == {"up": "up", "gone": "down", "wrong": "down"}
    reasons = {e["site"]: e["reason"] for e in events if e["type"] == "site"}
    assert (reasons["gone"], reasons["wrong"]) == ("if_down", "timeout")
    assert 'pantau_snmp_up{probe="snmp:gone",site="gone"} 1.0' in metrics
    assert 'pantau_snmp_up{probe="snmp:wrong",site="wrong"} 0.0' in metrics
    assert 'pantau_if_oper_status{ifalias="",ifindex="1",ifname="lo",site="up"} 1.0' in metrics


async def test_injected_engine_is_shared_and_left_open(agent: Snmpd, keys: None) -> None:
    from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

    engine = SnmpEngine()
    config = Config.model_validate({"snmp": {"profiles": {"p": v3(agent.port)}}})
    for _ in range(2):  # the second prober reuses the engine the first one was given
        snmp = make_prober(SnmpSettings(), ProbeContext(config, asyncio.Semaphore(4)), engine)
        assert (await snmp.run([job("s", "p")]))[("s", "snmp:p")].ok
        await snmp.aclose()
    engine.close_dispatcher()


async def test_extra_oids_scalar_and_subtree(agent: Snmpd) -> None:
    profile = {**v2c(agent.port), "extra_oids": ["1.3.6.1.2.1.1.7.0", "1.3.6.1.2.1.2.2.1.4"]}
    snmp, registry = prober({"p": profile})
    try:
        assert (await snmp.run([job("x", "p")]))[("x", "snmp:p")].ok
    finally:
        await snmp.aclose()
    value = registry.get_sample_value
    assert value("pantau_snmp_oid_value", {"site": "x", "oid": "1.3.6.1.2.1.1.7.0"}) == 72
    assert value("pantau_snmp_oid_value", {"site": "x", "oid": "1.3.6.1.2.1.2.2.1.4.1"}) == 65536


async def test_agent_without_system_view_is_snmp_error(tmp_path: Path) -> None:
    # this agent only shows the interfaces subtree: sysUpTime.0 answers noSuchObject and the
    # ifXTable walk meets endOfMibView
    lines = [
        "[snmpd] view ifonly included .1.3.6.1.2.1.2",
        "[snmpd] rocommunity lab-ro 127.0.0.1 -V ifonly",
    ]
    daemon = Snmpd(tmp_path, free_udp_port(), lines)
    snmp, _ = prober({"p": v2c(daemon.port)})
    try:
        daemon.start("lab-ro")
        res = (await snmp.run([job("v", "p")]))[("v", "snmp:p")]
    finally:
        daemon.stop()
        await snmp.aclose()
    assert (res.ok, res.reason, res.message) == (
        False,
        "snmp_error",
        "sysUpTime.0 answered 'noSuchObject'",
    )


class _Garbage(asyncio.DatagramProtocol):
    """A UDP peer that answers every request with bytes that are not SNMP."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"\x30\x03\x02\x01", addr)  # truncated SEQUENCE


@pytest.mark.parametrize("version", [v2c, v3], ids=["v2c", "v3"])
async def test_malformed_responses_are_snmp_error(keys: None, version) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Garbage, local_addr=("127.0.0.1", 0))
    snmp, _ = prober({"p": version(transport.get_extra_info("sockname")[1])})
    try:
        res = (await snmp.run([job("g", "p")]))[("g", "snmp:p")]
    finally:
        transport.close()
        await snmp.aclose()
    assert (res.ok, res.reason) == (False, "snmp_error"), res.message


async def test_in_flight_is_bounded_and_exported(agent: Snmpd) -> None:
    async with delay_proxy(agent.port, delay=0.4) as port:
        snmp, registry = prober({"p": {**v2c(port), "timeout": 2.0}}, max_in_flight=2)
        jobs = [ProbeJob(f"s{i}", "snmp:p", "p", "127.0.0.1") for i in range(3)]
        try:
            task = asyncio.create_task(snmp.run(jobs))
            await asyncio.sleep(0.2)
            assert registry.get_sample_value("pantau_snmp_requests_in_flight") == 2
            results = await task
        finally:
            await snmp.aclose()
    assert all(r.ok for r in results.values())
    assert registry.get_sample_value("pantau_snmp_requests_in_flight") == 0


async def test_device_without_ifxtable_uses_mib2_counters(switch: Snmpsim) -> None:
    snmp, registry = prober({"old": {**v2c(switch.port, community="legacy"), "timeout": 3.0}})
    try:
        snap = (await snmp.run([job("radio", "old")]))[("radio", "snmp:old")].data
    finally:
        await snmp.aclose()
    assert len(snap.interfaces) == 5
    assert {i.octet_bits for i in snap.interfaces.values()} == {32}
    lo = {"site": "radio", "ifindex": "1", "ifname": "lo", "ifalias": ""}  # name from ifDescr
    assert registry.get_sample_value("pantau_if_in_octets_total", lo) == 0
    assert registry.get_sample_value("pantau_if_speed_bits_per_second", lo) == 10_000_000
    port4 = {**lo, "ifindex": "5", "ifname": "port4"}
    assert registry.get_sample_value("pantau_if_oper_status", port4) == 2


async def test_device_without_interfaces_polls_twice(tmp_path: Path) -> None:
    # a UPS-like agent that shows the system group only: the second poll lends the (no) static
    # interface columns of the first
    lines = [
        "[snmpd] view sysonly included .1.3.6.1.2.1.1",
        "[snmpd] rocommunity lab-ro 127.0.0.1 -V sysonly",
    ]
    daemon = Snmpd(tmp_path, free_udp_port(), lines)
    snmp, _ = prober({"p": v2c(daemon.port)})
    try:
        daemon.start("lab-ro")
        rounds = [(await snmp.run([job("u", "p")]))[("u", "snmp:p")] for _ in range(2)]
    finally:
        daemon.stop()
        await snmp.aclose()
    assert [(r.ok, r.reason, len(r.data.interfaces)) for r in rounds] == [(True, "ok", 0)] * 2
