"""Links between inventory sites, checked once the rows have loaded: ``parent`` and ``ups``.

Each check returns what is wrong with one site's link as ``field: message with the fix``, or ""
(the inventory prefixes file and line and drops the row, as for any bad row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pantau.inventory import Site


def parent_problem(site: Site, ids: Mapping[str, Site], parents: Mapping[str, str | None]) -> str:
    """What is wrong with ``site``'s parent ("" when nothing is)."""
    if site.parent is None:
        return ""
    if site.parent == site.id:
        return "parent: a site cannot be its own parent"
    if site.parent not in ids:
        return (
            f"parent: {site.parent!r} does not exist; "
            "give the id of a site that loaded, or leave it empty"
        )
    if _on_cycle(site.id, parents):
        return f"parent: {site.parent!r} closes a dependency cycle"
    return ""


def ups_problem(site: Site, ids: Mapping[str, Site]) -> str:
    """What is wrong with ``site``'s UPS link ("" when nothing is).

    The UPS site must exist, be another site, be polled with SNMP (its reading is the
    evidence) and name no UPS itself: one hop, so that a site's power evidence is always its
    own and its UPS site's readings, never a chain's (docs/contracts.md, "Outage cause").
    """
    if site.ups is None:
        return ""
    if site.ups == site.id:
        return "ups: a site cannot name itself; its own UPS reading counts already, leave ups empty"
    ups = ids.get(site.ups)
    if ups is None:
        return (
            f"ups: {site.ups!r} does not exist; give the id of the site polled for the UPS "
            "that powers this one, or leave it empty"
        )
    if not any(p.kind == "snmp" for p in ups.probes):
        return (
            f"ups: site {site.ups!r} has no snmp probe, so it gives no UPS reading; "
            "add snmp:PROFILE to its probes or name the site that polls the UPS"
        )
    if ups.ups is not None:
        return (
            f"ups: site {site.ups!r} names a UPS itself ({ups.ups!r}); chains are refused: "
            f"name the site that polls the UPS ({ups.ups!r} if it powers this site too)"
        )
    return ""


def _on_cycle(start: str, parents: Mapping[str, str | None]) -> bool:
    """Whether following parents from ``start`` comes back to ``start``."""
    node = parents.get(start)
    for _ in range(len(parents)):
        if node is None:
            return False
        if node == start:
            return True
        node = parents.get(node)
    return False
