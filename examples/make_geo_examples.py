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


def state() -> dict:
    up = ["core-router", "kantor-walikota", "kantor-camat-selatan", "hotspot-lapangan-merdeka"]
    sites = [{"site": s, "state": "up", "last_result": "2026-11-20T12:00:00Z"} for s in up]
    sites += [
        {"site": "kelurahan-sepinggan", "state": "down", "last_result": "2026-11-20T12:00:00Z"},
        {"site": "bts-manggar", "state": "down", "last_result": "2026-11-20T12:00:00Z"},
    ]
    outages = [
        {"site": "bts-manggar", "start": "2026-11-19T22:10:00Z", "end": None, "cause": "down"},
        {
            "site": "kelurahan-sepinggan",
            "start": "2026-11-20T11:00:00Z",
            "end": None,
            "cause": "down",
        },
        {
            "site": "kantor-walikota",
            "start": "2026-11-03T01:00:00Z",
            "end": "2026-11-03T03:30:00Z",
            "cause": "down",
        },
        {
            "site": "hotspot-lapangan-merdeka",
            "start": "2026-11-10T08:00:00Z",
            "end": "2026-11-10T20:00:00Z",
            "cause": "unreachable",
        },
    ]
    return {"sites": sites, "outages": outages}


if __name__ == "__main__":
    (HERE / "districts.geojson").write_text(json.dumps(districts()) + "\n", encoding="utf-8")
    (HERE / "state.json").write_text(json.dumps(state(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {HERE / 'districts.geojson'} and {HERE / 'state.json'}")
