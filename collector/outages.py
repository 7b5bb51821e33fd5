"""The outage decision: from many agents' site events to per-site state timelines and outages.

Pure functions, no I/O: callers pass the events, the sites and the agents' unreachable periods.
Events are replayed in ``(time, agent, cursor)`` order, so the result never depends on the order
in which the collector happened to pull the agents.

Rules
-----
* An agent votes for a site when its last event for the site said ``up`` or ``down``, that event
  was not recorded while the agent was isolated, and the agent is neither isolated nor unreachable
  from the collector at that time. An unreachable period ends early at the agent's first event
  for the site in it: the agent was alive and observing then (a partition, or a restart). When
  the agent recorded ``observing`` checkpoints in the period, the time after its last event in
  it is unreachable again: nobody vouches for it.
* The site is ``down`` when more than ``quorum`` of the voters say down, ``up`` when some agent
  votes and they do not. With no voter it is ``unknown`` from that moment until a voter exists
  again: an isolated, dead or unreachable agent, or one unsure of the site, is no evidence of
  anything, so that time counts neither up nor down.
* An outage runs from an observed ``down`` to the next observed ``up``. Time without a voter
  inside it (``unknown``) neither ends it nor starts another: no recovery was seen, so it stays
  open (and pages) while nobody can vote, and a site seen down again after the gap is the same
  outage, not a second one. That time is no evidence of down either: an outage's duration
  (:func:`pantau.collector.availability.outage_seconds`) counts only its observed time.
* A down site whose parent is down is ``unreachable``; an outage's cause is ``unreachable`` when
  the parent is down at its start (or within ``parent_grace`` after it), ``unknown`` when the
  parent's state is unknown, else ``down``.
* An outage whose site's own UPS, or the UPS site it names as ``ups``, was on battery at its
  start (the last power evidence within 15 minutes before it says ``on_battery``:
  :mod:`pantau.collector.power`) has cause ``power``: a power cut at the tower, not a link cut.
  A down parent keeps priority (``unreachable``: the cut upstream explains the outage whatever
  the site's UPS says); power evidence beats an unknown parent. So: ``unreachable`` >
  ``power`` > ``unknown`` > ``down``.
* A new down period while the site is flapping (more than ``flap_threshold`` transitions within
  ``flap_window``) joins the previous outage, flagged ``flapping``, instead of opening another.
  Transitions are changes between observed ``up`` and ``down``; going to or from ``unknown`` is
  none, and a down period never joins across ``unknown`` time.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from pantau.collector.availability import unknown_spans
from pantau.collector.power import WINDOW, Evidence, evidence_by_site, on_battery_at
from pantau.collector.votes import (
    DOWN,
    UNKNOWN,
    UNREACHABLE,
    UP,
    SiteHistory,
    Timeline,
    flag_at,
    isolation_timelines,
    site_history,
    state_at,
    vouched,
)
from pantau.events import Event

__all__ = [
    "CAUSES",
    "DOWN",
    "POWER",
    "UNKNOWN",
    "UNREACHABLE",
    "UP",
    "Decision",
    "Outage",
    "OutageParams",
    "SiteRef",
    "Timeline",
    "decide",
    "isolation_timelines",
    "state_at",
]

#: The cause of an outage whose site's UPS (its own or its ``ups`` site's) was on battery at its
#: start.
POWER = "power"
CAUSES = (DOWN, UNREACHABLE, POWER, UNKNOWN)


@dataclasses.dataclass(frozen=True, slots=True)
class OutageParams:
    """Tuning of the decision; ``quorum``, ``flap_*`` come from ``[collector]``."""

    quorum: float = 0.5
    flap_window: float = 3600.0
    flap_threshold: int = 6
    parent_grace: float = 120.0
    power_window: float = WINDOW


@dataclasses.dataclass(frozen=True, slots=True)
class SiteRef:
    """What the decision needs to know of an inventory site."""

    id: str
    parent: str | None = None
    district: str | None = None
    #: The site whose UPS reading counts as this site's power evidence (inventory ``ups``).
    ups: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Outage:
    """One outage of one site; ``end`` is None while it is open."""

    site: str
    district: str | None
    start: float
    end: float | None
    cause: str
    agents: tuple[str, ...]
    hop: str | None
    flapping: bool = False
    transitions: int = 1
    #: Seconds of it when no agent could vote (``unknown``); while open, up to its last change.
    unobserved: float = 0.0

    def duration(self, now: float) -> float:
        """Observed seconds from start to end, or to ``now`` while open (without ``unobserved``).

        While open and nobody can vote this runs on with ``now``: use
        :func:`pantau.collector.availability.outage_seconds` over the site's timeline then.
        """
        return (self.end if self.end is not None else now) - self.start - self.unobserved


#: A state timeline: ``(time, state)`` changes in time order; before the first, ``unknown``.
def cause(
    parent: Timeline | None,
    power: Evidence,
    start: float,
    end: float | None,
    params: OutageParams,
    ups: Evidence = (),
) -> str:
    """An outage's cause from its parent's timeline, its site's power evidence and that of its
    ``ups`` site (module docstring): ``unreachable`` > ``power`` > ``unknown`` > ``down``."""
    if parent is not None:
        if state_at(parent, start) == DOWN:
            return UNREACHABLE
        grace = params.parent_grace
        until = start + grace if end is None else min(end, start + grace)
        if any(start < t <= until and s == DOWN for t, s in parent):
            return UNREACHABLE
    if on_battery_at(power, start, params.power_window, ups):
        return POWER
    return UNKNOWN if parent is not None and state_at(parent, start) == UNKNOWN else DOWN


def _observed_changes(timeline: Timeline) -> list[float]:
    """When the observed state changed between ``up`` and ``down`` (``unknown`` is skipped)."""
    changes: list[float] = []
    last: str | None = None
    for t, s in timeline:
        if s == UNKNOWN:
            continue
        if last is not None and s != last:
            changes.append(t)
        last = s
    return changes


def _down_runs(timeline: Timeline) -> list[tuple[float, float | None, list[float]]]:
    """``(start, end, down starts)``: from an observed down to the next observed up, so time
    without a voter inside (``unknown``) neither ends the run nor starts another."""
    runs: list[tuple[float, float | None, list[float]]] = []
    downs: list[float] = []
    for t, s in timeline:
        if s == DOWN:
            downs.append(t)
        elif s == UP and downs:
            runs.append((downs[0], t, downs))
            downs = []
    if downs:
        runs.append((downs[0], None, downs))
    return runs


def _outages(
    site: SiteRef,
    history: SiteHistory,
    parent: Timeline | None,
    power: tuple[Evidence, Evidence],
    params: OutageParams,
) -> list[Outage]:
    own, ups = power
    timeline = history.timeline
    change_times = _observed_changes(timeline)
    out: list[Outage] = []
    for start, end, downs in _down_runs(timeline):
        witnessed = [history.seen.get(t, (frozenset(), None)) for t in downs]
        agents = sorted(set().union(*(who for who, _ in witnessed)))
        hops = [hop for _, hop in witnessed if hop]
        upto = end if end is not None else timeline[-1][0]
        unobserved = sum(b - a for a, b in unknown_spans(timeline, start, upto))
        recent = bisect.bisect_right(change_times, start) - bisect.bisect_left(
            change_times, start - params.flap_window
        )
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.end is not None
            and recent > params.flap_threshold
            and prev.end >= start - params.flap_window
            and not any(prev.end <= t < start and s == UNKNOWN for t, s in timeline)
        ):
            # The merged outage is judged as a whole: its cause follows from its own start and
            # its new end, as for any other outage.
            out[-1] = dataclasses.replace(
                prev,
                end=end,
                cause=cause(parent, own, prev.start, end, params, ups),
                agents=tuple(sorted({*prev.agents, *agents})),
                hop=hops[-1] if hops else prev.hop,
                flapping=True,
                transitions=prev.transitions + 1,
                unobserved=prev.unobserved + unobserved,
            )
            continue
        out.append(
            Outage(
                site.id,
                site.district,
                start,
                end,
                cause(parent, own, start, end, params, ups),
                tuple(agents),
                hops[-1] if hops else None,
                unobserved=unobserved,
            )
        )
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """Per site: decided timeline (``up``/``down``/``unknown``) and outages, in start order."""

    timelines: Mapping[str, Timeline]
    outages: Mapping[str, tuple[Outage, ...]]
    parents: Mapping[str, str | None]
    isolation: Mapping[str, list[tuple[float, bool]]] = dataclasses.field(default_factory=dict)

    def isolated_at(self, agent: str, t: float) -> bool:
        """Whether ``agent`` declared itself isolated at ``t``."""
        return flag_at(list(self.isolation.get(agent, ())), t)

    def label_at(self, site: str, t: float) -> str:
        """``up``, ``down``, ``unreachable`` (down under a down parent) or ``unknown`` at ``t``."""
        state = state_at(self.timelines.get(site, ()), t)
        parent = self.parents.get(site)
        if state == DOWN and parent and state_at(self.timelines.get(parent, ()), t) == DOWN:
            return UNREACHABLE
        return state


def decide(
    events: Iterable[Event],
    sites: Iterable[SiteRef],
    params: OutageParams,
    agent_down: Mapping[str, Sequence[tuple[float, float | None]]] | None = None,
) -> Decision:
    """Decide every site's state timeline and outages from the agents' events.

    Parameters
    ----------
    events
        Site events (and ``agent`` isolation events) from every agent, in any order; of
        ``probe`` events only power evidence (``on_battery``/``on_mains``) is read. Events for
        sites not in ``sites`` are ignored.
    sites
        The sites to decide, with their parent, district and UPS site. A parent missing from
        ``sites`` counts as unknown; a UPS site missing from it gives no evidence.
    params
        Quorum, flapping and parent grace.
    agent_down
        Per agent, ``(start, end)`` periods (end None = still) when the collector could not reach
        it; it does not vote then.

    Returns
    -------
    Decision
        The same for any order of ``events``.
    """
    events = list(events)
    isolation = isolation_timelines(events)
    site_list = list(sites)
    known = {s.id for s in site_list}
    per_site: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if e.type == "site" and e.site in known:
            per_site[e.site].append(e)
    down = vouched(events, agent_down or {})
    histories = {
        s.id: site_history(per_site[s.id], isolation, down, params.quorum) for s in site_list
    }
    timelines = {sid: h.timeline for sid, h in histories.items()}
    power = evidence_by_site(e for e in events if e.site in known)
    outages = {
        s.id: tuple(
            _outages(
                s,
                histories[s.id],
                timelines.get(s.parent, ()) if s.parent else None,
                (power.get(s.id, ()), power.get(s.ups, ()) if s.ups else ()),
                params,
            )
        )
        for s in site_list
    }
    return Decision(timelines, outages, {s.id: s.parent for s in site_list}, isolation)
