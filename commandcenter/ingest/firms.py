"""NASA FIRMS active fires (karhutla hotspots): the CSV of VIIRS and MODIS detections.

VIIRS columns: latitude, longitude, bright_ti4, scan, track, acq_date, acq_time, satellite,
instrument, confidence (l / n / h), version, bright_ti5, frp, daynight. MODIS has brightness and
bright_t31 instead of bright_ti4/5 and a 0-100 confidence. acq_date and acq_time (HHMM) are UTC.
Each hotspot is placed in its district and village and put in a cluster: detections within
``CLUSTER_KM`` of each other are one fire on the wall, not fifty markers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence

from commandcenter.core.geo import cluster_points
from commandcenter.core.hazard_layers import HOTSPOT_CLUSTER_KM
from commandcenter.ingest.items import IngestError, Item, check_size, finite
from commandcenter.ingest.regions import Regions

SOURCE = "firms"
#: Two detections closer than this belong to the same fire (VIIRS pixels are 375 m, MODIS 1 km).
CLUSTER_KM = HOTSPOT_CLUSTER_KM
VIIRS_CONFIDENCE = {
    "l": "rendah",
    "n": "nominal",
    "h": "tinggi",
    "low": "rendah",
    "nominal": "nominal",
    "high": "tinggi",
}
REQUIRED = ("latitude", "longitude", "acq_date", "acq_time")


def _confidence(raw: str, instrument: str, where: str) -> tuple[str, int | None]:
    """(word, percent): VIIRS says l/n/h, MODIS a percentage."""
    raw = raw.strip().lower()
    if raw in VIIRS_CONFIDENCE:
        return VIIRS_CONFIDENCE[raw], None
    pct = int(finite(raw, where, lo=0, hi=100))
    word = "tinggi" if pct >= 80 else ("nominal" if pct >= 30 else "rendah")
    return word, pct


def _acquired(day: str, hhmm: str, where: str) -> dt.datetime:
    """acq_date (YYYY-MM-DD) and acq_time (HHMM, leading zeros optional), UTC."""
    if not hhmm.isdigit() or len(hhmm) > 4:
        raise IngestError(f"{where} acq_time", f"not HHMM: {hhmm[:10]!r}")
    hhmm = hhmm.zfill(4)
    try:
        when = dt.datetime.strptime(f"{day} {hhmm}", "%Y-%m-%d %H%M").replace(tzinfo=dt.UTC)
    except ValueError:
        raise IngestError(f"{where} acq_date", f"not a date and time: {day[:12]!r} {hhmm}") from None
    if not 2000 <= when.year <= 2100:
        raise IngestError(f"{where} acq_date", f"outside 2000..2100: {day}")
    return when


def parse(data: bytes, regions: Regions | None = None) -> list[Item]:
    check_size(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError("document", f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise IngestError("line 1", f"missing column(s) {', '.join(missing)} (not a FIRMS CSV)")
    if "bright_ti4" not in header and "brightness" not in header:
        raise IngestError("line 1", "neither bright_ti4 (VIIRS) nor brightness (MODIS)")
    col = {name: i for i, name in enumerate(header)}
    width = len(header)
    bright_key = "bright_ti4" if "bright_ti4" in col else "brightness"
    default_instrument = "VIIRS" if bright_key == "bright_ti4" else "MODIS"

    def cell(row: list[str], name: str) -> str:
        i = col.get(name)
        return row[i].strip() if i is not None else ""

    # A CSV of 10,000 detections carries a few dozen distinct acquisition times: parse each once.
    times: dict[tuple[str, str], dt.datetime] = {}
    rows = []
    for n, row in enumerate(reader, start=2):
        where = f"line {n}"
        if len(row) != width:
            if not row:
                continue  # a trailing empty line
            raise IngestError(where, f"{len(row)} columns, {width} expected")
        lat = finite(row[col["latitude"]], f"{where} latitude", lo=-90, hi=90)
        lon = finite(row[col["longitude"]], f"{where} longitude", lo=-180, hi=180)
        day, hhmm = cell(row, "acq_date"), cell(row, "acq_time")
        when = times.get((day, hhmm))
        if when is None:
            when = _acquired(day, hhmm, where)
            times[(day, hhmm)] = when
        instrument = cell(row, "instrument") or default_instrument
        raw_bright = cell(row, bright_key)
        brightness = finite(raw_bright, f"{where} {bright_key}", lo=0, hi=2000) if raw_bright else None
        raw_frp = cell(row, "frp")
        frp = finite(raw_frp, f"{where} frp", lo=0, hi=100000) if raw_frp else None
        word, pct = _confidence(cell(row, "confidence") or "n", instrument, f"{where} confidence")
        rows.append((lat, lon, when, instrument, cell(row, "satellite"), brightness, frp, word, pct,
                     cell(row, "daynight")))  # fmt: skip
    placed = (
        regions.place_many([r[0] for r in rows], [r[1] for r in rows]) if regions else [("", "")] * len(rows)
    )
    clusters = cluster_ids([r[0] for r in rows], [r[1] for r in rows])
    items = []
    for (lat, lon, when, instrument, sat, bright, frp, word, pct, daynight), (kec, desa), cl in zip(
        rows, placed, clusters, strict=True
    ):
        place = f" di Desa {desa}, Kecamatan {kec}" if desa else (f" di Kecamatan {kec}" if kec else "")
        detail: dict[str, object] = {"instrument": instrument, "satellite": sat, "confidence": word,
                                     "cluster": cl, "daynight": daynight}  # fmt: skip
        if pct is not None:
            detail["confidence_pct"] = pct
        if bright is not None:
            detail["brightness_k"] = bright
        if frp is not None:
            detail["frp_mw"] = frp
        items.append(Item(
            source=SOURCE, kind="hotspot", id=f"{sat or instrument}-{when:%Y%m%dT%H%M}-{lat:.4f},{lon:.4f}",
            time=when, text=f"Titik panas {instrument}, keyakinan {word}{place}", lat=lat, lon=lon,
            kecamatan=[kec] if kec else [], desa=[desa] if desa else [], detail=detail,
        ))  # fmt: skip
    return items


def cluster_ids(lats: Sequence[float], lons: Sequence[float], km: float = CLUSTER_KM) -> list[int]:
    """Fire ids of the points (single linkage closer than ``km``, :func:`core.geo.cluster_points`),
    counting from 1 in input order."""
    return [g + 1 for g in cluster_points(lats, lons, km)]
