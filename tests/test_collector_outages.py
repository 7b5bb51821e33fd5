"""The pure outage decision: quorum, isolation, parents, flapping, availability; property-tested."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pantau.collector.availability import (
    Maintenance,
    availability,
    outage_seconds,
    timeline_availability,
)
from pantau.collector.outages import (
    DOWN,
    UNKNOWN,
    UNREACHABLE,
    UP,
    OutageParams,
    SiteRef,
    decide,
    state_at,
)
from pantau.events import Event

P = OutageParams(quorum=0.5, flap_window=600, flap_threshold=4, parent_grace=30)
SITES = [SiteRef("core", None, "d1"), SiteRef("office", "core", "d1"), SiteRef("bts", None, "d2")]


def ev(agent, site, old, new, t, cursor, isolated=False, hop=None, type_="site"):
    return Event(agent, type_, site, None, old, new, float(t), "timeout", isolated, hop, cursor)


def iso(agent, new, t, cursor):
    old = "connected" if new == "isolated" else "isolated"
    return Event(
        agent, "agent", None, None, old, new, float(t), "isolated", new == "isolated", None, cursor
    )


def test_one_agent_down_then_up_is_one_outage_with_hop():
    events = [
        ev("a", "bts", "unknown", "up", 0, 1),
        ev("a", "bts", "up", "down", 100, 2, hop="10.0.0.1"),
        ev("a", "bts", "down", "up", 250, 3),
    ]
    d = decide(events, SITES, P)
    (o,) = d.outages["bts"]
    assert (o.start, o.end, o.cause, o.agents, o.hop) == (100, 250, DOWN, ("a",), "10.0.0.1")
    assert o.duration(now=1000) == 150
    assert d.label_at("bts", 120) == DOWN and d.label_at("bts", 300) == UP


def test_one_agent_of_three_seeing_down_is_no_outage_two_are():
    base = [ev(a, "bts", "unknown", "up", 0, 1) for a in "abc"]
    one = [*base, ev("a", "bts", "up", "down", 100, 2)]
    assert decide(one, SITES, P).outages["bts"] == ()
    two = [*one, ev("b", "bts", "up", "down", 130, 2)]
    (o,) = decide(two, SITES, P).outages["bts"]
    assert (o.start, o.end, o.agents) == (130, None, ("a", "b"))


def test_isolated_agent_never_opens_and_does_not_vote():
    events = [
        ev("a", "bts", "unknown", "up", 0, 1),
        ev("b", "bts", "unknown", "up", 0, 1),
        iso("a", "isolated", 50, 2),
        ev("a", "bts", "up", "down", 60, 3, isolated=True),
    ]
    assert decide(events, SITES, P).outages["bts"] == ()
    # b alone still votes up; once a reconnects its down (recorded while isolated) stays void
    events += [iso("a", "connected", 200, 4), ev("b", "bts", "up", "down", 300, 2)]
    (o,) = decide(events, SITES, P).outages["bts"]
    assert (o.start, o.agents) == (300, ("b",))


def test_isolation_flag_on_the_event_alone_is_enough():
    events = [
        ev("a", "bts", "unknown", "up", 0, 1),
        ev("a", "bts", "up", "down", 60, 2, isolated=True),
    ]
    d = decide(events, SITES, P)
    # its only agent is isolated from 60 on: no evidence either way, so no longer up
    assert d.outages["bts"] == () and d.label_at("bts", 30) == UP
    assert d.label_at("bts", 100) == UNKNOWN


def test_unreachable_agent_does_not_vote_and_a_lone_one_leaves_the_outage_open():
    events = [
        ev("a", "bts", "unknown", "up", 0, 1),
        ev("b", "bts", "unknown", "up", 0, 1),
        ev("a", "bts", "up", "down", 100, 2),
        ev("b", "bts", "up", "down", 100, 2),
        ev("b", "bts", "down", "up", 400, 3),
    ]
    # a died at 200: from then b alone decides, so the outage ends when b sees the site back
    d = decide(events, SITES, P, agent_down={"a": [(200, None)]})
    (o,) = d.outages["bts"]
    assert (o.start, o.end) == (100, 400)
    # without that knowledge a's stale "down" keeps it half down: not more than the quorum
    (o,) = decide(events, SITES, P).outages["bts"]
    assert (o.start, o.end) == (100, 400)
    # a single dead agent: no voter, so the state is unknown, and the outage stays open rather
    # than closing on silence (no recovery was seen)
    solo = [e for e in events if e.agent == "a"]
    d = decide(solo, SITES, P, agent_down={"a": [(200, None)]})
    (o,) = d.outages["bts"]
    assert o.end is None
    assert d.timelines["bts"] == ((0, UP), (100, DOWN), (200, UNKNOWN))


def test_an_event_during_an_unreachable_period_proves_the_agent_alive():
    events = [
        ev("a", "bts", "unknown", "up", 0, 1),
        ev("a", "bts", "up", "down", 100, 2),
        ev("a", "bts", "down", "up", 250, 3),  # recorded while the collector could not reach a
    ]
    (o,) = decide(events, SITES, P, agent_down={"a": [(200, 300)]}).outages["bts"]
    assert (o.start, o.end) == (100, 250)
    (o,) = decide(events[:2], SITES, P, agent_down={"a": [(200, 300)]}).outages["bts"]
    assert o.end is None


def beat(agent, t, cursor, isolated=False):
    """An ``observing`` checkpoint (an agent event changing nothing)."""
    state = "isolated" if isolated else "connected"
    return Event(
        agent, "agent", None, None, state, state, float(t), "observing", isolated, None, cursor
    )


@pytest.mark.parametrize(
    ("beats", "expected"),
    [
        # A partition 200..500 with checkpoints at 260, 320, 380: observed from the first to the
        # last; before the first and after the last nobody vouches (it may have died at 381).
        (
            [260, 320, 380],
            (
                (0, UP),
                (200, UNKNOWN),
                (260, UP),
                (math.nextafter(380, math.inf), UNKNOWN),
                (500, UP),
            ),
        ),
        # One checkpoint: observed at that instant only.
        (
            [260],
            (
                (0, UP),
                (200, UNKNOWN),
                (260, UP),
                (math.nextafter(260, math.inf), UNKNOWN),
                (500, UP),
            ),
        ),
        # None (heartbeat off): the whole partition unknown.
        ([], ((0, UP), (200, UNKNOWN), (500, UP))),
    ],
    ids=["three-checkpoints", "one-checkpoint", "none"],
)
def test_checkpoints_vouch_for_a_partition_between_the_first_and_the_last(beats, expected):
    events = [ev("a", "bts", "unknown", "up", 0, 1)]
    events += [beat("a", t, i + 2) for i, t in enumerate(beats)]
    d = decide(events, SITES, P, agent_down={"a": [(200, 500)]})
    assert d.timelines["bts"] == expected
    a = availability(d, SITES, 0, 600)[0]["bts"]
    observed = beats[-1] - beats[0] if beats else 0
    assert a.unknown_seconds == pytest.approx(300 - observed)
    assert a.up_seconds == pytest.approx(300 + observed)


def test_a_change_after_the_last_checkpoint_extends_what_is_vouched_for():
    events = [ev("a", "bts", "unknown", "up", 0, 1), beat("a", 260, 2)]
    events.append(ev("a", "bts", "up", "down", 300, 3))  # seen down at 300, in the partition
    d = decide(events, SITES, P, agent_down={"a": [(200, 500)]})
    after = math.nextafter(300, math.inf)
    assert d.timelines["bts"] == (
        (0, UP),
        (200, UNKNOWN),
        (260, UP),
        (300, DOWN),
        (after, UNKNOWN),
        (500, DOWN),
    )
    (o,) = d.outages["bts"]
    assert o.start == 300 and o.end is None  # the outage stays open through the unknown tail


def test_no_voter_is_unknown_until_one_votes_again_and_counts_neither_way():
    events = [ev("a", "bts", "unknown", "up", 0, 1), ev("b", "bts", "unknown", "up", 0, 1)]
    down = {"a": [(200, 300)], "b": [(250, 400)]}
    d = decide(events, SITES, P, agent_down=down)
    # one of two gone changes nothing; both gone is no evidence; a back is a voter again
    assert d.timelines["bts"] == ((0, UP), (250, UNKNOWN), (300, UP))
    a = availability(d, SITES, 0, 500)[0]["bts"]
    assert (a.up_seconds, a.down_seconds, a.unknown_seconds) == (450, 0, 50)


@pytest.mark.parametrize(
    ("blocked", "isolated_events"),
    [
        pytest.param({"a": [(200, 300)]}, False, id="agent-unreachable"),
        pytest.param({}, True, id="agent-isolated"),
    ],
)
def test_an_outage_runs_through_a_gap_without_voter_which_is_not_its_duration(
    blocked, isolated_events
):
    events = [ev("a", "bts", "unknown", "up", 0, 1), ev("a", "bts", "up", "down", 100, 2)]
    if isolated_events:
        events += [iso("a", "isolated", 200, 3), iso("a", "connected", 300, 4)]
    d = decide(events, SITES, P, agent_down=blocked)
    # seen down again after the gap: the same outage, still open, not a second one
    (o,) = d.outages["bts"]
    assert (o.start, o.end, o.agents) == (100, None, ("a",))
    assert d.label_at("bts", 250) == UNKNOWN and d.label_at("bts", 350) == DOWN
    assert outage_seconds(d.timelines["bts"], o.start, 400) == (200, 100)
    assert o.unobserved == 100 and o.duration(now=400) == 200
    # seen up after another gap: it ends at that sight; its duration is only the observed part
    events += [ev("a", "bts", "down", "up", 500, 9)]
    more = {"a": [*blocked.get("a", ()), (450, 500)]}
    d = decide(events, SITES, P, agent_down=more)
    (o,) = d.outages["bts"]
    assert (o.start, o.end) == (100, 500)
    assert outage_seconds(d.timelines["bts"], o.start, o.end) == (100 + 150, 100 + 50)
    assert (o.duration(now=999), o.unobserved) == (100 + 150, 100 + 50)
    a = availability(d, SITES, 0, 600)[0]["bts"]
    assert (a.up_seconds, a.down_seconds, a.unknown_seconds) == (200, 250, 150)


def test_gaps_without_voter_are_no_flapping():
    events = [ev("a", "bts", "unknown", "up", 0, 1), ev("a", "bts", "up", "down", 100, 2)]
    # the collector loses the agent ten times within the flap window while the site is down
    bounces = [(110 + 20 * i, 120 + 20 * i) for i in range(10)]
    d = decide(events, SITES, P, agent_down={"a": bounces})
    (o,) = d.outages["bts"]
    assert (o.start, o.end, o.flapping, o.transitions) == (100, None, False, 1)
    assert outage_seconds(d.timelines["bts"], 100, 400) == (200, 100)


def test_child_of_down_parent_is_unreachable_and_cause_says_so():
    events = [
        ev("a", "core", "unknown", "up", 0, 1),
        ev("a", "office", "unknown", "up", 0, 2),
        ev("a", "core", "up", "down", 100, 3),
        ev("a", "office", "up", "down", 110, 4),
        ev("a", "core", "down", "up", 500, 5),
        ev("a", "office", "down", "up", 505, 6),
    ]
    d = decide(events, SITES, P)
    assert d.label_at("office", 200) == UNREACHABLE
    assert [o.cause for o in d.outages["office"]] == [UNREACHABLE]
    assert [o.cause for o in d.outages["core"]] == [DOWN]
    # the child noticed first, the parent within the grace: still the parent's fault
    early = [*events[:2], ev("a", "office", "up", "down", 90, 7), *events[2:3]]
    assert [o.cause for o in decide(early, SITES, P).outages["office"]] == [UNREACHABLE]


def test_child_down_alone_and_parent_unknown():
    events = [
        ev("a", "core", "unknown", "up", 0, 1),
        ev("a", "office", "unknown", "up", 0, 2),
        ev("a", "office", "up", "down", 100, 3),
    ]
    assert [o.cause for o in decide(events, SITES, P).outages["office"]] == [DOWN]
    no_parent_data = [events[1], events[2]]
    assert [o.cause for o in decide(no_parent_data, SITES, P).outages["office"]] == ["unknown"]


def test_flapping_is_one_flagged_outage_not_many():
    events, c = [ev("a", "bts", "unknown", "up", 0, 1)], 1
    for i in range(6):  # down/up every 20 s: 12 transitions within the 600 s window
        events += [
            ev("a", "bts", "up", "down", 100 + 40 * i, c + 1),
            ev("a", "bts", "down", "up", 120 + 40 * i, c + 2),
        ]
        c += 2
    outs = decide(events, SITES, P).outages["bts"]
    assert len(outs) < 6
    assert outs[-1].flapping and outs[-1].end == 320
    assert sum(o.transitions for o in outs) == 6


def test_availability_excludes_maintenance_and_unknown():
    timeline = ((0.0, UP), (100.0, DOWN), (200.0, UP), (400.0, "unknown"))
    a = timeline_availability(timeline, 0, 500)
    assert (a.up_seconds, a.down_seconds) == (300, 100) and a.ratio == 0.75
    m = timeline_availability(timeline, 0, 500, [(50, 150), (120, 180)])
    assert (m.up_seconds, m.down_seconds) == (250, 20)  # windows merge to 50..180
    events = [
        ev("a", "core", "unknown", "up", 0, 1),
        ev("a", "office", "unknown", "up", 0, 2),
        ev("a", "office", "up", "down", 100, 3),
        ev("a", "office", "down", "up", 200, 4),
    ]
    d = decide(events, SITES, P)
    sites, districts = availability(d, SITES, 0, 400, [Maintenance(0, 150, district="d1")])
    assert sites["office"].down_seconds == 50 and sites["bts"].ratio is None
    assert (districts["d1"].up_seconds, districts["d1"].down_seconds) == (250 + 200, 50)
    assert districts["d2"].ratio is None


# -- properties ------------------------------------------------------------------------------

AGENTS = ("a", "b", "c")
SITE_IDS = ("core", "office", "bts")


@st.composite
def agent_logs(draw):
    """Per agent, a log of site and isolation events with increasing cursor and time."""
    logs = {}
    for agent in AGENTS:
        t, cursor, log = 0.0, 0, []
        state = dict.fromkeys(SITE_IDS, "unknown")
        isolated = False
        for _ in range(draw(st.integers(0, 12))):
            t += draw(st.sampled_from([0.0, 5.0, 30.0, 200.0]))
            cursor += 1
            if draw(st.integers(0, 5)) == 0:
                isolated = not isolated
                log.append(iso(agent, "isolated" if isolated else "connected", t, cursor))
                continue
            site = draw(st.sampled_from(SITE_IDS))
            new = draw(st.sampled_from([s for s in ("up", "down", "unknown") if s != state[site]]))
            log.append(ev(agent, site, state[site], new, t, cursor, isolated=isolated))
            state[site] = new
        logs[agent] = log
    return logs


def _interleave(logs, choices):
    queues = {a: list(log) for a, log in logs.items()}
    out = []
    for pick in choices:
        ready = [a for a in AGENTS if queues[a]]
        if not ready:
            break
        out.append(queues[ready[pick % len(ready)]].pop(0))
    for a in AGENTS:
        out.extend(queues[a])
    return out


@settings(max_examples=200, deadline=None)
@given(agent_logs(), st.lists(st.integers(0, 2), max_size=60), st.lists(st.integers(0, 2)))
def test_any_interleaving_gives_the_same_outages(logs, first, second):
    one = decide(_interleave(logs, first), SITES, P)
    two = decide(_interleave(logs, second), SITES, P)
    assert one.outages == two.outages and one.timelines == two.timelines


@settings(max_examples=200, deadline=None)
@given(agent_logs(), st.sampled_from(AGENTS))
def test_an_agent_isolated_throughout_changes_nothing(logs, agent):
    tainted = [
        ev(e.agent, e.site, e.old, e.new, e.time, e.cursor, isolated=True)
        if e.type == "site"
        else e
        for e in logs[agent]
    ]
    others = [e for a, log in logs.items() if a != agent for e in log]
    assert decide(others + tainted, SITES, P).outages == decide(others, SITES, P).outages


@settings(max_examples=200, deadline=None)
@given(agent_logs())
def test_parent_rule_and_isolated_witnesses(logs):
    events = [e for log in logs.values() for e in log]
    d = decide(events, SITES, P)
    core = d.timelines["core"]
    for o in d.outages["office"]:
        until = o.start + P.parent_grace if o.end is None else min(o.end, o.start + P.parent_grace)
        parent_down = state_at(core, o.start) == DOWN or any(
            o.start < t <= until and s == DOWN for t, s in core
        )
        assert (o.cause == UNREACHABLE) == parent_down
        if o.cause == DOWN:
            assert state_at(core, o.start) == UP
    for t in sorted({e.time for e in events}):
        both_down = state_at(d.timelines["office"], t) == DOWN and state_at(core, t) == DOWN
        assert (d.label_at("office", t) == UNREACHABLE) == both_down
    for outs in d.outages.values():
        for o in outs:
            # every witness had a "down" for that site not recorded while isolated
            assert o.agents
            for a in o.agents:
                assert any(
                    e.agent == a and e.site == o.site and e.new == DOWN and not e.isolated
                    for e in logs[a]
                )


@pytest.mark.parametrize(
    "quorum,downs,expected",
    [(0.5, 1, 0), (0.5, 2, 1), (0.3, 1, 1)],
    ids=["1of3-majority", "2of3-majority", "1of3-low-quorum"],
)
def test_quorum_is_configurable(quorum, downs, expected):
    events = [ev(a, "bts", "unknown", "up", 0, 1) for a in AGENTS]
    events += [ev(a, "bts", "up", "down", 100, 2) for a in AGENTS[:downs]]
    params = OutageParams(quorum=quorum)
    assert len(decide(events, SITES, params).outages["bts"]) == expected


# -- the incremental path: store + derivation of changed sites only ---------------------------


@pytest.fixture
def memory_store():
    from pantau.collector.store import open_store

    store = open_store("sqlite://")
    yield store
    store.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(agent_logs(), st.lists(st.integers(0, 2), max_size=60), st.integers(1, 4))
def test_incremental_derivation_through_the_store_matches_one_replay(
    memory_store, logs, choices, page
):
    """Pages pulled in any order, derived after every page, end where one replay of all ends."""
    from pantau.collector.schema import metadata
    from pantau.collector.service import refresh
    from pantau.collector.store import Store

    with memory_store.engine.begin() as conn:  # empty tables for every example
        for table in metadata.sorted_tables:
            conn.execute(table.delete())
    store = Store(memory_store.engine)
    refs = {s.id: s for s in SITES}
    pages = {
        a: [(a, log[i : i + page]) for i in range(0, len(log), page)] for a, log in logs.items()
    }
    for agent, batch in _interleave(pages, choices):
        store.ingest(agent, agent, "L", batch, batch[-1].cursor, now=0)
        refresh(store, refs, P, now=0)
    expected = decide([e for log in logs.values() for e in log], SITES, P)
    got = {s: tuple(store.outages(site=s))[::-1] for s in refs}
    assert got == {s: expected.outages[s] for s in refs}


def test_a_merged_flapping_outage_takes_its_cause_from_its_whole_extent():
    # Found by hypothesis: the first down period ends before the parent goes down, later periods
    # merge into it (flapping); the parent goes down within parent_grace of the merged outage's
    # start, so the whole outage is `unreachable`, as the rule says for any outage.
    events = [ev("a", "core", "unknown", "up", 0, 1), ev("a", "office", "unknown", "up", 0, 2)]
    t, cursor, state = 10, 3, "up"
    for _ in range(8):  # office flaps: 8 transitions in 8 s, over flap_threshold=4
        new = "down" if state == "up" else "up"
        events.append(ev("a", "office", state, new, t, cursor))
        t, cursor, state = t + 1, cursor + 1, new
    events.append(ev("a", "core", "up", "down", 15, cursor))
    first, merged = decide(events, SITES, P).outages["office"]
    assert (first.start, first.end, first.cause, first.flapping) == (10, 11, DOWN, False)
    # Its first period ended at 13, before the parent went down at 15; merged, it ends at 17.
    assert (merged.start, merged.end, merged.flapping) == (12, 17, True)
    assert merged.cause == UNREACHABLE


@settings(max_examples=200, deadline=None)
@given(agent_logs())
def test_with_no_agent_able_to_vote_nothing_is_claimed(logs):
    events = [e for log in logs.values() for e in log]
    last = max((e.time for e in events), default=0.0)
    gone = {a: [(last + 1, None)] for a in AGENTS}  # every agent unreachable after its last word
    before, after = decide(events, SITES, P), decide(events, SITES, P, agent_down=gone)
    for site in SITE_IDS:
        assert state_at(after.timelines[site], last + 2) == UNKNOWN
        assert after.timelines[site][: len(before.timelines[site])] == before.timelines[site]
        # no recovery was seen: every outage still open stays open, none ends on silence
        assert [o.end for o in after.outages[site]] == [o.end for o in before.outages[site]]
        for o in after.outages[site]:
            if o.end is None:  # the time nobody could see is not part of its duration
                observed, unobserved = outage_seconds(after.timelines[site], o.start, last + 10)
                assert observed <= last + 1 - o.start and unobserved >= 9
