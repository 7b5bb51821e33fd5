"""One district per site: the inventory's sites with the district their coordinates give.

Where ``[geo] districts`` names a layer, every site gets the district :func:`assign_sites` finds
for its point (the same rule the maps use); a site outside every district keeps the declared one.
A declared district that the geometry contradicts is reported, as the maps do. The result is
computed once when the collector (or ``pantau map``/``report``) loads the inventory, and that one
answer feeds the collector's API, its metric labels (hence alert routing) and maintenance by
district. Without a layer the inventory's column stands as typed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pantau.config import GeoConfig
    from pantau.inventory import Site

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Districts:
    """The sites with their one district, the districts' names, and what to check."""

    sites: tuple[Site, ...]
    names: Mapping[str, str]
    problems: tuple[str, ...] = ()


def resolve_districts(geo: GeoConfig, sites: Sequence[Site]) -> Districts:
    """Assign each site its district from ``geo.districts`` (see the module docstring).

    Raises
    ------
    ConfigError
        When the layer cannot be read (the message names the file and the fix).
    """
    if geo.districts is None:
        return Districts(tuple(sites), {})
    from pantau.geo.assign import assign_sites, assignment_problems, sites_frame
    from pantau.geo.districts import read_districts

    layer = read_districts(
        geo.districts, layer=geo.layer, id_field=geo.id_field, name_field=geo.name_field
    )
    names = {str(d): str(n) for d, n in zip(layer["district"], layer["name"], strict=True)}
    if not sites:
        return Districts((), names)
    assigned = assign_sites(sites_frame(sites), layer, snap_m=geo.snap_m)
    found = dict(zip(assigned["site"], assigned["district"], strict=True))
    out = []
    for site in sites:
        district = found.get(site.id)
        district = str(district) if isinstance(district, str) and district else site.district
        if district != site.district:
            site = dataclasses.replace(site, district=district)
        out.append(site)
    return Districts(tuple(out), names, tuple(assignment_problems(assigned, geo.snap_m)))
