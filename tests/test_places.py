"""District and village of a point (commandcenter.core.places), on the shipped
OKI boundaries and on small polygons made here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commandcenter.config import ConfigError, check_file, load_defaults
from commandcenter.core import places


@pytest.fixture(scope="module")
def finder() -> places.PlaceFinder:
    cfg = load_defaults()
    return places.place_finder(cfg.map.boundary_geojson, cfg.map.village_geojson)


def _features(value: str) -> list[dict]:
    path = places.geo_path(value)
    assert path is not None
    return places.read_feature_collection(path)["features"]


def test_defaults_name_the_shipped_geography() -> None:
    cfg = load_defaults()
    counts = {}
    for value in (cfg.map.regency_geojson, cfg.map.boundary_geojson, cfg.map.village_geojson):
        assert value.startswith(places.BUILTIN_PREFIX)
        path = places.geo_path(value)
        assert path is not None and path.is_file()
        counts[path.name] = len(_features(value))
    assert counts == {"oki-kabupaten.geojson": 1, "oki-kecamatan.geojson": 18, "oki-desa.geojson": 327}
    # The license notice sits beside the copies.
    readme = (places.geo_path(cfg.map.village_geojson).parent / "README.md").read_text(encoding="utf-8")
    assert "MIT License" in readme and "cahyadsn/wilayah_boundaries" in readme


def test_every_district_code_of_the_config_has_a_polygon(finder: places.PlaceFinder) -> None:
    cfg = load_defaults()
    assert {a.code for a in finder.districts.areas} == {d.code for d in cfg.districts}
    # Every village names a district that exists.
    assert {a.parent_code for a in finder.villages.areas} <= {d.code for d in cfg.districts}


def test_known_places(finder: places.PlaceFinder) -> None:
    # Deling, the peat-fire village of Pangkalan Lampam (domain facts), at the
    # source's own centroid.
    deling = next(f for f in _features("builtin:oki-desa.geojson") if f["properties"]["nama"] == "Deling")
    place = finder.locate(deling["properties"]["lat"], deling["properties"]["lng"])
    assert place == places.Place(district_code="16.02.19", district="Pangkalan Lampam",
                                 village_code=deling["properties"]["kode"], village="Deling")
    # Kayuagung town, the capital.
    assert finder.locate(-3.385, 104.891).district == "Kayu Agung"
    # Palembang and the sea lie outside the regency: nothing found, nothing made up.
    assert finder.locate(-2.976, 104.775) == places.Place()
    assert finder.locate(-3.0, 106.6) == places.Place()


def test_source_centroids_fall_in_their_own_village(finder: places.PlaceFinder) -> None:
    """The source's centroids are mostly inside their village (a concave
    village's centroid can lie in its neighbour): a wrong ring or axis order
    would put almost none there."""
    hits = 0
    features = _features("builtin:oki-desa.geojson")
    for f in features:
        props = f["properties"]
        place = finder.locate(props["lat"], props["lng"])
        if place.village_code == props["kode"]:
            hits += 1
            assert place.district_code == props["kecamatan_kode"]
    assert hits >= 0.95 * len(features)


def _square(code: str, name: str, w: float, s: float, e: float, n: float, *, hole: bool = False,
            parent: str = "") -> dict:
    rings = [[[w, s], [w, n], [e, n], [e, s], [w, s]]]
    if hole:  # the middle third is not part of the area
        dw, dh = (e - w) / 3, (n - s) / 3
        hw, hs, he, hn = w + dw, s + dh, e - dw, n - dh
        rings.append([[hw, hs], [he, hs], [he, hn], [hw, hn], [hw, hs]])
    return {"type": "Feature", "properties": {"kode": code, "nama": name, "kecamatan_kode": parent},
            "geometry": {"type": "Polygon", "coordinates": rings}}


def test_holes_multipolygons_and_borders() -> None:
    ring_village = _square("1.1.1", "Cincin", 0.0, 0.0, 0.9, 0.9, hole=True, parent="1.1")
    inner = _square("1.1.2", "Tengah", 0.3, 0.3, 0.6, 0.6, parent="1.1")
    islands = {"type": "Feature", "properties": {"kode": "1.2.1", "nama": "Pulau", "kecamatan_kode": "1.2"},
               "geometry": {"type": "MultiPolygon", "coordinates": [
                   [[[2.0, 2.0], [2.0, 2.1], [2.1, 2.1], [2.1, 2.0], [2.0, 2.0]]],
                   [[[3.0, 3.0], [3.0, 3.1], [3.1, 3.1], [3.1, 3.0], [3.0, 3.0]]]]}}
    junk = [{"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
            {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [["x"]]}},
            "not a feature"]
    villages = places.AreaIndex.from_features({"features": [ring_village, inner, islands, *junk]})
    districts = places.AreaIndex.from_features({"features": [
        _square("1.1", "Satu", -1.0, -1.0, 1.5, 1.5), _square("1.2", "Dua", 1.9, 1.9, 3.5, 3.5)]})
    finder = places.PlaceFinder(districts, villages)
    assert len(villages) == 3
    assert finder.locate(0.1, 0.1).village == "Cincin"
    assert finder.locate(0.45, 0.45).village == "Tengah"  # in the hole: the inner village, not the ring
    assert finder.locate(3.05, 3.05) == places.Place("1.2", "Dua", "1.2.1", "Pulau")
    assert finder.locate(2.5, 2.5) == places.Place("1.2", "Dua", "", "")  # between the islands
    assert finder.locate(1.2, 1.2) == places.Place("1.1", "Satu", "", "")  # district only
    assert finder.locate(10.0, 10.0) == places.Place()


def test_bad_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(places.GeoError, match="no built-in file"):
        places.geo_path("builtin:jakarta.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "Feature"}', encoding="utf-8")
    with pytest.raises(places.GeoError, match="not a GeoJSON FeatureCollection"):
        places.read_feature_collection(bad)
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(places.GeoError, match=r"bad\.geojson"):
        places.read_feature_collection(bad)


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("village_geojson", "builtin:jakarta.geojson", "no built-in file"),
    ("regency_geojson", "absent.geojson", "file not found"),
    ("tile_pack", "absent.mbtiles", "file not found"),
])
def test_config_refuses_unknown_files(tmp_path: Path, key: str, value: str, reason: str) -> None:
    path = tmp_path / "user.toml"
    path.write_text(f'[map]\n{key} = "{value}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        check_file(path)
    assert (err.value.file, err.value.key) == (str(path), f"map.{key}")
    assert reason in err.value.reason


def test_config_takes_own_files_and_none(tmp_path: Path) -> None:
    own = tmp_path / "kec.geojson"
    own.write_text(json.dumps({"type": "FeatureCollection", "features": []}), encoding="utf-8")
    path = tmp_path / "user.toml"
    path.write_text('[map]\nboundary_geojson = "kec.geojson"\nvillage_geojson = ""\n', encoding="utf-8")
    cfg = check_file(path)
    assert cfg.map.boundary_geojson == str(own.resolve())
    assert cfg.map.village_geojson == ""
    assert cfg.map.regency_geojson == "builtin:oki-kabupaten.geojson"
    finder = places.place_finder(cfg.map.boundary_geojson, cfg.map.village_geojson)
    assert len(finder.districts) == 0 and len(finder.villages) == 0
