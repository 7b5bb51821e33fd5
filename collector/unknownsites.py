"""Events of sites not in the inventory: stored, counted as held, and said once per site.

They are applied when the site is added (a reload): nothing of them is lost meanwhile.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection

from pantau.collector.agenthealth import AgentHealth

log = logging.getLogger(__name__)


class UnknownSites:
    """One agent's stored site events per site, held in ``health.held["unknown_site"]`` for the
    sites not ``known``.

    Parameters
    ----------
    health
        The agent's health, whose ``held["unknown_site"]`` this keeps.
    site_events
        The agent's site events already stored, per site (counted on).
    """

    def __init__(self, health: AgentHealth, site_events: Counter[str] | None = None) -> None:
        self.health = health
        self._events: Counter[str] = site_events or Counter()
        self._known: Collection[str] = ()
        self._told: set[str] = set()

    def know(self, sites: Collection[str]) -> None:
        """The inventory's sites are ``sites`` from now on: count again what is held."""
        self._known = sites
        self._count()

    def stored(self, sites: Counter[str]) -> None:
        """Events of ``sites`` (per site) were stored."""
        self._events.update(sites)
        if set(sites) - set(self._known):
            self._count()

    def _count(self) -> None:
        held = {s: n for s, n in self._events.items() if s not in self._known}
        self.health.held["unknown_site"] = sum(held.values())
        for site in sorted(set(held) - self._told):
            log.warning(
                "events kept for a site not in the inventory agent=%s site=%s events=%d "
                "detail=applied when the site is added",
                self.health.label,
                site,
                held[site],
            )
        self._told = set(held)
