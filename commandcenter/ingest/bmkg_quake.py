"""BMKG earthquakes: autogempa, gempaterkini and gempadirasakan, JSON and XML.

Published at data.bmkg.go.id/DataMKG/TEWS/ (see docs/ingest.md). Every value is a string:
``DateTime`` is UTC with an offset, ``Coordinates`` is "lat,lon" (``point/coordinates`` in the
XML), ``Lintang``/``Bujur`` say the same with LS/LU and BT/BB, ``Jam`` is local time with its zone
(WIB, WITA or WIT), ``Magnitude`` a number, ``Kedalaman`` "10 km". autogempa carries one
``gempa`` object, the two lists fifteen; gempaterkini has no ``Dirasakan``, gempadirasakan no
``Potensi``. A quake whose fields contradict each other (the coordinates and Lintang/Bujur, or
DateTime and Jam) is refused: a feed that lies is not shown.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from commandcenter.ingest.items import IngestError, Item, aware_time, check_size, clean_text, finite
from commandcenter.ingest.regions import Regions, circle
from commandcenter.ingest.xmlsafe import child_text, children, local, parse_xml

SOURCE = "bmkg-quake"
ZONES = {"WIB": 7, "WITA": 8, "WIT": 9}
_JAM = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})\s*(WIB|WITA|WIT)$")
_DEPTH = re.compile(r"^(-?\d+(?:\.\d+)?)\s*km$", re.IGNORECASE)
_LAT = re.compile(r"^(\d+(?:\.\d+)?)\s*(LS|LU)$")
_LON = re.compile(r"^(\d+(?:\.\d+)?)\s*(BT|BB)$")
FIELDS = ("Tanggal", "Jam", "DateTime", "Coordinates", "Lintang", "Bujur", "Magnitude", "Kedalaman",
          "Wilayah", "Potensi", "Dirasakan", "Shakemap")  # fmt: skip


def felt_radius_km(magnitude: float) -> float:
    """Roughly how far a shallow quake is felt (MMI II-III), for the ring on the map and the
    districts it touches: 10^(0.5 M - 1) km, i.e. about 30 km at M5, 100 km at M6, 300 km at M7.
    An order-of-magnitude guide for the wall, not a seismological model."""
    return float(10 ** (0.5 * magnitude - 1.0))


def _quake(fields: dict[str, str | None], where: str, regions: Regions | None) -> Item:
    when = aware_time(fields.get("DateTime"), f"{where} DateTime")
    coords = (fields.get("Coordinates") or "").strip()
    parts = coords.split(",")
    if len(parts) != 2:
        raise IngestError(f"{where} Coordinates", f"not 'lat,lon': {coords[:40]!r}")
    lat = finite(parts[0], f"{where} Coordinates latitude", lo=-90, hi=90)
    lon = finite(parts[1], f"{where} Coordinates longitude", lo=-180, hi=180)
    _check_lat_lon(fields, lat, lon, where)
    _check_jam(fields.get("Jam"), when, where)
    magnitude = finite(fields.get("Magnitude"), f"{where} Magnitude", lo=0, hi=10)
    depth = None
    if fields.get("Kedalaman"):
        m = _DEPTH.match(str(fields["Kedalaman"]).strip())
        if m is None:
            raise IngestError(f"{where} Kedalaman", f"not 'N km': {str(fields['Kedalaman'])[:40]!r}")
        depth = finite(m.group(1), f"{where} Kedalaman", lo=-10, hi=1000)
    wilayah = clean_text(fields.get("Wilayah"), 300)
    radius = felt_radius_km(magnitude)
    kec: list[str] = []
    desa: list[str] = []
    if regions is not None:
        kec, desa = regions.touching(circle(lat, lon, radius))
    local_time = when.astimezone(dt.timezone(dt.timedelta(hours=7)))
    text = f"Gempa M{magnitude:.1f} {local_time:%H.%M} WIB, {wilayah}".rstrip(", ")
    if depth is not None:
        text += f", kedalaman {depth:g} km"
    detail: dict[str, Any] = {"felt_radius_km": round(radius, 1), "wilayah": wilayah}
    for key in ("Potensi", "Dirasakan", "Shakemap", "Tanggal", "Jam"):
        if fields.get(key):
            detail[key.lower()] = clean_text(fields[key], 500)
    if depth is not None:
        detail["depth_km"] = depth
    return Item(
        source=SOURCE, kind="quake", id=f"{when:%Y-%m-%dT%H:%M:%SZ}@{lat:.2f},{lon:.2f}", time=when,
        text=text, lat=lat, lon=lon, kecamatan=kec, desa=desa, magnitude=magnitude, detail=detail,
    )  # fmt: skip


def _check_lat_lon(fields: dict[str, str | None], lat: float, lon: float, where: str) -> None:
    """Lintang "3.12 LS" / Bujur "104.9 BT" must say what Coordinates says."""
    text_lat, text_lon = (fields.get("Lintang") or "").strip(), (fields.get("Bujur") or "").strip()
    if text_lat:
        m = _LAT.match(text_lat)
        if m is None:
            raise IngestError(f"{where} Lintang", f"not 'N LS|LU': {text_lat[:40]!r}")
        value = float(m.group(1)) * (-1 if m.group(2) == "LS" else 1)
        if abs(value - lat) > 0.011:
            raise IngestError(f"{where} Lintang", f"{text_lat} contradicts Coordinates latitude {lat}")
    if text_lon:
        m = _LON.match(text_lon)
        if m is None:
            raise IngestError(f"{where} Bujur", f"not 'N BT|BB': {text_lon[:40]!r}")
        value = float(m.group(1)) * (-1 if m.group(2) == "BB" else 1)
        if abs(value - lon) > 0.011:
            raise IngestError(f"{where} Bujur", f"{text_lon} contradicts Coordinates longitude {lon}")


def _check_jam(jam: str | None, when: dt.datetime, where: str) -> None:
    """Jam "14:35:21 WIB" must be DateTime in that zone."""
    if not jam:
        return
    m = _JAM.match(jam.strip())
    if m is None:
        raise IngestError(f"{where} Jam", f"not 'HH:MM:SS WIB|WITA|WIT': {jam[:40]!r}")
    zone = dt.timezone(dt.timedelta(hours=ZONES[m.group(4)]))
    expected = when.astimezone(zone)
    if (expected.hour, expected.minute, expected.second) != tuple(int(g) for g in m.group(1, 2, 3)):
        raise IngestError(f"{where} Jam", f"{jam.strip()} contradicts DateTime {when.isoformat()}")


def _as_fields(obj: Any, where: str) -> dict[str, str | None]:
    if not isinstance(obj, dict):
        raise IngestError(where, "not an object")
    out: dict[str, str | None] = {}
    for key in FIELDS:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise IngestError(
                f"{where} {key}", f"not a string (BMKG sends every value as a string): {value!r:.40}"
            )
        out[key] = value
    return out


def parse_json(data: bytes, regions: Regions | None = None) -> list[Item]:
    check_size(data)
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError("document", f"not JSON: {exc}") from None
    gempa = (
        doc.get("Infogempa", {}).get("gempa")
        if isinstance(doc, dict) and isinstance(doc.get("Infogempa"), dict)
        else None
    )
    if gempa is None:
        raise IngestError("document", "no Infogempa.gempa")
    quakes = gempa if isinstance(gempa, list) else [gempa]
    return [_quake(_as_fields(q, f"gempa[{i}]"), f"gempa[{i}]", regions) for i, q in enumerate(quakes)]


def parse_xml_doc(data: bytes, regions: Regions | None = None) -> list[Item]:
    root = parse_xml(data)
    if local(root.tag) != "Infogempa":
        raise IngestError("document", f"root element is <{local(root.tag)}>, not <Infogempa>")
    items = []
    for i, g in enumerate(children(root, "gempa")):
        fields: dict[str, str | None] = {k: child_text(g, k) for k in FIELDS}
        point = next(iter(children(g, "point")), None)
        if point is not None and fields.get("Coordinates") is None:
            fields["Coordinates"] = child_text(point, "coordinates")
        items.append(_quake(fields, f"gempa[{i}]", regions))
    if not items:
        raise IngestError("document", "no <gempa> element")
    return items


def parse(data: bytes, regions: Regions | None = None) -> list[Item]:
    """JSON or XML, told apart by the first character."""
    head = data.lstrip()[:1]
    return parse_xml_doc(data, regions) if head == b"<" else parse_json(data, regions)
