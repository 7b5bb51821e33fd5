"""Hysteresis of probe and site state: property tests over random result sequences."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pantau.agent.probes import ProbeResult
from pantau.agent.runtime.state import (
    Hysteresis,
    ProbeState,
    SiteState,
    Stamp,
    apply_results,
    combine,
    is_isolated,
    isolation_event,
    reconcile,
    step_probe,
)
from pantau.events import POWER_REASONS, REASONS

thresholds = st.integers(min_value=1, max_value=5)
outcomes = st.lists(st.booleans(), max_size=60)
FAIL_REASONS = sorted(REASONS - POWER_REASONS - {"ok", "recovered", "removed", "isolated"})


def result(ok, reason="timeout"):
    return ProbeResult(ok, "ok" if ok else reason, 0.01, 0.0)


def run_probe(seq, h):
    states = []
    s = ProbeState()
    for ok in seq:
        s = step_probe(s, ok, "timeout", h)
        states.append(s.state)
    return states


@given(outcomes, thresholds, thresholds)
def test_probe_state_follows_trailing_runs(seq, down_after, up_after):
    h = Hysteresis(down_after, up_after)
    states = run_probe(seq, h)
    prev = "unknown"
    for i, state in enumerate(states):
        tail_down = seq[max(0, i + 1 - down_after) : i + 1]
        tail_up = seq[max(0, i + 1 - up_after) : i + 1]
        full_fail = len(tail_down) == down_after and not any(tail_down)
        full_ok = len(tail_up) == up_after and all(tail_up)
        if full_fail:
            assert state == "down"
        elif full_ok:
            assert state == "up"
        else:
            assert state == prev  # no threshold reached: the state holds
        prev = state


@given(outcomes, thresholds, thresholds)
def test_probe_is_unknown_until_a_threshold_is_reached(seq, down_after, up_after):
    states = run_probe(seq, Hysteresis(down_after, up_after))
    for i, state in enumerate(states):
        if i + 1 < min(down_after, up_after):
            assert state == "unknown"


site_rounds = st.lists(
    st.tuples(st.booleans(), st.booleans(), st.sampled_from(FAIL_REASONS)), max_size=40
)


@given(site_rounds, thresholds, thresholds, st.booleans())
def test_site_combines_probes_and_events_chain(rounds, down_after, up_after, isolated):
    h = Hysteresis(down_after, up_after)
    sites = {"s": SiteState(probes={"icmp": ProbeState(), "tcp:80": ProbeState()})}
    stamp = Stamp("agent-1", 1000.0, isolated)
    all_events = []
    for ok_icmp, ok_tcp, reason in rounds:
        results = {("s", "icmp"): result(ok_icmp, reason), ("s", "tcp:80"): result(ok_tcp, reason)}
        before = sites["s"].state
        sites, events = apply_results(sites, results, h, stamp)
        probe_states = [p.state for p in sites["s"].probes.values()]
        state = sites["s"].state
        if "down" in probe_states:
            assert state == "down"
        elif all(p == "up" for p in probe_states):
            assert state == "up"
        else:
            assert state == before
        site_events = [e for e in events if e.type == "site"]
        assert len(site_events) == (state != before)
        if site_events:
            e = site_events[0]
            assert (e.old, e.new) == (before, state)
            assert e.reason == (
                reason if state == "down" else "recovered" if before == "down" else "ok"
            )
            assert events[-1] is e  # probe events come before the site's
        all_events.extend(events)
    assert all(e.isolated is isolated and e.agent == "agent-1" for e in all_events)
    for kind, probe in (("site", None), ("probe", "icmp"), ("probe", "tcp:80")):
        chain = [e for e in all_events if e.type == kind and e.probe == probe]
        for a, b in zip([None, *chain], chain, strict=False):
            assert b.old == (a.new if a else "unknown")
            assert b.old != b.new


def test_down_after_and_up_after_exactly():
    h = Hysteresis(down_after=3, up_after=2)
    sites = {"s": SiteState(probes={"icmp": ProbeState()})}
    stamp = Stamp("a", 0.0)
    seen = []
    for ok in [True, True, False, False, False, True, True]:
        sites, events = apply_results(sites, {("s", "icmp"): result(ok)}, h, stamp)
        seen.append((sites["s"].state, [(e.type, e.old, e.new, e.reason) for e in events]))
    assert [s for s, _ in seen] == ["unknown", "up", "up", "up", "down", "down", "up"]
    assert seen[1][1] == [("probe", "unknown", "up", "ok"), ("site", "unknown", "up", "ok")]
    assert seen[4][1] == [("probe", "up", "down", "timeout"), ("site", "up", "down", "timeout")]
    assert seen[6][1] == [
        ("probe", "down", "up", "recovered"),
        ("site", "down", "up", "recovered"),
    ]


def test_results_for_removed_sites_or_probes_are_ignored():
    sites = {"s": SiteState(probes={"icmp": ProbeState()})}
    out, events = apply_results(
        sites,
        {("gone", "icmp"): result(False), ("s", "tcp:1"): result(False)},
        Hysteresis(1, 1),
        Stamp("a", 0.0),
    )
    assert out == sites and events == []


def test_snmp_if_down_fails_the_site_like_any_probe():
    sites = {"r": SiteState(probes={"icmp": ProbeState("up"), "snmp:router": ProbeState("up")})}
    sites = {"r": SiteState("up", sites["r"].probes)}
    out, events = apply_results(
        sites,
        {("r", "icmp"): result(True), ("r", "snmp:router"): result(False, "if_down")},
        Hysteresis(1, 1),
        Stamp("a", 0.0),
    )
    assert out["r"].state == "down"
    assert events[-1].reason == "if_down"


def test_reconcile_keeps_unchanged_adds_and_removes():
    up = ProbeState("up", 0, 5)
    sites = {
        "keep": SiteState("up", {"icmp": up}),
        "gone": SiteState("down", {"icmp": ProbeState("down", 3, 0, "timeout")}),
        "grow": SiteState("up", {"icmp": up}),
    }
    wanted = {"keep": ["icmp"], "grow": ["icmp", "tcp:22"], "new": ["icmp"]}
    out, events = reconcile(sites, wanted, Stamp("a", 5.0))
    assert out["keep"] == sites["keep"]
    assert out["grow"].state == "up"  # a new probe is unknown: the site holds its state
    assert out["grow"].probes["icmp"] == up and out["grow"].probes["tcp:22"] == ProbeState()
    assert out["new"] == SiteState("unknown", {"icmp": ProbeState()})
    assert "gone" not in out
    assert [(e.site, e.old, e.new, e.reason) for e in events] == [
        ("gone", "down", "unknown", "removed")
    ]


def test_reconcile_dropping_the_down_probe_recombines():
    sites = {"s": SiteState("down", {"icmp": ProbeState("up"), "tcp:1": ProbeState("down")})}
    out, events = reconcile(sites, {"s": ["icmp"]}, Stamp("a", 0.0))
    assert out["s"].state == "up"
    assert [(e.old, e.new, e.reason) for e in events] == [("down", "up", "recovered")]


def test_combine_table():
    assert combine([], "unknown") == "unknown"
    assert combine(["up", "down"], "up") == "down"
    assert combine(["up", "unknown"], "down") == "down"
    assert combine(["up", "up"], "down") == "up"


def test_isolation():
    assert not is_isolated({})
    assert not is_isolated({"a": False, "b": True})
    assert is_isolated({"a": False, "b": False})
    stamp = Stamp("a", 1.0)
    assert isolation_event(False, False, stamp) is None
    went = isolation_event(False, True, stamp)
    assert (went.type, went.old, went.new, went.reason, went.isolated) == (
        "agent",
        "connected",
        "isolated",
        "isolated",
        True,
    )
    back = isolation_event(True, False, stamp)
    assert (back.old, back.new, back.reason, back.isolated) == (
        "isolated",
        "connected",
        "recovered",
        False,
    )


def test_sites_in_equal_states_share_one_state_object():
    """Steady sites hold no state object graph each (issue 18: 50,000 sites): equal states are
    one shared object, and a site that steps away gets its own without touching the others."""
    h, stamp = Hysteresis(3, 2), Stamp("a1", 0.0)
    wanted = {f"s{i}": ["icmp"] for i in range(500)}
    states, _ = reconcile({}, wanted, stamp)
    for _ in range(3):
        states, _ = apply_results(states, {(s, "icmp"): result(True) for s in wanted}, h, stamp)
    assert {s.state for s in states.values()} == {"up"}
    assert len({id(s) for s in states.values()}) == 1
    states, events = apply_results(states, {("s7", "icmp"): result(False)}, h, stamp)
    assert (states["s7"].state, states["s7"].probes["icmp"].fails) == ("up", 1) and not events
    assert states["s8"].probes["icmp"] == ProbeState("up", 0, 2, "ok")
    assert len({id(s) for s in states.values()}) == 2
