"""Generate the synthetic example layers for `pantau map --config config.example.toml`.

Writes examples/districts.geojson (12 made-up "kelurahan" as Voronoi cells of seeded random
points over the Balikpapan area of the example inventory; codes start with 00 so they can never be
taken for real Kemendagri codes) and examples/state.json (site states and a few outages in
November 2026). Run from the repository root:  python examples/make_geo_examples.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely

HERE = Path(__file__).resolve().parent
BOX = (116.78, -1.32, 117.04, -1.17)


def districts() -> dict:
    rng = np.random.default_rng(2026)
    x = rng.uniform(BOX[0], BOX[2], 12)
    y = rng.uniform(BOX[1], BOX[3], 12)
    cells = shapely.voronoi_polygons(shapely.multipoints(np.column_stack([x, y])))
    frame = shapely.box(*BOX)
    features = []
    for i, cell in enumerate(sorted(shapely.get_parts(cells), key=lambda c: c.centroid.x)):
        geom = shapely.set_precision(shapely.intersection(cell, frame), 1e-6)
        features.append(
            {
                "type": "Feature",
                "properties": {"kode": f"00.01.01.{1001 + i}", "nama": f"Kelurahan Contoh {i + 1}"},
                "geometry": shapely.geometry.mapping(geom),
            }
        )
    return {"type": "FeatureCollection", "features": features}


#: The example history: decided from 1 November 2026 00:00 WITA up to "now", 20 November 12:00 UTC.
DATA_FROM, NOW = "2026-10-31T16:00:00Z", "2026-11-20T12:00:00Z"


def state() -> dict:
    """Site states at NOW, the outages, and the decided timelines they come from.

    Two registered sites (vsat-puskesmas-teritip, web-portal) were never observed: they have no
    timeline, so no availability and no supervision.
    """
    down = {
        "core-router": [("2026-11-10T08:00:00Z", "2026-11-10T09:00:00Z", "down")],
        "kantor-walikota": [("2026-11-03T01:00:00Z", "2026-11-03T03:30:00Z", "down")],
        "kantor-camat-selatan": [],
        "hotspot-lapangan-merdeka": [
            ("2026-11-10T08:00:00Z", "2026-11-10T09:00:00Z", "unreachable")
        ],
        "kelurahan-sepinggan": [("2026-11-20T11:00:00Z", None, "down")],
        "bts-manggar": [("2026-11-19T22:10:00Z", None, "down")],
    }
    sites, outages, timelines = [], [], {}
    for site, spans in down.items():
        timeline = [[DATA_FROM, "up"]]
        for start, end, cause in spans:
            outages.append({"site": site, "start": start, "end": end, "cause": cause})
            timeline.append([start, "down"])
            if end is not None:
                timeline.append([end, "up"])
        timelines[site] = {"timeline": timeline, "maintenance": []}
        sites.append({"site": site, "state": timeline[-1][1], "last_result": NOW})
    return {"now": NOW, "sites": sites, "outages": outages, "timelines": timelines}


if __name__ == "__main__":
    (HERE / "districts.geojson").write_text(json.dumps(districts()) + "\n", encoding="utf-8")
    (HERE / "state.json").write_text(json.dumps(state(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {HERE / 'districts.geojson'} and {HERE / 'state.json'}")
