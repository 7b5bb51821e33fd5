"""What the event writer drops when the log cannot be written: probe detail first, then site
chains merged, then the oldest; every drop counted by reason (pure functions)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pantau.agent.runtime.recorder import coalesce, shed
from pantau.events import Event


def site(s: str, old: str, new: str, t: float) -> Event:
    return Event("a1", "site", s, None, old, new, t, "ok" if new == "up" else "timeout")


def probe(s: str, old: str, new: str, t: float) -> Event:
    return Event("a1", "probe", s, "icmp", old, new, t, "ok" if new == "up" else "timeout")


def test_under_the_limit_nothing_is_dropped() -> None:
    events = [probe("a", "unknown", "up", 1), site("a", "unknown", "up", 1)]
    assert shed(events, 2) == (events, {})


def test_probe_detail_goes_first_oldest_first() -> None:
    events = [
        probe("a", "up", "down", 1),
        site("a", "up", "down", 1),
        probe("b", "up", "down", 2),
        site("b", "up", "down", 2),
        probe("c", "up", "down", 3),
    ]
    kept, dropped = shed(events, 3)
    assert kept == [events[1], events[3], events[4]]
    assert dropped == {"probe_detail": 2}


def test_site_chains_merge_before_anything_is_lost_outright() -> None:
    events = [
        site("a", "up", "down", 1),
        site("b", "up", "down", 1),
        site("a", "down", "up", 2),
        site("b", "down", "up", 2),
        site("b", "up", "down", 3),
    ]
    kept, dropped = shed(events, 2)
    # a went down and up again (nothing left to say); b: up -> down at its last time.
    assert kept == [site("b", "up", "down", 3)]
    assert dropped == {"coalesced": 4}


def test_overflow_drops_the_oldest_last() -> None:
    events = [site(s, "up", "down", i) for i, s in enumerate("abcd")]
    kept, dropped = shed(events, 2)
    assert kept == events[2:]
    assert dropped == {"overflow": 2}


chains = st.lists(
    st.tuples(st.sampled_from("abc"), st.booleans(), st.sampled_from(["up", "down"])), max_size=40
)


@given(chains, st.integers(min_value=1, max_value=30))
def test_shed_keeps_every_site_chain_unbroken_or_counts_the_break(steps, limit) -> None:
    """Whatever the limit: kept + dropped == given, and each kept site's chain follows on
    from its previous state unless events were dropped as plain overflow."""
    state: dict[str, str] = {}
    events = []
    for i, (s, is_probe, new) in enumerate(steps):
        if is_probe:
            events.append(probe(s, "unknown", new, i))
            continue
        old = state.get(s, "unknown")
        if old != new:
            events.append(site(s, old, new, i))
            state[s] = new
    kept, dropped = shed(events, limit)
    assert len(kept) <= limit or not dropped
    assert len(kept) + sum(dropped.values()) == len(events)
    if "overflow" not in dropped:
        seen: dict[str, str] = {}
        for e in kept:
            if e.type == "site":
                assert e.old == seen.get(e.site, "unknown")
                seen[e.site] = e.new
        assert seen == state  # every site ends where it really is


def test_coalesce_keeps_other_events_in_place() -> None:
    agent = Event("a1", "agent", None, None, "connected", "isolated", 1, "isolated", True)
    events = [site("a", "up", "down", 1), agent, site("a", "down", "up", 2)]
    assert coalesce(events) == [agent]
