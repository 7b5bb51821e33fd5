"""Two towers behind real UPS recordings, one on battery and one on mains (issue 16).

Shared by the power-cut tests (tests/test_power_cut_e2e.py: the alert text;
tests/test_power_cause_e2e.py: the collector's outage cause). snmpsim serves two real-device
recordings from tests/data/snmp/third_party/librenms: a CET Power inverter recorded on battery
(``cetpower``) and a CyberPower UPS on mains (``cyberpower_pr2200rt2uc``); the agent polls them
as sites ``bts-a`` (profile ``battery``) and ``bts-b`` (profile ``mains``), chosen by community.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from snmp_peers import DATA, Snmpsim, free_udp_port

LIBRENMS = DATA / "third_party" / "librenms"
RECORDINGS = {"battery": "cetpower", "mains": "cyberpower_pr2200rt2uc"}

#: The agent and its two sites; ``{agent_port}``, ``{tmp}``, ``{snmp_port}`` filled by the test,
#: which may add sections (``[collector]``) with :func:`config`.
AGENT = """
[agent]
name = "agent-power"
listen = "127.0.0.1:{agent_port}"
state_dir = "{tmp}/agent-state"
canaries = ["127.0.0.1"]
down_after = 2
up_after = 1
traceroute = false

[agent.snmp]
interval = 2
timeout = 2.0
"""
PROFILE = """
[snmp.profiles.{profile}]
community_env = "PANTAU_TEST_COMMUNITY_{upper}"
port = {{snmp_port}}
timeout = 1.0
retries = 0
max_repetitions = 10
"""
SITE = """
[[sites]]
id = "{site}"
name = "BTS Gunung {letter}"
kind = "bts"
lat = -1.2379
lon = 116.8529
address = "127.0.0.1"
probes = ["snmp:{profile}"]
district = "64.71.04"
"""
SITES = {"bts-a": "battery", "bts-b": "mains"}


def config(extra: str = "") -> str:
    """The whole configuration template: agent, profiles, ``extra``, then the sites."""
    profiles = "".join(PROFILE.format(profile=p, upper=p.upper()) for p in RECORDINGS)
    sites = "".join(SITE.format(site=s, letter=s[-1].upper(), profile=p) for s, p in SITES.items())
    return AGENT + profiles + extra + sites


def snmpsim(monkeypatch: pytest.MonkeyPatch) -> Snmpsim:
    """snmpsim (not started) serving both recordings, and the communities set for the agent."""
    for profile, recording in RECORDINGS.items():
        monkeypatch.setenv(f"PANTAU_TEST_COMMUNITY_{profile.upper()}", recording)
    return Snmpsim(
        free_udp_port(), {name: LIBRENMS / f"{name}.snmprec" for name in RECORDINGS.values()}
    )


def until(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll ``probe()`` (bounded) until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got or time.monotonic() > deadline:
            assert got, f"timed out waiting for {what}"
            return got
        time.sleep(0.5)
