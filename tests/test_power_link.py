"""Issue 16: a UPS polled at its own address explains the outages of the sites it powers.

The inventory column ``ups`` names the UPS site (validated in pantau.inventory with
pantau.sitelinks); the collector applies its one power rule (collector/power.py) to the site's
own evidence and to its UPS site's; the agent exports the link as ``pantau_site_power_source``.
The alert text is tested with promtool (dashboards/prometheus/tests/
pantau-alerts-snmp-health.test.yml, "a UPS at its own address"); the whole path with snmpsim, a
cut namespace, the agent and the collector is tests/test_power_link_e2e.py.
"""

from __future__ import annotations

import pytest
from test_exposition import big_source, samples

from pantau.agent.runtime.exposition import render
from pantau.agent.runtime.metrics import SiteFamilies
from pantau.collector.outages import (
    DOWN,
    POWER,
    UNKNOWN,
    UNREACHABLE,
    OutageParams,
    SiteRef,
    cause,
    decide,
)
from pantau.collector.power import WINDOW, on_battery_at
from pantau.collector.service import refresh, site_refs
from pantau.collector.store import open_store
from pantau.events import Event
from pantau.inventory import Site, load_inventory

P = OutageParams(quorum=0.5, flap_window=600, flap_threshold=4, parent_grace=30)
#: A UPS card at its own address (ups1), the tower's router it powers (rtr), a second router on
#: the same UPS (rtr2), the core router upstream (core) and a site without any UPS (lone).
SITES = [
    SiteRef("core", None, "d1"),
    SiteRef("ups1", "core", "d1"),
    SiteRef("rtr", "core", "d1", "ups1"),
    SiteRef("rtr2", None, "d1", "ups1"),
    SiteRef("lone", None, "d1"),
]


def site_ev(site, old, new, t, cursor, agent="a"):
    return Event(agent, "site", site, None, old, new, float(t), "timeout", cursor=cursor)


def power_ev(site, reason, t, cursor, agent="a", state="up"):
    return Event(agent, "probe", site, "snmp:ups", state, state, float(t), reason, cursor=cursor)


# -- the rule (collector/power.py) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("own", "ups", "expected"),
    [
        ([], [(90.0, True)], True),  # only the UPS site's word: on battery
        ([], [(90.0, False)], False),
        ([], [(100.0 - WINDOW - 1, True)], False),  # stale: the UPS site's agent stopped
        ([(95.0, False)], [(90.0, True)], True),  # either on battery: the mains is out
        ([(95.0, True)], [(90.0, False)], True),
        ([(95.0, False)], [(90.0, False)], False),
        ([], [(110.0, True)], False),  # after the start: says nothing of it
        ([], [], False),
    ],
    ids=[
        "ups-battery",
        "ups-mains",
        "ups-stale",
        "own-mains-ups-battery",
        "own-battery-ups-mains",
        "both-mains",
        "ups-after-start",
        "no-evidence",
    ],
)
def test_the_rule_reads_own_and_ups_site_evidence(own, ups, expected):
    assert on_battery_at(own, 100.0, WINDOW, ups) is expected
    # the UPS site's evidence is worth exactly what the site's own would be
    assert on_battery_at(ups, 100.0, WINDOW) is on_battery_at([], 100.0, WINDOW, ups)


@pytest.mark.parametrize(
    ("parent", "ups", "expected"),
    [
        (None, [(90.0, True)], POWER),
        (None, [(90.0, False)], DOWN),
        ([(0.0, "up"), (95.0, "down")], [(90.0, True)], UNREACHABLE),  # the parent first
        ([], [(90.0, True)], POWER),  # beats an unknown parent, as own evidence does
        ([], [(90.0, False)], UNKNOWN),
    ],
    ids=["power", "down", "unreachable-first", "power-over-unknown", "unknown"],
)
def test_cause_priority_with_a_ups_site(parent, ups, expected):
    assert cause(parent, [], 100.0, None, P, ups) == expected


# -- the decision -----------------------------------------------------------------------------


def _cut(ups_reason: str) -> list[Event]:
    """ups1 reports ``ups_reason`` and stays up; rtr and rtr2 go down 100 s later."""
    return [
        site_ev("core", "unknown", "up", 0, 1),
        site_ev("ups1", "unknown", "up", 0, 2),
        site_ev("rtr", "unknown", "up", 0, 3),
        site_ev("rtr2", "unknown", "up", 0, 4),
        site_ev("lone", "unknown", "up", 0, 5),
        power_ev("ups1", ups_reason, 10, 6, agent="b"),
        site_ev("rtr", "up", "down", 110, 7),
        site_ev("rtr2", "up", "down", 110, 8),
        site_ev("lone", "up", "down", 110, 9),
    ]


def test_linked_sites_outage_is_power_while_the_ups_is_on_battery():
    d = decide(_cut("on_battery"), SITES, P)
    assert [o.cause for o in d.outages["rtr"]] == [POWER]
    assert [o.cause for o in d.outages["rtr2"]] == [POWER]
    assert [o.cause for o in d.outages["lone"]] == [DOWN]  # not linked: not explained
    assert d.outages["ups1"] == ()  # the UPS site itself is up


def test_linked_sites_outage_is_down_while_the_ups_is_on_mains():
    d = decide(_cut("on_mains"), SITES, P)
    assert [o.cause for o in d.outages["rtr"]] == [DOWN]
    assert [o.cause for o in d.outages["rtr2"]] == [DOWN]


def test_without_the_ups_site_in_the_decision_there_is_no_evidence():
    """The link reads only sites the decision knows (refresh passes the UPS sites in)."""
    d = decide(_cut("on_battery"), [s for s in SITES if s.id != "ups1"], P)
    assert [o.cause for o in d.outages["rtr"]] == [DOWN]


def test_evidence_is_the_ups_sites_not_another_sites():
    events = [*_cut("on_mains"), power_ev("lone", "on_battery", 20, 10)]
    d = decide(events, SITES, P)
    assert [o.cause for o in d.outages["rtr"]] == [DOWN]


def test_a_down_parent_still_explains_a_linked_site():
    events = [*_cut("on_battery"), site_ev("core", "up", "down", 105, 20)]
    d = decide(events, SITES, P)
    assert [o.cause for o in d.outages["rtr"]] == [UNREACHABLE]
    assert [o.cause for o in d.outages["rtr2"]] == [POWER]  # no parent


# -- the collector's refresh: late evidence of the UPS site re-derives the sites it powers ------


@pytest.mark.parametrize("late", ["on_battery", "on_mains"])
def test_late_ups_evidence_from_another_agent_rederives_the_linked_site(tmp_path, late):
    """Agent a watches rtr2 (no parent), agent b the UPS site; b's evidence (recorded before
    rtr2 went down) reaches the collector a round later. rtr2's stored outage follows it."""
    store = open_store(f"sqlite:///{tmp_path}/collector.db")
    try:
        refs = {s.id: s for s in SITES}
        a = [
            site_ev("rtr2", "unknown", "up", 1_900_000_000, 1),
            site_ev("rtr2", "up", "down", 1_900_000_110, 2),
        ]
        store.ingest(
            "http://b",
            "b",
            "Lb",
            [site_ev("ups1", "unknown", "up", 1_900_000_000, 1, "b")],
            1,
            now=1_900_000_100,
        )
        store.ingest("http://a", "a", "La", a, 2, now=1_900_000_120)
        refresh(store, refs, P, 1_900_000_120)
        assert [o.cause for o in store.outages(site="rtr2")] == [DOWN]
        # b's next page: the evidence alone (no site event marks ups1)
        store.ingest(
            "http://b",
            "b",
            "Lb",
            [power_ev("ups1", late, 1_900_000_010, 2, "b")],
            2,
            now=1_900_000_130,
        )
        refresh(store, refs, P, 1_900_000_130)
        expected = POWER if late == "on_battery" else DOWN
        assert [o.cause for o in store.outages(site="rtr2")] == [expected]
        assert store.outages(site="rtr") == []  # never seen down
        assert store.dirty() == set()
    finally:
        store.close()


def test_site_refs_carry_the_link():
    site = Site(id="r", name="R", kind="router", lat=0, lon=0, ups="u")
    assert site_refs([site])["r"] == SiteRef("r", None, None, "u")


# -- the inventory ------------------------------------------------------------------------------

HEADER = "id,name,kind,lat,lon,address,probes,parent,coverage_m,district,ups\n"
UPS_ROW = "ups1,UPS Menara,bts,0,0,127.0.0.2,snmp:ups,,,,\n"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            "rtr,Router,router,0,0,127.0.0.3,icmp,,,,upsx\n",
            "ups: 'upsx' does not exist; give the id of the site polled for the UPS that powers "
            "this one, or leave it empty",
        ),
        (
            "rtr,Router,router,0,0,127.0.0.3,icmp,,,,rtr\n",
            "ups: a site cannot name itself; its own UPS reading counts already, leave ups empty",
        ),
        (
            "rtr,Router,router,0,0,127.0.0.3,icmp,,,,core\n",
            "ups: site 'core' has no snmp probe, so it gives no UPS reading; add snmp:PROFILE to "
            "its probes or name the site that polls the UPS",
        ),
        (
            "ups2,UPS 2,bts,0,0,127.0.0.4,snmp:ups,,,,ups1\n"
            "rtr,Router,router,0,0,127.0.0.3,icmp,,,,ups2\n",
            "ups: site 'ups2' names a UPS itself ('ups1'); chains are refused: name the site that "
            "polls the UPS ('ups1' if it powers this site too)",
        ),
        (
            "rtr,Router,router,0,0,127.0.0.3,icmp,,,,ups 1\n",
            "ups: String should match pattern",
        ),
    ],
    ids=["unknown-site", "itself", "no-snmp-probe", "chain", "bad-id"],
)
def test_bad_links_are_reported_with_file_line_field_and_fix(tmp_path, rows, message):
    path = tmp_path / "sites.csv"
    core = "core,Core,router,0,0,127.0.0.1,icmp,,,,\n"
    path.write_text(HEADER + core + UPS_ROW + rows)
    inv = load_inventory([path], snmp_profiles=["ups"])
    line = 3 + rows.count("\n")  # the last row is the bad one
    assert len(inv.problems) == 1
    assert any(p.startswith(f"{path}:{line}: {message}") for p in inv.problems), inv.problems
    assert "rtr" not in inv.by_id()  # dropped, as a bad parent is
    assert {"core", "ups1"} <= set(inv.by_id())  # the rest loads


def test_a_good_link_loads_and_a_dropped_ups_site_takes_its_sites_with_it(tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text(
        HEADER + UPS_ROW + "rtr,Router,router,0,0,127.0.0.3,icmp,,,,ups1\n"
        "rtr2,Router 2,router,0,0,127.0.0.5,icmp,,,, \n"
    )
    inv = load_inventory([path], snmp_profiles=["ups"])
    assert inv.problems == ()
    assert inv.by_id()["rtr"].ups == "ups1" and inv.by_id()["rtr2"].ups is None
    # the UPS site's profile is not configured: it is dropped, and so is the router it powers
    inv = load_inventory([path], snmp_profiles=[])
    assert set(inv.by_id()) == {"rtr2"}
    assert inv.problems[-1] == (
        f"{path}:3: ups: 'ups1' does not exist; give the id of the site polled for the UPS that "
        "powers this one, or leave it empty"
    )


def test_inline_sites_name_the_config_and_table(tmp_path):
    inline = [
        {"id": "ups1", "name": "UPS", "kind": "bts", "lat": 0, "lon": 0,
         "address": "127.0.0.2", "probes": ["icmp"]},
        {"id": "rtr", "name": "R", "kind": "router", "lat": 0, "lon": 0, "ups": "ups1"},
    ]  # fmt: skip
    inv = load_inventory([], inline, config_name="pantau.toml")
    assert inv.problems == (
        "pantau.toml: sites[1]: ups: site 'ups1' has no snmp probe, so it gives no UPS reading; "
        "add snmp:PROFILE to its probes or name the site that polls the UPS",
    )


# -- the agent's link series ----------------------------------------------------------------------


def test_agent_exports_the_link_only_for_linked_sites():
    src = big_source(3)
    src.sites["s1"] = Site(id="s1", name="Router", kind="router", lat=0, lon=0, ups="s0")
    got = samples(render(SiteFamilies()(src)))
    links = {labels: v for (name, labels), v in got.items() if name == "pantau_site_power_source"}
    assert links == {(("site", "s1"), ("ups_site", "s0")): 1.0}
