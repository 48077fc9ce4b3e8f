"""Which district and village a point, a polygon or a circle lies in, from boundary GeoJSON files.

The one place the program answers "where is this": the wall names an incident's village from
its coordinates, the hazard adapters decide which OKI districts a warning polygon or a quake's
felt area touches. Decided on the real outlines with shapely (GEOS), never by a bounding box
(Palembang lies inside OKI's bounding box and outside OKI). An STRtree over the 18 districts and
327 villages makes a query a few microseconds; points also come in vectorised batches (10,000
FIRMS hotspots at once). Files are read tolerantly: features without a usable polygon are
skipped, and rings combine by the even-odd rule (a hole, or a ring inside a hole, is honoured
however the file orders them).

The program ships OKI's boundaries under ``resources/geo``; config values of
the form ``builtin:NAME`` refer to those files (see :func:`geo_path`).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

#: Config values naming a file the program ships start with this.
BUILTIN_PREFIX = "builtin:"
#: The boundary files in ``resources/geo`` (see its README for source and license).
SHIPPED_GEO = (
    "oki-kabupaten.geojson", "oki-kecamatan.geojson", "oki-desa.geojson", "sumsel-kabupaten.geojson",
)
#: Feature properties that may hold a region code or a name.
CODE_PROPS = ("kode", "code", "KODE", "kode_kec", "KDCPUM")
NAME_PROPS = ("nama", "name", "NAMA", "NAME", "NAMOBJ", "WADMKC", "kecamatan", "KECAMATAN")
Ring = list[tuple[float, float]]  # (lon, lat) pairs


class GeoError(ValueError):
    """A boundary file that cannot be used (with the reason)."""


def geo_path(value: str) -> Path | None:
    """The file a config value names: ``builtin:NAME`` is a shipped file, anything
    else a path as given; ``""`` is none. Raises :class:`GeoError` for a built-in
    name the program does not ship."""
    if not value:
        return None
    if value.startswith(BUILTIN_PREFIX):
        name = value[len(BUILTIN_PREFIX):]
        if name not in SHIPPED_GEO:
            raise GeoError(f"no built-in file {name!r}; the program ships {', '.join(SHIPPED_GEO)}")
        return Path(str(files("resources") / "geo" / name))
    return Path(value)


def read_feature_collection(path: Path) -> dict[str, Any]:
    """A GeoJSON FeatureCollection from ``path``, or :class:`GeoError`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GeoError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" \
            or not isinstance(data.get("features"), list):
        raise GeoError(f"{path}: not a GeoJSON FeatureCollection")
    return data


def feature_text(props: Mapping[str, Any], keys: Iterable[str]) -> str:
    """The first non-empty string among ``keys`` in a feature's properties."""
    for key in keys:
        value = props.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def feature_rings(geometry: Any) -> list[Ring]:
    """Every ring of a Polygon or MultiPolygon as (lon, lat) tuples; other
    geometry types and malformed coordinates give no rings."""
    if not isinstance(geometry, dict):
        return []
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    polygons: Sequence[Any]
    if kind == "Polygon":
        polygons = [coords]
    elif kind == "MultiPolygon":
        polygons = coords if isinstance(coords, list) else []
    else:
        return []
    rings: list[Ring] = []
    for polygon in polygons:
        if not isinstance(polygon, list):
            continue
        for ring in polygon:
            if not isinstance(ring, list):
                continue
            points: Ring = []
            for pt in ring:
                if isinstance(pt, list | tuple) and len(pt) >= 2 \
                        and all(isinstance(v, int | float) and math.isfinite(v) for v in pt[:2]):
                    points.append((float(pt[0]), float(pt[1])))
            if len(points) >= 3:
                rings.append(points)
    return rings


def area_geometry(rings: Sequence[Ring]) -> BaseGeometry:
    """One geometry from rings combined by the even-odd rule: each ring's interior flips
    inside/outside, so shells, holes and islands come out right in any order."""
    geom: BaseGeometry = shapely.Polygon()
    for ring in rings:
        part = shapely.Polygon(ring)
        if not part.is_valid:
            part = shapely.make_valid(part)
        geom = shapely.symmetric_difference(geom, part)
    return geom


@dataclass(frozen=True)
class Area:
    """One district or village outline."""

    code: str
    name: str
    #: A village's district code (``kecamatan_kode``); empty for a district.
    parent_code: str
    geom: BaseGeometry = field(compare=False, repr=False)


@dataclass(frozen=True)
class Place:
    """Where a point lies; empty strings where nothing was found."""

    district_code: str = ""
    district: str = ""
    village_code: str = ""
    village: str = ""


class AreaIndex:
    """Outlines found by point or by geometry through an STRtree."""

    def __init__(self, areas: Iterable[Area]) -> None:
        self.areas = tuple(areas)
        geoms = [a.geom for a in self.areas]
        for g in geoms:
            shapely.prepare(g)
        self._tree = shapely.STRtree(geoms)

    def __len__(self) -> int:
        return len(self.areas)

    def find(self, lat: float, lon: float) -> Area | None:
        """The first area (in file order) containing the point, or None."""
        hits = self._tree.query(shapely.Point(lon, lat), predicate="intersects")
        return self.areas[int(hits.min())] if len(hits) else None

    def find_many(self, lats: Sequence[float], lons: Sequence[float]) -> list[Area | None]:
        """:meth:`find` for many points at once (vectorised)."""
        found: list[Area | None] = [None] * len(lats)
        if not len(lats) or not self.areas:
            return found
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        best: dict[int, int] = {}
        for pi, gi in zip(*self._tree.query(points, predicate="intersects"), strict=True):
            i, g = int(pi), int(gi)
            if g < best.get(i, len(self.areas)):
                best[i] = g
        for i, g in best.items():
            found[i] = self.areas[g]
        return found

    def touching(self, geom: BaseGeometry) -> list[Area]:
        """Every area the geometry intersects, in file order."""
        return [self.areas[int(i)] for i in sorted(self._tree.query(geom, predicate="intersects"))]

    @classmethod
    def from_features(cls, data: Mapping[str, Any]) -> AreaIndex:
        areas = []
        for feature in data.get("features", ()):
            if not isinstance(feature, dict):
                continue
            rings = feature_rings(feature.get("geometry"))
            if not rings:
                continue
            geom = area_geometry(rings)
            if geom.is_empty:
                continue
            props = feature.get("properties")
            props = props if isinstance(props, dict) else {}
            parent = props.get("kecamatan_kode")
            areas.append(Area(
                code=feature_text(props, CODE_PROPS), name=feature_text(props, NAME_PROPS),
                parent_code=parent if isinstance(parent, str) else "", geom=geom,
            ))
        return cls(areas)


class PlaceFinder:
    """District and village of a point, and the districts and villages a geometry touches,
    from a district and a village index (either may be empty)."""

    def __init__(self, districts: AreaIndex, villages: AreaIndex) -> None:
        self.districts = districts
        self.villages = villages
        self._district_by_code = {a.code: a for a in districts.areas if a.code}
        self.outline = shapely.union_all([a.geom for a in districts.areas])
        shapely.prepare(self.outline)

    def _place(self, district: Area | None, village: Area | None) -> Place:
        if village is not None and village.parent_code:
            district = self._district_by_code.get(village.parent_code, district)
        return Place(
            district_code=district.code if district else (village.parent_code if village else ""),
            district=district.name if district else "",
            village_code=village.code if village else "",
            village=village.name if village else "",
        )

    def locate(self, lat: float, lon: float) -> Place:
        village = self.villages.find(lat, lon)
        district = None
        if village is None or village.parent_code not in self._district_by_code:
            district = self.districts.find(lat, lon)
        return self._place(district, village)

    def locate_many(self, lats: Sequence[float], lons: Sequence[float]) -> list[Place]:
        """:meth:`locate` for many points at once (vectorised; FIRMS batches)."""
        villages = self.villages.find_many(lats, lons)
        districts = self.districts.find_many(lats, lons)
        return [self._place(d, v) for d, v in zip(districts, villages, strict=True)]

    def touching(self, geom: BaseGeometry) -> tuple[list[str], list[str]]:
        """The names of the districts and villages a geometry intersects, sorted."""
        kec = sorted({a.name for a in self.districts.touching(geom)})
        desa = sorted({a.name for a in self.villages.touching(geom)}) if kec else []
        return kec, desa

    def contains(self, lat: float, lon: float) -> bool:
        """Whether the point lies inside the districts' combined outline."""
        return bool(self.outline.intersects(shapely.Point(lon, lat)))


def _index_of(path: Path | None) -> AreaIndex:
    return AreaIndex.from_features(read_feature_collection(path)) if path is not None else AreaIndex(())


@functools.lru_cache(maxsize=4)
def place_finder(district_value: str, village_value: str) -> PlaceFinder:
    """The finder for two config values (see :func:`geo_path`), built once per
    pair. Raises :class:`GeoError` when a named file cannot be used."""
    return PlaceFinder(_index_of(geo_path(district_value)), _index_of(geo_path(village_value)))
