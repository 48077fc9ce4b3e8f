"""Which OKI districts (kecamatan) and villages (desa) a hazard item touches.

The geometry lives in :mod:`commandcenter.core.places` (one implementation for the wall and the
feeds); this module adds what only the adapters need: CAP polygons and quake circles as shapely
geometries, and the (kecamatan, desa) name pairs the items carry.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import shapely
from shapely import affinity
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from commandcenter.core.geo import KM_PER_DEG_LAT
from commandcenter.core.places import AreaIndex, PlaceFinder, read_feature_collection


class Regions(PlaceFinder):
    """Districts and (optionally) villages with their outlines, answering in names."""

    @classmethod
    def load(cls, district_file: str | Path, village_file: str | Path | None = None) -> Regions:
        """Raises :class:`~commandcenter.core.places.GeoError` (a ValueError) for an unusable file."""
        districts = AreaIndex.from_features(read_feature_collection(Path(district_file)))
        villages = (AreaIndex.from_features(read_feature_collection(Path(village_file)))
                    if village_file is not None else AreaIndex(()))  # fmt: skip
        return cls(districts, villages)

    def place(self, lat: float, lon: float) -> tuple[str, str]:
        """(kecamatan, desa) of a point; empty strings outside."""
        found = self.locate(lat, lon)
        return found.district, found.village

    def place_many(self, lats: Sequence[float], lons: Sequence[float]) -> list[tuple[str, str]]:
        """(kecamatan, desa) for many points at once (vectorised; FIRMS batches)."""
        return [(f.district, f.village) for f in self.locate_many(lats, lons)]


def polygon(ring: Iterable[tuple[float, float]]) -> BaseGeometry:
    """A shapely polygon from (lat, lon) pairs (CAP order); invalid rings are repaired
    (a self-touching CAP polygon still covers what it was drawn to cover)."""
    geom = shapely.Polygon([(lon, lat) for lat, lon in ring])
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return geom


def circle(lat: float, lon: float, radius_km: float) -> BaseGeometry:
    """A circle of ``radius_km`` around a point, as an ellipse in degrees (good to well under a
    percent at OKI's latitude for the radii used here)."""
    dlat = radius_km / KM_PER_DEG_LAT
    dlon = radius_km / (KM_PER_DEG_LAT * max(0.05, math.cos(math.radians(lat))))
    return affinity.scale(Point(lon, lat).buffer(1.0, 64), dlon, dlat)


def shipped_geo_dir() -> Path | None:
    """resources/geo, where the product ships OKI's boundaries (MIT, see its README)."""
    from importlib.resources import files

    path = Path(str(files("resources") / "geo"))
    return path if (path / "oki-kecamatan.geojson").is_file() else None


@functools.lru_cache(maxsize=4)
def load_regions(district_file: str = "", village_file: str = "") -> Regions:
    """The configured boundary files, else the shipped ones (cached: loading the villages takes
    about a tenth of a second)."""
    if not district_file:
        geo = shipped_geo_dir()
        if geo is None:
            raise FileNotFoundError("no district boundaries: resources/geo is missing and none configured")
        district_file = str(geo / "oki-kecamatan.geojson")
        if not village_file and (geo / "oki-desa.geojson").is_file():
            village_file = str(geo / "oki-desa.geojson")
    return Regions.load(district_file, village_file or None)
