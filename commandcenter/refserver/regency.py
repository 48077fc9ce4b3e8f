"""The simulator's geography for a regency other than OKI (`serve --regency CODE`).

OKI's simulator knows its districts, villages, floods, peat and toll road. For
the other regencies of Sumatera Selatan the product ships only the outline
(resources/geo/sumsel-kabupaten.geojson), so a regency's server reports from
one "district" - the regency itself, its centre a point inside the outline -
and places every incident inside the outline (Simulator ``area``). The rest of
the configuration (agencies, categories, fleet) is the one given.
"""

from __future__ import annotations

import msgspec
from shapely.geometry.base import BaseGeometry

from commandcenter.config import Config
from commandcenter.config.schema import Bounds, DistrictConfig, LatLon
from commandcenter.core.places import AreaIndex, geo_path, read_feature_collection

#: OKI: the shipped configuration's own regency (its simulator stays as it is).
OKI_CODE = "16.02"
SUMSEL_GEOJSON = "builtin:sumsel-kabupaten.geojson"


def short_name(name: str) -> str:
    """"Kabupaten Muara Enim" -> "Muara Enim"; a city keeps "Kota"."""
    return name.removeprefix("Kabupaten ").strip() or name


def regency_outlines(value: str = SUMSEL_GEOJSON) -> AreaIndex:
    path = geo_path(value)
    if path is None:
        raise ValueError("no regency outlines configured")
    return AreaIndex.from_features(read_feature_collection(path))


def regency_geography(
    config: Config, code: str, geojson: str = SUMSEL_GEOJSON
) -> tuple[Config, BaseGeometry | None, str]:
    """(configuration, outline, name) a regency's simulator runs with.

    OKI (16.02) keeps the configuration as it is and no outline (its districts
    place the incidents); another regency gets one district, itself, and its
    outline. Raises ValueError for a code the outlines do not have."""
    areas = regency_outlines(geojson)
    area = next((a for a in areas.areas if a.code == code), None)
    if area is None:
        known = ", ".join(a.code for a in areas.areas)
        raise ValueError(f"unknown regency {code!r}; the outlines have {known}")
    name = short_name(area.name)
    if code == OKI_CODE:
        return config, None, name
    inside = area.geom.representative_point()
    lat, lon = round(inside.y, 5), round(inside.x, 5)
    west, south, east, north = area.geom.bounds
    district = DistrictConfig(code=code, name=name, lat=lat, lon=lon)
    # The map section validates its centre against its bounds: build it whole.
    geo_map = msgspec.structs.replace(
        config.map,
        bounds=Bounds(south=round(south, 3) - 0.001, west=round(west, 3) - 0.001,
                      north=round(north, 3) + 0.001, east=round(east, 3) + 0.001),
        center=LatLon(lat=lat, lon=lon),
    )  # fmt: skip
    return msgspec.structs.replace(config, map=geo_map, districts=[district]), area.geom, name


__all__ = ["OKI_CODE", "SUMSEL_GEOJSON", "regency_geography", "regency_outlines", "short_name"]
