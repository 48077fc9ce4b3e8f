"""Which district and village a point lies in, from boundary GeoJSON files.

The wall names an incident's village from its coordinates (the map popup now,
hazard feeds later), so this is plain Python with no Qt: a grid of cells over
the boundaries' extent, each cell listing the polygons whose bounding box
touches it; a lookup tests only those polygons, with an even-odd ray cast over
all rings (holes and multi-part villages included). The 327 OKI villages
(27,177 points) index in a few tens of milliseconds and a lookup tests two or
three polygons.

The program ships OKI's boundaries under ``resources/geo``; config values of
the form ``builtin:NAME`` refer to those files (see :func:`geo_path`).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

#: Config values naming a file the program ships start with this.
BUILTIN_PREFIX = "builtin:"
#: The boundary files in ``resources/geo`` (see its README for source and license).
SHIPPED_GEO = (
    "oki-kabupaten.geojson", "oki-kecamatan.geojson", "oki-desa.geojson", "sumsel-kabupaten.geojson",
)
#: Feature properties that may hold a region code or a name.
CODE_PROPS = ("kode", "code", "KODE", "kode_kec", "KDCPUM")
NAME_PROPS = ("nama", "name", "NAMA", "NAME", "NAMOBJ", "WADMKC", "kecamatan", "KECAMATAN")
#: Grid cell size in degrees (about 2.2 km): a village spans a few cells.
CELL_DEG = 0.02

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


def _inside(lon: float, lat: float, rings: Sequence[Ring]) -> bool:
    """Even-odd rule over all rings: a hole flips inside back to outside."""
    inside = False
    for ring in rings:
        x0, y0 = ring[-1]
        for x1, y1 in ring:
            if (y1 > lat) != (y0 > lat) and lon < (x0 - x1) * (lat - y1) / (y0 - y1) + x1:
                inside = not inside
            x0, y0 = x1, y1
    return inside


@dataclass(frozen=True)
class Area:
    """One district or village polygon."""

    code: str
    name: str
    #: A village's district code (``kecamatan_kode``); empty for a district.
    parent_code: str
    rings: tuple[Ring, ...]
    bbox: tuple[float, float, float, float]  # west, south, east, north


@dataclass(frozen=True)
class Place:
    """Where a point lies; empty strings where nothing was found."""

    district_code: str = ""
    district: str = ""
    village_code: str = ""
    village: str = ""


class AreaIndex:
    """Polygons found by point through a grid of cells (see the module docstring)."""

    def __init__(self, areas: Iterable[Area], cell_deg: float = CELL_DEG) -> None:
        self.areas = tuple(areas)
        self._cell = cell_deg
        self._grid: dict[tuple[int, int], list[int]] = {}
        for i, area in enumerate(self.areas):
            w, s, e, n = area.bbox
            for cx in range(self._col(w), self._col(e) + 1):
                for cy in range(self._col(s), self._col(n) + 1):
                    self._grid.setdefault((cx, cy), []).append(i)

    def _col(self, degrees: float) -> int:
        return math.floor(degrees / self._cell)

    def __len__(self) -> int:
        return len(self.areas)

    def find(self, lat: float, lon: float) -> Area | None:
        """The first area containing the point, or None."""
        for i in self._grid.get((self._col(lon), self._col(lat)), ()):
            area = self.areas[i]
            w, s, e, n = area.bbox
            if w <= lon <= e and s <= lat <= n and _inside(lon, lat, area.rings):
                return area
        return None

    @classmethod
    def from_features(cls, data: Mapping[str, Any]) -> AreaIndex:
        areas = []
        for feature in data.get("features", ()):
            if not isinstance(feature, dict):
                continue
            rings = feature_rings(feature.get("geometry"))
            if not rings:
                continue
            props = feature.get("properties")
            props = props if isinstance(props, dict) else {}
            lons = [x for ring in rings for x, _ in ring]
            lats = [y for ring in rings for _, y in ring]
            parent = props.get("kecamatan_kode")
            areas.append(Area(
                code=feature_text(props, CODE_PROPS), name=feature_text(props, NAME_PROPS),
                parent_code=parent if isinstance(parent, str) else "",
                rings=tuple(rings), bbox=(min(lons), min(lats), max(lons), max(lats)),
            ))
        return cls(areas)


class PlaceFinder:
    """District and village of a point, from a district and a village index
    (either may be empty)."""

    def __init__(self, districts: AreaIndex, villages: AreaIndex) -> None:
        self.districts = districts
        self.villages = villages
        self._district_by_code = {a.code: a for a in districts.areas if a.code}

    def locate(self, lat: float, lon: float) -> Place:
        village = self.villages.find(lat, lon)
        district = None
        if village is not None and village.parent_code:
            district = self._district_by_code.get(village.parent_code)
        if district is None:
            district = self.districts.find(lat, lon)
        return Place(
            district_code=district.code if district else (village.parent_code if village else ""),
            district=district.name if district else "",
            village_code=village.code if village else "",
            village=village.name if village else "",
        )


def _index_of(path: Path | None) -> AreaIndex:
    return AreaIndex.from_features(read_feature_collection(path)) if path is not None else AreaIndex(())


@functools.lru_cache(maxsize=4)
def place_finder(district_value: str, village_value: str) -> PlaceFinder:
    """The finder for two config values (see :func:`geo_path`), built once per
    pair. Raises :class:`GeoError` when a named file cannot be used."""
    return PlaceFinder(_index_of(geo_path(district_value)), _index_of(geo_path(village_value)))
