"""Issue 16: an outage's cause is ``power`` when the site's own UPS was on battery at its start.

Pure parts: the agent's power evidence (agent/runtime/power.py), the evidence rule
(collector/power.py) and the cause's priority in the outage decision (collector/outages.py).
The end-to-end path with snmpsim, the agent and the collector is tests/test_power_cause_e2e.py.
"""

from __future__ import annotations

import json

import pytest

from pantau import events as events_module
from pantau.agent.probes import ProbeResult
from pantau.agent.runtime.power import REFRESH, power_events
from pantau.agent.runtime.state import ProbeState, SiteState, Stamp
from pantau.collector.outages import (
    CAUSES,
    DOWN,
    POWER,
    UNKNOWN,
    UNREACHABLE,
    OutageParams,
    SiteRef,
    cause,
    decide,
)
from pantau.collector.pagecheck import Checks, check_page, parse_page
from pantau.collector.power import WINDOW, evidence_by_site, on_battery_at
from pantau.events import POWER_REASONS, REASONS, Event

P = OutageParams(quorum=0.5, flap_window=600, flap_threshold=4, parent_grace=30)
SITES = [SiteRef("core", None, "d1"), SiteRef("bts", "core", "d1"), SiteRef("lone", None, "d1")]


def site_ev(site, old, new, t, cursor, agent="a"):
    return Event(agent, "site", site, None, old, new, float(t), "timeout", cursor=cursor)


def power_ev(site, reason, t, cursor, agent="a", state="up"):
    return Event(agent, "probe", site, "snmp:ups", state, state, float(t), reason, cursor=cursor)


# -- the event ----------------------------------------------------------------------------------


def test_power_evidence_is_a_probe_event_without_change():
    e = power_ev("bts", "on_battery", 10, 1)
    assert e.evidence and Event.from_json(e.to_json()) == e
    with pytest.raises(ValueError, match="probe event with old == new"):
        Event("a", "probe", "bts", "snmp:ups", "up", "down", 1.0, "on_battery", cursor=1)
    with pytest.raises(ValueError, match="probe event with old == new"):
        Event("a", "site", "bts", None, "up", "up", 1.0, "on_mains", cursor=1)
    assert not site_ev("bts", "up", "down", 1, 1).evidence


def test_an_older_collector_counts_the_new_reason_as_this_agents_bad_event(monkeypatch):
    """A collector from before power evidence knows REASONS without it: the event is refused
    as ``bad_event`` (counted for the agent, logged), the cursor moves past it, the rest of the
    page is stored. Upgrade collectors before agents (docs/operations.md)."""
    items = [
        {**power_ev("bts", "on_battery", 1_900_000_000, 1, agent="x").to_json()},
        {**site_ev("bts", "unknown", "up", 1_900_000_001, 2, agent="x").to_json()},
    ]
    body = json.dumps(
        {"agent": "x", "log_id": "L", "events": items, "next": 2, "oldest": 1, "more": False}
    ).encode()
    checks = Checks(1_900_000_100.0, 60)
    assert dict(check_page(parse_page(body), 0, checks).rejected) == {}
    monkeypatch.setattr(events_module, "REASONS", REASONS - POWER_REASONS)
    page = check_page(parse_page(body), 0, checks)
    assert dict(page.rejected) == {"bad_event": 1}
    assert [e.cursor for e in page.events] == [2] and page.next == 2


# -- the collector's rule -------------------------------------------------------------------------


def test_last_evidence_within_the_window_decides():
    ev = [(100.0, True), (400.0, False), (500.0, True)]
    assert not on_battery_at(ev, 50)  # nothing yet
    assert on_battery_at(ev, 100) and on_battery_at(ev, 399)
    assert not on_battery_at(ev, 450)  # back on mains
    assert on_battery_at(ev, 500 + WINDOW)
    assert not on_battery_at(ev, 500 + WINDOW + 1)  # stale: the agent stopped vouching
    assert not on_battery_at([], 100)


def test_evidence_is_read_in_replay_order_from_every_agent():
    events = [
        power_ev("bts", "on_mains", 200, 2, agent="b"),
        power_ev("bts", "on_battery", 100, 1, agent="a"),
        site_ev("bts", "up", "down", 300, 3),
        power_ev("lone", "on_battery", 50, 9),
    ]
    assert evidence_by_site(events) == {
        "bts": [(100.0, True), (200.0, False)],
        "lone": [(50, True)],
    }


@pytest.mark.parametrize(
    ("parent", "power", "expected"),
    [
        (None, [], DOWN),
        (None, [(90.0, True)], POWER),
        (None, [(90.0, False)], DOWN),
        (None, [(100.0 - WINDOW - 1, True)], DOWN),
        ([(0.0, "up")], [(90.0, True)], POWER),
        ([(0.0, "up"), (95.0, "down")], [(90.0, True)], UNREACHABLE),  # the parent first
        ([(0.0, "up"), (110.0, "down")], [(90.0, True)], UNREACHABLE),  # within the grace
        ([], [(90.0, True)], POWER),  # own evidence beats an unknown parent
        ([], [], UNKNOWN),
        ([(0.0, "up")], [], DOWN),
    ],
)
def test_cause_priority(parent, power, expected):
    assert cause(parent, power, 100.0, None, P) == expected
    assert expected in CAUSES


def test_outage_on_battery_is_power_on_mains_is_down():
    base = [
        site_ev("lone", "unknown", "up", 0, 1),
        power_ev("lone", "on_battery", 10, 2),
        site_ev("lone", "up", "down", 100, 3),
        site_ev("lone", "down", "up", 200, 4),
        power_ev("lone", "on_mains", 210, 5),
        site_ev("lone", "up", "down", 300, 6),
    ]
    d = decide(base, SITES, P)
    assert [o.cause for o in d.outages["lone"]] == [POWER, DOWN]


def test_site_behind_a_down_parent_is_unreachable_even_on_battery():
    events = [
        site_ev("core", "unknown", "up", 0, 1),
        site_ev("bts", "unknown", "up", 0, 2),
        power_ev("bts", "on_battery", 10, 3),
        site_ev("core", "up", "down", 100, 4),
        site_ev("bts", "up", "down", 105, 5),
    ]
    d = decide(events, SITES, P)
    assert [o.cause for o in d.outages["bts"]] == [UNREACHABLE]
    alone = [e for e in events if e.site != "core"]
    assert [o.cause for o in decide(alone, SITES, P).outages["bts"]] == [POWER]


def test_evidence_changes_no_timeline():
    events = [site_ev("lone", "unknown", "up", 0, 1), power_ev("lone", "on_battery", 10, 2)]
    with_ev = decide(events, SITES, P)
    without = decide(events[:1], SITES, P)
    assert with_ev.timelines == without.timelines and with_ev.outages["lone"] == ()


# -- the agent's evidence -------------------------------------------------------------------------


def _states(state="up"):
    return {"bts": SiteState(state, {"snmp:ups": ProbeState(state)})}


def _result(on_battery: float | None, ok=True):
    values = {} if on_battery is None else {"on_battery": on_battery}
    return {
        ("bts", "snmp:ups"): ProbeResult(ok, "ok" if ok else "timeout", 0.1, 0.0, values=values)
    }


def _run(readings, state="up"):
    """Readings ``(time, on_battery)``: the reasons recorded, with their times."""
    last: dict = {}
    out = []
    for t, value in readings:
        last, events = power_events(last, _result(value), _states(state), Stamp("a", t))
        out += [(e.time, e.reason) for e in events]
        assert all(e.type == "probe" and e.old == e.new == state for e in events)
    return out


def test_agent_records_first_reading_changes_and_refreshes_battery_only():
    got = _run([(0, 0.0), (10, 0.0), (20, 1.0), (30, 1.0), (20 + REFRESH, 1.0), (400, 0.0)])
    assert got == [
        (0, "on_mains"),
        (20, "on_battery"),
        (20 + REFRESH, "on_battery"),
        (400, "on_mains"),
    ]
    # a steady site on mains adds nothing after its first reading
    assert _run([(t, 0.0) for t in range(0, 3600, 60)]) == [(0, "on_mains")]


def test_agent_ignores_results_without_a_reading_and_forgets_removed_probes():
    last, events = power_events({}, _result(None, ok=False), _states(), Stamp("a", 0))
    assert (last, events) == ({}, [])
    last, _ = power_events({}, _result(1.0), _states(), Stamp("a", 0))
    assert last == {("bts", "snmp:ups"): (True, 0)}
    last, events = power_events(last, {}, {}, Stamp("a", 1))
    assert (last, events) == ({}, [])


def test_every_cause_but_unknown_is_worded_in_the_report_in_both_languages():
    from pantau.geo.reportstrings import STRINGS

    for lang in ("id", "en"):
        worded = {c for c in CAUSES if f"cause_{c}" in STRINGS[lang]}
        assert worded == set(CAUSES) - {UNKNOWN}, lang
    assert STRINGS["id"]["cause_power"] == "listrik padam (UPS memakai baterai)"
