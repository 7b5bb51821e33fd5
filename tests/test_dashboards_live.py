"""Every dashboard and rule query, evaluated by a real Prometheus over a real agent and collector.

Scenario (loopback only): the agent probes sites on 127.0.0.x; some are down because their TCP
probe hits a port nobody listens on; one of those is the parent of another. A second agent target
has nothing listening (an agent that is down). A net-snmp snmpd on a loopback port is a router
polled over SNMP; it is restarted once, which the agent must count as a reboot. Prometheus
scrapes every second and evaluates the shipped rules with ``for:`` cut to seconds. Then each
PromQL expression of every dashboard panel, annotation and rule goes through Prometheus' HTTP
API: it returns series, or it is listed in ``EXPECTED_EMPTY`` with the reason it has none in
this scenario.
"""

from __future__ import annotations

import contextlib
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dashboard_exprs import (
    ROOT,
    Expr,
    dashboard_exprs,
    dashboard_files,
    rule_exprs,
    substitute,
    variable_queries,
)
from livestack import (
    fast_rules,
    firing,
    have,
    metric_names,
    pantau_process,
    prometheus,
    prometheus_config,
    wait_for,
)
from promstack import PROMETHEUS_BIN, Server, free_port, query
from snmp_peers import SNMPD, Snmpd, free_udp_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        PROMETHEUS_BIN is None,
        reason="prometheus not installed (Debian package prometheus; .ci/install-deps installs it)",
    ),
    pytest.mark.skipif(
        not have("agent.runtime"),
        reason="the agent runtime (pantau agent) is not in this build yet",
    ),
]
COLLECTOR = have("collector.cli")
SNMP = have("agent.probes.snmp") and Path(SNMPD).exists()

SITES = """
[[sites]]
id = "core"
name = "Router inti"
kind = "router"
lat = -1.2379
lon = 116.8529
address = "127.0.0.1"
probes = ["icmp"]
district = "64.71.04.1001"

[[sites]]
id = "kantor-hidup"
name = "Kantor Camat Tengah"
kind = "office"
lat = -1.2654
lon = 116.8647
address = "127.0.0.2"
probes = ["icmp"]
parent = "core"
district = "64.71.04.1001"

[[sites]]
id = "kantor-mati"
name = "Kantor Kelurahan Gunung Sari"
kind = "office"
lat = -1.2530
lon = 116.8420
address = "127.0.0.3"
probes = ["icmp", "tcp:{closed}"]
parent = "core"
district = "64.71.04.1002"

[[sites]]
id = "bts-mati"
name = "BTS Manggar"
kind = "bts"
lat = -1.2100
lon = 116.9700
address = "127.0.0.4"
probes = ["tcp:{closed}"]
district = "64.71.01.1001"

[[sites]]
id = "hotspot-belakang"
name = "Wi-Fi Pantai Manggar"
kind = "hotspot"
lat = -1.2120
lon = 116.9720
address = "127.0.0.5"
probes = ["icmp", "tcp:{closed}"]
parent = "bts-mati"
district = "64.71.01.1001"

[[sites]]
id = "vsat-teritip"
name = "VSAT Puskesmas Teritip"
kind = "vsat"
lat = -1.2050
lon = 117.0000
address = "127.0.0.6"
probes = ["icmp"]
district = "64.71.01.1001"

{snmp_site}
[[sites]]
id = "web-portal"
name = "Portal layanan publik"
kind = "web"
lat = -1.2650
lon = 116.8310
address = "127.0.0.1"
probes = ["http:http://127.0.0.1:{agent_port}/metrics"]
"""

CONFIG = """
[agent]
name = "agent-live-test"
listen = "127.0.0.1:{agent_port}"
state_dir = "{tmp}/agent-state"
canaries = ["127.0.0.1"]
down_after = 2
up_after = 1
traceroute = false

[agent.icmp]
interval = 1
timeout = 0.5
count = 3
# The site dashboard's RTT heatmap and p95 need every bucket: opt the panel's site in (the
# default exports only the +Inf bucket, _sum and _count per site, issue 18).
rtt_histogram_sites = ["kantor-hidup"]

[agent.tcp]
interval = 1
timeout = 0.5

[agent.http]
interval = 1
timeout = 0.9

[agent.snmp]
interval = 1
timeout = 0.9

[snmp.profiles.lab]
version = "2c"
community = "lab-ro"
port = {snmp_port}
timeout = 0.5
retries = 0

[collector]
listen = "127.0.0.1:{collector_port}"
database = "sqlite:///{tmp}/collector.db"
agents = ["http://127.0.0.1:{agent_port}"]
pull_interval = 1
"""


@dataclass
class Stack:
    prom: Server
    agent_url: str
    collector_url: str
    dead_agent: str


SNMP_SITE = """
[[sites]]
id = "router-snmp"
name = "Router distribusi"
kind = "router"
lat = -1.2400
lon = 116.8500
address = "127.0.0.1"
probes = ["icmp", "snmp:lab"]
parent = "core"
district = "64.71.04.1001"

[[sites]]
id = "radio-menara"
name = "Radio menara distribusi"
kind = "bts"
lat = -1.2410
lon = 116.8510
address = "127.0.0.7"
probes = ["icmp"]
parent = "core"
# the site polled for the UPS that powers it (pantau_site_power_source): snmpd here has no UPS
# table, so the link exists and its reading is absent, as at a tower whose UPS card is down
ups = "router-snmp"
district = "64.71.04.1001"
"""
SNMPD_CONF = ["[snmpd] rocommunity lab-ro 127.0.0.1", "[snmpd] sysName lab-router"]


#: Metrics the real processes do not export in this scenario, with the reason.
ABSENT_METRICS: dict[str, str] = {
    **(
        {}
        if SNMP
        else {
            "pantau_snmp_": "no SNMP prober or no snmpd in this build",
            "pantau_if_": "no SNMP prober or no snmpd in this build",
            "pantau_site_power_source": "no SNMP site to link a UPS site to in this build",
        }
    ),
    # The real agent exports this only for profiles with extra_oids (none here).
    "pantau_snmp_oid_value": "no extra OIDs configured",
    "pantau_tls_cert_expiry": "no HTTPS site in this scenario (the web probe is plain HTTP)",
    "pantau_collector_events_rejected_total": "the agent sends no malformed event",
    # docs/contracts.md lists these as collector metrics; the collector on main does not export
    # them yet (the geo extension of issue 5). Soft: once exported, they must return series.
    "pantau_district_blankspot_ratio": "the collector does not export it yet (geo, issue 5)",
    "pantau_district_supervision_coverage_ratio": "the collector does not export it yet (geo)",
    # Agreed for the alert rules of issue 14 (docs/contracts.md); other issues add them. Soft.
    "pantau_agent_eventlog_up": "the agent does not export it yet",
    "pantau_agent_events_dropped_total": "the agent does not export it yet",
    "pantau_agent_events_pending": "the agent does not export it yet",
    "pantau_collector_agent_clock_offset_seconds": "the collector does not export it yet",
    "pantau_collector_agent_identity_conflict": "the collector does not export it yet",
    "pantau_collector_events_lost_total": "the collector does not export it yet",
    "pantau_maintenance_active": "the collector does not export it yet; no window is open",
    "pantau_site_last_hop_info": "traceroute is off in this scenario",
    # SNMP health (issue 16): the scenario's router is net-snmp snmpd, which answers
    # HOST-RESOURCES-MIB only (memory now, hrProcessorLoad a minute after it starts).
    "pantau_ups_": "no UPS in this scenario (snmpd answers no UPS-MIB)",
    "pantau_radio_": "no radio in this scenario",
    "pantau_pon_": "no OLT in this scenario",
    "pantau_optic_": "no optical transceiver in this scenario",
    "pantau_lte_": "no LTE modem in this scenario",
    "pantau_cellular_": "no cellular router in this scenario",
    "pantau_vsat_": "no VSAT modem in this scenario",
    "pantau_device_voltage_volts": "snmpd reports no board voltage",
    "pantau_device_temperature_celsius": "snmpd reports no ENTITY-SENSOR temperature",
    "pantau_device_cpu_ratio": "snmpd answers hrProcessorLoad only a minute after it starts",
}
#: Expressions that legitimately return nothing in this scenario, by a pattern searched in
#: "LOCATION :: EXPRESSION", with the reason.
EXPECTED_EMPTY: list[tuple[str, str]] = [
    *((re.escape(name), reason) for name, reason in ABSENT_METRICS.items()),
    (
        r"PantauAgentIsolated|PantauSiteVantageIsolated",
        "no agent is isolated: its canary 127.0.0.1 answers",
    ),
    (r"PantauHighPacketLoss|PantauHighLatency", "loopback neither loses nor delays packets"),
    *(
        [(r"PantauInterfaceDown", "host-dependent: snmpd reports this machine's interfaces")]
        if SNMP
        else [(r"PantauDeviceRebooted|PantauInterfaceDown", "no SNMP device in this build")]
    ),
    (r"PantauDistrictBlankspot", "no district is a blankspot in this scenario"),
    (
        r"parent:pantau_offices_unreachable:count|PantauUpstreamDown",
        "no office is behind a down device (the down office's parent is up)",
    ),
    (r"PantauSnmpCredentialsMissing|PantauProbeKindDisabled", "every probe kind runs here"),
    (r"PantauAgentClockOffset", "the collector does not export clock offsets yet"),
    (
        r"PantauUps|PantauRadio|PantauLte|PantauDeviceTemperature|PantauOnu|PantauVsat"
        r"|site:pantau_ups_on_battery:last15m",
        "no UPS, radio, LTE, OLT or VSAT in this scenario; snmpd's values are in range",
    ),
]
#: Without the collector (before it lands on main) its series are absent and it is "down".
WITHOUT_COLLECTOR = [
    (
        r"pantau_(outages_open|site_outage_open|collector_|district_)",
        "the collector (pantau collector) is not in this build yet",
    ),
]
WITH_COLLECTOR = [
    (r"PantauCollectorDown", "the collector is up"),
    (
        r'up\{job="pantau-collector"\} == 1\)',
        "the agents' fallback of a paging alert applies only while the collector is not scraped",
    ),
    (r"site:pantau_maintenance_active:max :: ", "no maintenance window in this scenario"),
    (r"PantauCollectorAgentUnreachable", "the collector reaches its one agent"),
    (r"PantauCollectorStoreDown", "the collector's store is writable"),
]


def _expected_empty(expr: Expr) -> str | None:
    table = [*EXPECTED_EMPTY, *(WITH_COLLECTOR if COLLECTOR else WITHOUT_COLLECTOR)]
    for pattern, reason in table:
        if re.search(pattern, f"{expr.where} :: {expr.expr}"):
            return reason
    return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("live")
    agent_port, collector_port, closed, dead = (free_port() for _ in range(4))
    snmp_port = free_udp_port()
    fill = {
        "agent_port": agent_port,
        "collector_port": collector_port,
        "closed": closed,
        "tmp": tmp,
        "snmp_port": snmp_port,
        "snmp_site": SNMP_SITE if SNMP else "",
    }
    config = tmp / "pantau.toml"
    config.write_text(CONFIG.format(**fill) + SITES.format(**fill))
    agent_url = f"http://127.0.0.1:{agent_port}"
    collector_url = f"http://127.0.0.1:{collector_port}"
    prom_config = prometheus_config(
        tmp / "prometheus.yml",
        fast_rules(tmp),
        agents=[f"127.0.0.1:{agent_port}", f"127.0.0.1:{dead}"],
        collectors=[f"127.0.0.1:{collector_port}"],
    )
    with contextlib.ExitStack() as stack:
        snmpd = Snmpd(tmp / "snmpd", snmp_port, SNMPD_CONF) if SNMP else None
        if snmpd is not None:
            stack.callback(snmpd.stop)
            snmpd.start("lab-ro")
        stack.enter_context(pantau_process("agent", config, tmp, agent_url))
        if COLLECTOR:
            stack.enter_context(pantau_process("collector", config, tmp, collector_url))
        prom = stack.enter_context(prometheus(tmp, prom_config))
        if snmpd is not None:
            # A few polls, then the device "reboots": its sysUpTime starts again from zero.
            assert wait_for(prom, 'pantau_snmp_sysuptime_seconds{site="router-snmp"} > 2', 30)
            snmpd.stop()
            snmpd.start("lab-ro")
            assert wait_for(prom, "increase(pantau_snmp_reboots_total[15m]) > 0", 30)
        # Enough scrapes and evaluations for rates and `for:` (3 s) to have happened.
        wait_for(prom, 'ALERTS{alertname="PantauSiteDown",alertstate="firing"}', 60)
        wait_for(prom, "count(count_over_time(up[1m]) >= 8)", 30)
        yield Stack(prom, agent_url, collector_url, f"127.0.0.1:{dead}")


#: The site dashboard is evaluated for each of these sites; a query passes when it returns
#: series for at least one (HTTP panels need the web site, failure panels a down site).
SITE_CHOICES = ("kantor-hidup", "kantor-mati", "web-portal", *(["router-snmp"] if SNMP else []))


def _values(site: str) -> dict[str, str]:
    return {
        "site": site,
        "agent": ".*",
        "district": ".*",
        "kind": ".*",
        "interface": ".*",
        "datasource": "",
    }


def _all_exprs() -> list[Expr]:
    out = list(rule_exprs())
    for path in dashboard_files():
        out += list(dashboard_exprs(path))
        out += [
            Expr(
                f"{path.name} variable ${name}", re.sub(r"^label_values\((.+),\s*\w+\)$", r"\1", q)
            )
            for name, q in variable_queries(path)
        ]
    return out


def test_every_query_returns_series_or_is_expected_empty(stack: Stack) -> None:
    unexpected_empty, unexpected_series, errors = [], [], []
    for expr in _all_exprs():
        sites = SITE_CHOICES if "$site" in expr.expr else SITE_CHOICES[:1]
        try:
            result = []
            for site in sites:
                result += query(stack.prom, substitute(expr.expr, _values(site)))
        except Exception as exc:  # an HTTP 400 carries Prometheus' parse/eval error
            errors.append(f"{expr.where}: {exc}")
            continue
        reason = _expected_empty(expr)
        if not result and reason is None:
            unexpected_empty.append(f"{expr.where}: {expr.expr}")
        soft = re.search(r"in this build|yet|host-dependent", reason or "")
        if result and reason is not None and not soft:
            unexpected_series.append(
                f"{expr.where}: listed as empty ({reason}) but returned {result[:2]}"
            )
    assert not errors, "\n".join(errors)
    assert not unexpected_empty, "no series and no reason:\n" + "\n".join(unexpected_empty)
    assert not unexpected_series, "\n".join(unexpected_series)


def test_scenario_alerts(stack: Stack) -> None:
    """The down office pages; the hotspot behind the down BTS is unreachable, not down."""
    alerts = firing(stack.prom)
    office = [a["site"] for a in alerts.get("PantauOfficeWithoutInternet", [])]
    down = [a["site"] for a in alerts.get("PantauSiteDown", [])]
    unreachable = [a["site"] for a in alerts.get("PantauSiteUnreachable", [])]
    agents_down = [a["instance"] for a in alerts.get("PantauAgentDown", [])]
    assert office == ["kantor-mati"]
    assert down == ["bts-mati"]
    assert unreachable == ["hotspot-belakang"]
    assert wait_for(stack.prom, 'ALERTS{alertname="PantauAgentDown",alertstate="firing"}', 30)
    agents_down = [a["instance"] for a in firing(stack.prom).get("PantauAgentDown", [])]
    assert agents_down == [stack.dead_agent]
    [labels] = [a for a in alerts["PantauOfficeWithoutInternet"]]
    assert labels["name"] == "Kantor Kelurahan Gunung Sari"
    assert labels["district"] == "64.71.04.1002" and labels["kind"] == "office"
    assert labels["severity"] == "critical" and labels["parent"] == "core"
    if SNMP:  # snmpd was restarted: the agent counted a reboot, the alert carries the site
        [reboot] = alerts["PantauDeviceRebooted"]
        assert (reboot["site"], reboot["name"], reboot["kind"]) == (
            "router-snmp",
            "Router distribusi",
            "router",
        )


def _contract_sections() -> dict[str, set[str]]:
    text = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    agent = text.split("## Agent metrics", 1)[1].split("## Collector metrics", 1)[0]
    collector = text.split("## Collector metrics", 1)[1]
    names = lambda part: set(re.findall(r"`(pantau_[a-z0-9_]+)", part))  # noqa: E731
    return {"agent": names(agent), "collector": names(collector)}


def _exported(url: str) -> set[str]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
        names = metric_names(resp.read().decode())
    # Histogram samples (_bucket, _sum, _count) and _created carry the family's name.
    bases = {re.sub(r"_(bucket|sum|count|created)$", "", n) for n in names}
    return {n for n in bases if n.startswith("pantau_")}


@pytest.mark.parametrize("part", ["agent", "collector"])
def test_real_metric_names_match_contracts_and_rules(stack: Stack, part: str) -> None:
    """What the real process exports is named as docs/contracts.md and the rules expect."""
    if part == "collector" and not COLLECTOR:
        pytest.skip("the collector is not in this build yet")
    contract = _contract_sections()[part]
    exported = _exported(stack.agent_url if part == "agent" else stack.collector_url)
    used = set()
    for expr in _all_exprs():
        used |= set(re.findall(r"(?<![:\w])pantau_[a-z0-9_]+", expr.expr))
    used = {re.sub(r"_(bucket|sum|count)$", "", n) for n in used}
    not_in_contract = sorted(exported - contract)
    assert not not_in_contract, f"{part} exports names docs/contracts.md does not know"
    # Names the rules/dashboards use from this part that the scenario must produce.
    absent = sorted(
        n
        for n in (used & contract) - exported
        if not any(n.startswith(prefix) for prefix in ABSENT_METRICS)
    )
    assert not absent, f"rules/dashboards use {absent}, which the real {part} does not export"
