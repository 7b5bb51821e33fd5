"""Replaying one site's events from every agent into its decided state timeline. Pure.

Votes are counted incrementally, so a replay costs O(events); the rules are in
:mod:`pantau.collector.outages`.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from pantau.events import Event

UP, DOWN, UNKNOWN, UNREACHABLE = "up", "down", "unknown", "unreachable"

Timeline = tuple[tuple[float, str], ...]


def state_at(timeline: Timeline, t: float) -> str:
    """The state a timeline holds at time ``t`` (changes at ``t`` included)."""
    i = bisect.bisect_right(timeline, (t, "~"))
    return timeline[i - 1][1] if i else UNKNOWN


def _flags(events: Iterable[tuple[float, int, bool]]) -> list[tuple[float, bool]]:
    """A boolean timeline from ``(time, cursor, value)`` items, in replay order."""
    return [(t, v) for t, _, v in sorted(events)]


def flag_at(changes: list[tuple[float, bool]], t: float) -> bool:
    """The value a boolean timeline holds at ``t``."""
    value = False
    for when, v in changes:
        if when > t:
            break
        value = v
    return value


def _down_at(periods: Sequence[tuple[float, float | None]], t: float) -> bool:
    return any(start <= t and (end is None or t < end) for start, end in periods)


@dataclasses.dataclass(frozen=True, slots=True)
class _Vote:
    state: str
    tainted: bool
    hop: str | None
    order: tuple[float, int]


@dataclasses.dataclass(frozen=True, slots=True)
class SiteHistory:
    """A site's decided timeline; per down period (by start), who saw it and the last hop."""

    timeline: Timeline
    seen: Mapping[float, tuple[frozenset[str], str | None]]


class _Tally:
    """The effective votes at one moment, kept incrementally (replays are O(events))."""

    def __init__(self) -> None:
        self.votes: dict[str, _Vote] = {}
        self.effective: dict[str, str] = {}
        self.downs = 0

    def update(self, agent: str, blocked: set[str]) -> None:
        v = self.votes.get(agent)
        counts = v is not None and v.state in (UP, DOWN) and not v.tainted
        old = self.effective.pop(agent, None)
        self.downs -= old == DOWN
        if counts and agent not in blocked:
            assert v is not None
            self.effective[agent] = v.state
            self.downs += v.state == DOWN

    def decide(self, quorum: float) -> str:
        if not self.effective:
            # Nobody can vote (dead, unreachable, isolated or unsure): no evidence either way.
            return UNKNOWN
        return DOWN if self.downs > quorum * len(self.effective) else UP

    def witnesses(self) -> tuple[set[str], str | None]:
        downers = [a for a, s in self.effective.items() if s == DOWN]
        hops = sorted((self.votes[a].order, self.votes[a].hop) for a in downers)
        with_hop = [h for _, h in hops if h]
        return set(downers), with_hop[-1] if with_hop else None


def vouched(
    events: Iterable[Event],
    agent_down: Mapping[str, Sequence[tuple[float, float | None]]],
) -> dict[str, list[tuple[float, float | None]]]:
    """Unreachable periods, with the time after an agent's last event in a period that has one
    of its ``observing`` checkpoints unknown again (a period of its own).

    A checkpoint says the agent was observing at that time; nobody vouches for the time after
    its last event in the period (it may have died then): that part stays a period in which it
    cannot vote. An agent without checkpoints in a period keeps the whole period after its
    first event (:func:`_alive_again`).
    """
    times: dict[str, list[float]] = defaultdict(list)
    beats: dict[str, list[float]] = defaultdict(list)
    for e in events:
        times[e.agent].append(e.time)
        if e.checkpoint:
            beats[e.agent].append(e.time)
    out: dict[str, list[tuple[float, float | None]]] = {}
    for agent, periods in agent_down.items():
        mine, marks = sorted(times.get(agent, ())), sorted(beats.get(agent, ()))
        kept = list(periods)
        for start, end in periods:
            i = bisect.bisect_left(marks, start)
            if i == len(marks) or (end is not None and marks[i] >= end):
                continue  # no checkpoint in this period
            j = bisect.bisect_left(mine, end) if end is not None else len(mine)
            kept.append((math.nextafter(mine[j - 1], math.inf), end))  # after its last event
        out[agent] = sorted(kept, key=lambda p: p[0])
    return out


def _alive_again(
    events: Sequence[Event],
    isolation: Mapping[str, list[tuple[float, bool]]],
    agent_down: Mapping[str, Sequence[tuple[float, float | None]]],
) -> dict[str, list[tuple[float, float | None]]]:
    """Cut each unreachable period at the agent's first event in it (for this site, or an
    isolation change): the agent was alive and observing then, whatever the collector saw."""
    out: dict[str, list[tuple[float, float | None]]] = {}
    for agent, periods in agent_down.items():
        times = sorted(
            [e.time for e in events if e.agent == agent] + [t for t, _ in isolation.get(agent, ())]
        )
        kept = []
        for start, end in periods:
            i = bisect.bisect_left(times, start)
            if i < len(times) and (end is None or times[i] < end):
                end = times[i]
            if end is None or end > start:
                kept.append((start, end))
        out[agent] = kept
    return out


def site_history(
    events: Sequence[Event],
    isolation: Mapping[str, list[tuple[float, bool]]],
    agent_down: Mapping[str, Sequence[tuple[float, float | None]]],
    quorum: float,
) -> SiteHistory:
    """Replay one site's events from every agent into its decided state timeline."""
    agents = {e.agent for e in events}
    agent_down = _alive_again(events, isolation, agent_down)
    watched = sorted(a for a in agents if isolation.get(a) or agent_down.get(a))
    special: set[float] = set()
    for a in watched:
        special.update(t for t, _ in isolation.get(a, ()))
        for start, end in agent_down.get(a, ()):
            special.update((start,) if end is None else (start, end))
    by_time: dict[float, list[Event]] = defaultdict(list)
    for e in sorted(events, key=lambda e: (e.time, e.agent, e.cursor)):
        by_time[e.time].append(e)
    tally, blocked = _Tally(), set[str]()
    state, timeline = UNKNOWN, list[tuple[float, str]]()
    seen: dict[float, tuple[set[str], str | None]] = {}
    current: tuple[set[str], str | None] | None = None
    for t in sorted(special | set(by_time)):
        changed: list[str] = []
        if t in special:
            now_blocked = {
                a
                for a in watched
                if flag_at(isolation.get(a, []), t) or _down_at(agent_down.get(a, ()), t)
            }
            changed.extend(now_blocked ^ blocked)
            blocked = now_blocked
        for e in by_time.get(t, ()):
            tainted = e.isolated or flag_at(isolation.get(e.agent, []), t)
            hop = e.hop if e.new == DOWN else None
            tally.votes[e.agent] = _Vote(e.new, tainted, hop, (e.time, e.cursor))
            changed.append(e.agent)
        for a in changed:
            tally.update(a, blocked)
        new = tally.decide(quorum)
        if new == DOWN and state != DOWN:
            current = seen[t] = tally.witnesses()
        elif new == DOWN and current is not None:
            for a in changed:
                if tally.effective.get(a) == DOWN:
                    current[0].add(a)
                    hop = tally.votes[a].hop
                    current = seen[timeline[-1][0]] = (current[0], hop or current[1])
        if new != state:
            timeline.append((t, new))
            state = new
    return SiteHistory(tuple(timeline), {k: (frozenset(v[0]), v[1]) for k, v in seen.items()})


def isolation_timelines(events: Iterable[Event]) -> dict[str, list[tuple[float, bool]]]:
    """Per agent, when it declared itself isolated or connected (``agent`` events)."""
    raw: dict[str, list[tuple[float, int, bool]]] = defaultdict(list)
    for e in events:
        if e.type == "agent":
            raw[e.agent].append((e.time, e.cursor, e.new == "isolated"))
    return {a: _flags(items) for a, items in raw.items()}
