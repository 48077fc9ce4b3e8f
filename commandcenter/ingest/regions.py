"""Which OKI districts (kecamatan) and villages (desa) a point, a polygon or a circle touches.

Decided on the real boundaries with shapely (GEOS), never by a bounding box: Palembang lies inside
OKI's bounding box and outside OKI. An STRtree over the 18 districts and 327 villages makes a
query a few microseconds, and points come in vectorised batches (10,000 FIRMS hotspots at once).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

#: Kilometres per degree of latitude (WGS84 mean), for circles drawn in degrees.
KM_PER_DEG_LAT = 110.57


def _features(path: Path) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list):
        raise ValueError(f"{path}: not a GeoJSON FeatureCollection")
    return feats


class Regions:
    """Districts and (optionally) villages with their outlines."""

    def __init__(
        self,
        districts: Sequence[tuple[str, str, BaseGeometry]],
        villages: Sequence[tuple[str, str, BaseGeometry]] = (),
    ) -> None:
        #: (kode, nama, geometry) of each district; villages carry their district's kode.
        self.district_codes = [d[0] for d in districts]
        self.district_names = [d[1] for d in districts]
        self._district_geoms = [d[2] for d in districts]
        self._district_by_code = {d[0]: d[1] for d in districts}
        self.village_names = [v[1] for v in villages]
        self.village_districts = [self._district_by_code.get(v[0], "") for v in villages]
        self._village_geoms = [v[2] for v in villages]
        for g in (*self._district_geoms, *self._village_geoms):
            shapely.prepare(g)
        self._districts = shapely.STRtree(self._district_geoms)
        self._villages = shapely.STRtree(self._village_geoms) if villages else None
        self.outline = shapely.union_all(self._district_geoms)
        shapely.prepare(self.outline)

    @classmethod
    def load(cls, district_file: str | Path, village_file: str | Path | None = None) -> Regions:
        districts = []
        for f in _features(Path(district_file)):
            props = f.get("properties") or {}
            districts.append((str(props.get("kode", "")), str(props.get("nama", "")), shape(f["geometry"])))
        villages = []
        if village_file is not None:
            for f in _features(Path(village_file)):
                props = f.get("properties") or {}
                villages.append(
                    (str(props.get("kecamatan_kode", "")), str(props.get("nama", "")), shape(f["geometry"]))
                )
        return cls(districts, villages)

    # --- queries ---------------------------------------------------------------------

    def touching(self, geom: BaseGeometry) -> tuple[list[str], list[str]]:
        """The districts and villages a geometry intersects, sorted by name."""
        kec = sorted({self.district_names[i] for i in self._districts.query(geom, predicate="intersects")})
        desa: list[str] = []
        if self._villages is not None and kec:
            desa = sorted({self.village_names[i] for i in self._villages.query(geom, predicate="intersects")})
        return kec, desa

    def place(self, lat: float, lon: float) -> tuple[str, str]:
        """(kecamatan, desa) of a point; empty strings outside."""
        placed = self.place_many([lat], [lon])
        return placed[0]

    def place_many(self, lats: Sequence[float], lons: Sequence[float]) -> list[tuple[str, str]]:
        """(kecamatan, desa) for many points at once (vectorised; FIRMS batches)."""
        n = len(lats)
        out = [("", "")] * n
        if n == 0:
            return out
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        kec = [""] * n
        for pi, gi in zip(*self._districts.query(points, predicate="intersects"), strict=True):
            kec[int(pi)] = self.district_names[int(gi)]
        desa = [""] * n
        if self._villages is not None:
            for pi, gi in zip(*self._villages.query(points, predicate="intersects"), strict=True):
                desa[int(pi)] = self.village_names[int(gi)]
        return [(kec[i], desa[i]) for i in range(n)]

    def contains(self, lat: float, lon: float) -> bool:
        return bool(self.outline.intersects(Point(lon, lat)))


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
