"""District layers: the real Kalimantan layers (GeoJSON and Shapefile) and broken inputs."""

from __future__ import annotations

import json
import shutil
import warnings

import geopandas as gpd
import pytest
import shapely
from geo_layouts import SHARED_GEO, SHARED_GEO_MISSING, sites

from pantau.errors import ConfigError
from pantau.geo.assign import assign_sites
from pantau.geo.districts import GeometryRepaired, read_districts
from pantau.inventory import Site

needs_shared = pytest.mark.skipif(not SHARED_GEO.is_dir(), reason=SHARED_GEO_MISSING)

LAYERS = {
    "kelurahan-geojson": ("balikpapan_kelurahan.geojson", 34, 509.3),
    "kelurahan-shp": ("shp/balikpapan_kelurahan/balikpapan_kelurahan.shp", 34, 509.3),
    "kecamatan-geojson": ("kaltim_kecamatan.geojson", 105, 126_772.4),
    "kecamatan-shp": ("shp/kaltim_kecamatan/kaltim_kecamatan.shp", 105, 126_772.4),
}


@needs_shared
@pytest.mark.parametrize("name", LAYERS, ids=LAYERS.keys())
def test_real_layers_read_valid_and_keyed_by_kode(name):
    path, count, area_km2 = LAYERS[name]
    d = read_districts(SHARED_GEO / path)
    assert len(d) == count and d["district"].is_unique
    assert d.crs.to_epsg() == 4326 and d.geometry.is_valid.all()
    assert d["district"].str.match(r"^64\.\d\d\.\d\d").all()
    # Area as the layer's README gives it (UTM 50S): our equal-area figure within 0.2 %.
    from pantau.geo.coverage import equal_area_crs

    total = d.to_crs(equal_area_crs(tuple(d.total_bounds))).area.sum() / 1e6
    assert total == pytest.approx(area_km2, rel=0.002)


@needs_shared
def test_geojson_and_shapefile_give_the_same_assignment():
    """Office sites of the example inventory land in the same kelurahan from either format."""
    pts = sites(
        Site(id="walikota", name="w", kind="office", lat=-1.2765, lon=116.8280),
        Site(id="sepinggan", name="s", kind="office", lat=-1.2530, lon=116.9020),
        Site(id="sea", name="x", kind="bts", lat=-1.35, lon=116.60),  # Makassar Strait
    )
    a = assign_sites(pts, read_districts(SHARED_GEO / LAYERS["kelurahan-geojson"][0]))
    b = assign_sites(pts, read_districts(SHARED_GEO / LAYERS["kelurahan-shp"][0]))
    assert a["district"].tolist() == b["district"].tolist()
    assert a["district"].iloc[0].startswith("64.71.") and a["assigned_by"].iloc[1] == "inside"
    assert a["assigned_by"].iloc[2] == "unassigned"


@needs_shared
def test_kecamatan_and_kelurahan_levels_nest_for_balikpapan_sites():
    kec = read_districts(SHARED_GEO / LAYERS["kecamatan-geojson"][0])
    kel = read_districts(SHARED_GEO / LAYERS["kelurahan-geojson"][0])
    # One point deep inside each kelurahan falls in the kecamatan its code names (most of them:
    # the levels were digitised separately).
    pts = gpd.GeoDataFrame(
        {"site": kel["district"]}, geometry=kel.geometry.representative_point(), crs=4326
    )
    pts["kind"] = "office"
    got = assign_sites(pts, kec, snap_m=0)
    agree = (got["district"] == kel["district"].str.slice(0, 8)).mean()
    assert agree >= 0.9


def _write(tmp_path, name, gdf, **kw):
    path = tmp_path / name
    gdf.to_file(path, **kw)
    return path


def _frame():
    return gpd.GeoDataFrame(
        {"kode": ["1", "2"], "nama": ["a", "b"]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
        crs=4326,
    )


def test_missing_file_names_path_and_key(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.shp: districts file not found; fix \[geo\]"):
        read_districts(tmp_path / "nope.shp")


def test_empty_file(tmp_path):
    (tmp_path / "empty.geojson").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"empty\.geojson: districts file is empty"):
        read_districts(tmp_path / "empty.geojson")


def test_layer_without_features(tmp_path):
    (tmp_path / "none.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": []})
    )
    with pytest.raises(ConfigError, match=r"(no features|is not a field)"):
        read_districts(tmp_path / "none.geojson")


def test_not_a_vector_file(tmp_path):
    (tmp_path / "x.geojson").write_text("this is not json")
    with pytest.raises(ConfigError, match=r"GDAL cannot read this as a vector layer"):
        read_districts(tmp_path / "x.geojson")


def test_missing_crs_says_how_to_add_one(tmp_path):
    path = _write(tmp_path, "nocrs.shp", _frame())
    path.with_suffix(".prj").unlink()
    with pytest.raises(ConfigError, match=r"nocrs\.shp: layer has no coordinate reference.*\.prj"):
        read_districts(path)


def test_missing_field_lists_the_fields_there_are(tmp_path):
    path = _write(tmp_path, "d.gpkg", _frame(), layer="kel")
    with pytest.raises(ConfigError) as err:
        read_districts(path, id_field="kode_kel")
    assert "d.gpkg" in str(err.value) and "[geo] id_field = 'kode_kel'" in str(err.value)
    assert "its fields are: kode, nama" in str(err.value)


def test_unknown_layer_lists_layers(tmp_path):
    path = _write(tmp_path, "d.gpkg", _frame(), layer="kel")
    with pytest.raises(ConfigError, match=r"no layer 'kec'.*one of: kel"):
        read_districts(path, layer="kec")


def test_duplicate_ids_are_refused(tmp_path):
    frame = _frame().assign(kode=["1", "1"])
    with pytest.raises(ConfigError, match=r"kode is not unique \(1 repeat\)"):
        read_districts(_write(tmp_path, "d.geojson", frame))


def test_invalid_geometry_is_repaired_counted_and_reported(tmp_path):
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    nested = shapely.MultiPolygon([shapely.box(0, 0, 3, 3), shapely.box(1, 1, 2, 2)])
    frame = gpd.GeoDataFrame(
        {"kode": ["bow", "nest", "ok"], "nama": ["a", "b", "c"]},
        geometry=[bowtie, nested, shapely.box(5, 5, 6, 6)],
        crs=4326,
    )
    path = _write(tmp_path, "bad.geojson", frame)
    with pytest.warns(GeometryRepaired, match=r"bad\.geojson: 2 invalid geometr.*bow, nest"):
        d = read_districts(path)
    assert d.geometry.is_valid.all() and d.attrs["repaired"] == ["bow", "nest"]
    # "structure" keeps the nested islet as land: the area stays the outer square's 9.
    assert d.set_index("district").loc["nest", "geometry"].area == pytest.approx(9.0)
    assert d.set_index("district").loc["bow", "geometry"].area == pytest.approx(0.5)


def test_points_layer_is_refused(tmp_path):
    frame = gpd.GeoDataFrame(
        {"kode": ["1"], "nama": ["a"]}, geometry=[shapely.Point(0, 0)], crs=4326
    )
    with pytest.raises(ConfigError, match="are not polygons"):
        read_districts(_write(tmp_path, "p.geojson", frame))


def test_big_layer_reports_progress(tmp_path, monkeypatch):
    monkeypatch.setattr("pantau.geo.districts.CHUNK", 2)
    frame = gpd.GeoDataFrame(
        {"kode": [str(i) for i in range(5)], "nama": ["x"] * 5},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(5)],
        crs=4326,
    )
    seen = []
    d = read_districts(
        _write(tmp_path, "d.gpkg", frame),
        progress=lambda stage, done, total: seen.append((done, total)),
    )
    assert len(d) == 5 and d["district"].tolist() == ["0", "1", "2", "3", "4"]
    assert seen == [(2, 5), (4, 5), (5, 5)]


def test_reprojected_layer_comes_back_in_wgs84(tmp_path):
    frame = _frame().to_crs(32750)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = read_districts(_write(tmp_path, "utm.shp", frame))
    assert d.crs.to_epsg() == 4326
    assert d.geometry.iloc[0].bounds == pytest.approx((0, 0, 1, 1), abs=1e-6)


def test_shapefile_copy_without_prj_keeps_other_files(tmp_path):
    if not SHARED_GEO.is_dir():
        pytest.skip(SHARED_GEO_MISSING)
    src = SHARED_GEO / "shp" / "balikpapan_kelurahan"
    for f in src.iterdir():
        if f.suffix != ".prj":
            shutil.copy(f, tmp_path / f.name)
    with pytest.raises(ConfigError, match="no coordinate reference system"):
        read_districts(tmp_path / "balikpapan_kelurahan.shp")


def test_tqdm_progress_draws_on_stderr_for_big_stages_only(capsys):
    from pantau.geo.progress import TqdmProgress

    progress = TqdmProgress(min_total=100)
    progress("small", 1, 10)
    for done in (250, 500, 1000):
        progress("assign sites", done, 1000)
    progress.close()
    err = capsys.readouterr().err
    assert "assign sites" in err and "1000/1000" in err and "small" not in err
