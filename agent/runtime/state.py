"""Probe and site state with hysteresis: pure functions from results to states and events.

Rules
-----
* Every probe starts ``unknown``. It turns ``down`` after ``down_after`` consecutive failed
  rounds and ``up`` after ``up_after`` consecutive good rounds; one round the other way resets
  the count. ``unknown`` is left the same way (``down_after`` failures or ``up_after`` successes).
* A site combines its probes: it is **down when any of its probes is down** (one dead service
  is an outage for the people who use it; an SNMP probe whose watched interface is down fails
  with reason ``if_down`` and counts like any other probe), **up when all of its probes are
  up**, and otherwise (some probe still unknown, none down) keeps its previous state. A site
  without probes stays ``unknown``.
* The site's event carries the reason of the first down probe (inventory order) when it goes
  down, ``recovered`` when it comes back up after being down, and ``ok`` on its first ``up``.

Nothing here does I/O or reads a clock: callers pass ``now`` and the agent's isolation flag.

States are immutable and made through :func:`probe_state` and :func:`site_state`, which hand
out one shared object per distinct value (issue 18): 50,000 steady single-probe sites then share
one ``SiteState`` and one ``ProbeState`` instead of holding an object graph each.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence

from pantau.agent.probes import ProbeResult
from pantau.events import Event


@dataclasses.dataclass(frozen=True, slots=True)
class Hysteresis:
    """How many consecutive rounds turn a probe down or up."""

    down_after: int
    up_after: int


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeState:
    """A probe's decided state and the run of equal results that leads to the next one."""

    state: str = "unknown"
    fails: int = 0  # consecutive failed rounds so far
    oks: int = 0  # consecutive good rounds so far
    reason: str = "ok"  # reason of the last result


@dataclasses.dataclass(frozen=True, slots=True)
class SiteState:
    """A site's decided state and its probes' states, keyed by probe text (``tcp:443``)."""

    state: str = "unknown"
    probes: Mapping[str, ProbeState] = dataclasses.field(default_factory=dict)


@functools.lru_cache(maxsize=4096)
def probe_state(
    state: str = "unknown", fails: int = 0, oks: int = 0, reason: str = "ok"
) -> ProbeState:
    """The shared :class:`ProbeState` of these values (a few dozen exist at any time)."""
    return ProbeState(state, fails, oks, reason)


@functools.lru_cache(maxsize=4096)
def _shared_site(state: str, probes: tuple[tuple[str, ProbeState], ...]) -> SiteState:
    return SiteState(state, dict(probes))


def site_state(state: str, probes: Mapping[str, ProbeState]) -> SiteState:
    """The :class:`SiteState` of these values, shared by every site with the same probes in
    the same states (never change its ``probes``: it may be another site's too). Sites with
    many distinct probe lists (URLs) just get their own object once the cache is full."""
    return _shared_site(state, tuple(probes.items()))


@dataclasses.dataclass(frozen=True, slots=True)
class Stamp:
    """What every event of one decision shares."""

    agent: str
    now: float
    isolated: bool = False


_UNKNOWN_SITE = SiteState()
_UNKNOWN_PROBE = probe_state()


def step_probe(prev: ProbeState, ok: bool, reason: str, h: Hysteresis) -> ProbeState:
    """The probe's state after one more round's result (``prev`` itself when nothing changed).

    The runs of equal results stop counting at the threshold they lead to (``up_after`` good,
    ``down_after`` failed rounds): counting further changes no decision, and a probe that keeps
    answering keeps its state object, so 10,000 steady sites allocate nothing per round.
    """
    if ok:
        oks, fails = min(prev.oks + 1, h.up_after), 0
        state = "up" if oks >= h.up_after else prev.state
    else:
        oks, fails = 0, min(prev.fails + 1, h.down_after)
        state = "down" if fails >= h.down_after else prev.state
    reason = "ok" if ok else reason
    if (state, fails, oks, reason) == (prev.state, prev.fails, prev.oks, prev.reason):
        return prev
    return probe_state(state, fails, oks, reason)


def combine(probes: Iterable[str], previous: str) -> str:
    """A site's state from its probes' states (see the module docstring)."""
    states = list(probes)
    if "down" in states:
        return "down"
    if states and all(s == "up" for s in states):
        return "up"
    return previous


def _site_reason(site: SiteState, old: str, new: str) -> str:
    if new == "down":
        return next((p.reason for p in site.probes.values() if p.state == "down"), "error")
    return "recovered" if old == "down" else "ok"


def _probe_reason(old: str, new: ProbeState) -> str:
    if new.state == "down":
        return new.reason
    return "recovered" if old == "down" else "ok"


def apply_results(
    sites: Mapping[str, SiteState],
    results: Mapping[tuple[str, str], ProbeResult],
    h: Hysteresis,
    stamp: Stamp,
) -> tuple[dict[str, SiteState], list[Event]]:
    """Fold one round's results into the states; return the new states and their events.

    Results for a site or probe not in ``sites`` (removed while the round ran) are ignored.
    Probe events come before their site's event; sites keep their mapping order.
    """
    out = dict(sites)
    events: list[Event] = []
    # The probes that stepped, by result key: no per-site copy of its probes while the round is
    # folded (issue 18: the first rounds of 50,000 sites step every one of them).
    stepped: dict[tuple[str, str], ProbeState] = {}
    for key, result in results.items():
        site_id, probe = key
        site = sites.get(site_id)
        if site is None or probe not in site.probes:
            continue
        old = site.probes[probe]
        new = step_probe(old, result.ok, result.reason, h)
        if new is old:  # nothing to record, and nothing the site's state could follow
            continue
        stepped[key] = new
        if new.state != old.state:
            events.append(
                _event(
                    stamp,
                    "probe",
                    site_id,
                    probe,
                    old.state,
                    new.state,
                    _probe_reason(old.state, new),
                )
            )
    several: set[str] = set()  # sites of more than one probe already combined
    for site_id, _ in stepped:
        site = sites[site_id]
        if len(site.probes) > 1:
            if site_id in several:
                continue
            several.add(site_id)
        items = tuple((p, stepped.get((site_id, p), st)) for p, st in site.probes.items())
        updated = _shared_site(combine((st.state for _, st in items), site.state), items)
        out[site_id] = updated
        if updated.state != site.state:
            reason = _site_reason(updated, site.state, updated.state)
            events.append(_event(stamp, "site", site_id, None, site.state, updated.state, reason))
    return out, events


def reconcile(
    sites: Mapping[str, SiteState], wanted: Mapping[str, Sequence[str]], stamp: Stamp
) -> tuple[dict[str, SiteState], list[Event]]:
    """Adjust states to a reloaded inventory (``wanted``: site id -> its probes' text).

    Unchanged sites keep their state; new sites and new probes start unknown; probes dropped
    from a site are forgotten (the site's state is recombined from the rest); removed sites
    get a ``removed`` site event (``old`` their state, ``new`` unknown) and are forgotten.
    """
    out: dict[str, SiteState] = {}
    events: list[Event] = []
    for site_id, probe_names in wanted.items():
        site = sites.get(site_id, _UNKNOWN_SITE)
        probes = {p: site.probes.get(p, _UNKNOWN_PROBE) for p in probe_names}
        state = site.state
        if set(probes) != set(site.probes):
            state = combine((p.state for p in probes.values()), site.state)
            if state != site.state:
                reason = _site_reason(SiteState(state, probes), site.state, state)
                events.append(_event(stamp, "site", site_id, None, site.state, state, reason))
        out[site_id] = site_state(state, probes)
    for site_id, site in sites.items():
        if site_id not in wanted:
            events.append(_event(stamp, "site", site_id, None, site.state, "unknown", "removed"))
    return out, events


def _event(
    stamp: Stamp, type_: str, site: str, probe: str | None, old: str, new: str, reason: str
) -> Event:
    return Event(
        agent=stamp.agent,
        type=type_,  # type: ignore[arg-type]
        site=site,
        probe=probe,
        old=old,
        new=new,
        time=stamp.now,
        reason=reason,
        isolated=stamp.isolated,
    )


def is_isolated(canaries: Mapping[str, bool]) -> bool:
    """Whether the agent is cut off: it has canaries and none of them answered this round."""
    return bool(canaries) and not any(canaries.values())


def isolation_event(was: bool, now_isolated: bool, stamp: Stamp) -> Event | None:
    """The ``agent`` event of a change in isolation, or None when nothing changed."""
    if was == now_isolated:
        return None
    return Event(
        agent=stamp.agent,
        type="agent",
        site=None,
        probe=None,
        old="isolated" if was else "connected",
        new="isolated" if now_isolated else "connected",
        time=stamp.now,
        reason="isolated" if now_isolated else "recovered",
        isolated=now_isolated,
    )
