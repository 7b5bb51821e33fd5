"""District polygons: read any GDAL vector layer, check it, repair it, key it by district id.

:func:`read_districts` is the I/O edge (pyogrio); :func:`prepare_districts` is the pure part that
checks fields, geometry types and ids, and repairs invalid geometries. Both return a GeoDataFrame
with the columns ``district`` (id, text), ``name`` and ``geometry``, in EPSG:4326.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from pantau.errors import ConfigError
from pantau.geo.progress import Progress, null_progress

if TYPE_CHECKING:
    import geopandas as gpd
    import shapely

log = logging.getLogger(__name__)

#: Read layers with more features than this in chunks, reporting progress.
CHUNK = 20_000
WGS84 = "EPSG:4326"


class GeometryRepaired(UserWarning):
    """Some features had invalid geometry and were repaired with make_valid."""


def read_districts(
    path: str | os.PathLike[str],
    *,
    layer: str | None = None,
    id_field: str = "kode",
    name_field: str = "nama",
    progress: Progress = null_progress,
) -> gpd.GeoDataFrame:
    """Read district polygons from a Shapefile, GeoPackage, GeoJSON or any layer GDAL reads.

    Parameters
    ----------
    path
        The vector file (``[geo] districts``).
    layer
        Layer name for multi-layer sources (GeoPackage); None reads the first layer.
    id_field, name_field
        Attribute holding the district id (e.g. Kemendagri ``kode``) and its name.
    progress
        Called as ``progress(stage, done, total)`` while a big layer is read.

    Returns
    -------
    GeoDataFrame
        Columns ``district``, ``name``, ``geometry`` in EPSG:4326, one row per district.

    Raises
    ------
    ConfigError
        File missing or empty, unreadable, without CRS, a field missing (the message lists the
        fields there are), non-polygon geometry or duplicate ids; each message names file and fix.
    """
    import pyogrio

    path = Path(path)
    info = _layer_info(path, layer)
    where = f"{path}" + (f" (layer {layer!r})" if layer else "")
    if info["crs"] is None:
        raise ConfigError(
            f"{where}: layer has no coordinate reference system; add one, e.g. ship the .prj "
            "next to a Shapefile or run `ogr2ogr -a_srs EPSG:4326 fixed.gpkg` on it"
        )
    fields = list(info["fields"])
    for key, field in (("id_field", id_field), ("name_field", name_field)):
        if field not in fields:
            raise ConfigError(
                f"{where}: [geo] {key} = {field!r} is not a field of this layer; "
                f"its fields are: {', '.join(fields) or '(none)'}"
            )
    total = int(info["features"]) if info["features"] is not None else -1
    if total == 0:
        raise ConfigError(f"{where}: layer has no features; point [geo] districts at a real layer")
    frames = []
    step = CHUNK if total > CHUNK else max(total, 1)
    for start in range(0, max(total, 1), step):
        frames.append(
            pyogrio.read_dataframe(
                path,
                layer=layer,
                columns=[id_field, name_field],
                skip_features=start,
                max_features=step if total > CHUNK else None,
            )
        )
        progress("read districts", min(start + step, total), total)
    import pandas as pd

    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return prepare_districts(frame, id_field=id_field, name_field=name_field, source=where)


def read_settlements(path: str | os.PathLike[str], *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a layer of residential areas (``[geo] settlements``): polygons, repaired, EPSG:4326.

    Raises
    ------
    ConfigError
        As :func:`read_districts`, for file, layer and CRS problems.
    """
    import pyogrio
    import shapely

    path = Path(path)
    info = _layer_info(path, layer)
    if info["crs"] is None:
        raise ConfigError(f"{path}: settlements layer has no coordinate reference system; add one")
    frame = pyogrio.read_dataframe(path, layer=layer, columns=[])
    geoms = frame.geometry.values
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    frame = frame[keep]
    frame = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    if frame.empty:
        raise ConfigError(
            f"{path}: settlements layer has no polygons; [geo] settlements needs some"
        )
    frame = frame.set_geometry(shapely.make_valid(frame.geometry.values, method="structure"))
    return frame.to_crs(WGS84)


def _layer_info(path: Path, layer: str | None) -> dict:
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    if not path.exists():
        raise ConfigError(
            f"{path}: districts file not found; fix [geo] districts (relative paths are "
            "relative to the config file)"
        )
    if path.is_file() and path.stat().st_size == 0:
        raise ConfigError(f"{path}: districts file is empty (0 bytes); export the layer again")
    try:
        return pyogrio.read_info(path, layer=layer)
    except DataLayerError as exc:
        layers = [str(n) for n, _ in pyogrio.list_layers(path)]
        raise ConfigError(
            f"{path}: no layer {layer!r} ({exc}); set [geo] layer to one of: {', '.join(layers)}"
        ) from None
    except DataSourceError as exc:
        raise ConfigError(
            f"{path}: GDAL cannot read this as a vector layer ({exc}); use a Shapefile "
            "(with .shx/.dbf/.prj), GeoPackage or GeoJSON"
        ) from None


def prepare_districts(
    frame: gpd.GeoDataFrame, *, id_field: str, name_field: str, source: str = "districts"
) -> gpd.GeoDataFrame:
    """Check and normalise a district layer already in memory.

    Empty geometries are dropped and invalid ones repaired with
    ``make_valid(method="structure")`` (which keeps nested islets as land instead of punching
    holes); both are counted and reported through a :class:`GeometryRepaired` warning and the
    log. The result is in EPSG:4326.

    Raises
    ------
    ConfigError
        A field is missing, there is no CRS, a geometry is not polygonal, or ids repeat.
    """
    import geopandas as gpd
    import shapely

    if frame.crs is None:
        raise ConfigError(f"{source}: layer has no coordinate reference system; assign one")
    missing = [f for f in (id_field, name_field) if f not in frame.columns]
    if missing:
        fields = [c for c in frame.columns if c != frame.geometry.name]
        raise ConfigError(
            f"{source}: field {missing[0]!r} is not in the layer; its fields are: "
            f"{', '.join(map(str, fields))}"
        )
    ids = frame[id_field].astype("string").str.strip()
    out = gpd.GeoDataFrame(
        {"district": ids, "name": frame[name_field].astype("string")},
        geometry=frame.geometry.values,
        crs=frame.crs,
    )
    if out["district"].isna().any() or (out["district"] == "").any():
        rows = list(out.index[out["district"].isna() | (out["district"] == "")][:5])
        raise ConfigError(f"{source}: {id_field} is empty in feature(s) {rows}; fill it in")
    dupes = out["district"][out["district"].duplicated()].unique().tolist()
    if dupes:
        raise ConfigError(
            f"{source}: {id_field} is not unique ({', '.join(dupes[:5])} repeat); choose an id "
            "field that is, or dissolve the layer by it"
        )
    geoms = out.geometry.values
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if empty.any():
        dropped = out["district"][empty].tolist()
        _report(source, f"{len(dropped)} feature(s) without geometry dropped", dropped)
        out = out[~empty].copy()
        geoms = out.geometry.values
    types = shapely.get_type_id(geoms)
    not_polygon = (types != 3) & (types != 6)
    if not_polygon.any():
        bad = out["district"][not_polygon].tolist()
        raise ConfigError(
            f"{source}: feature(s) {', '.join(bad[:5])} are not polygons; districts "
            "must be a Polygon/MultiPolygon layer"
        )
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        repaired = out["district"][invalid].tolist()
        fixed = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        out.loc[invalid, "geometry"] = [_polygonal(g) for g in fixed]
        _report(
            source, f"{len(repaired)} invalid geometr(y/ies) repaired with make_valid", repaired
        )
        out.attrs["repaired"] = repaired
    out = out.to_crs(WGS84) if not out.crs.equals(WGS84) else out
    return out.reset_index(drop=True)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep the polygonal part of what make_valid returned (it can add stray lines)."""
    import shapely

    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)


def _report(source: str, what: str, ids: list[str]) -> None:
    shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
    message = f"{source}: {what}: {shown}"
    log.warning("districts repaired source=%s what=%s ids=%s", source, what, shown)
    warnings.warn(message, GeometryRepaired, stacklevel=3)
