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
import math
from collections.abc import Sequence

from commandcenter.ingest.items import IngestError, Item, check_size, finite
from commandcenter.ingest.regions import KM_PER_DEG_LAT, Regions

SOURCE = "firms"
#: Two detections closer than this belong to the same fire (VIIRS pixels are 375 m, MODIS 1 km).
CLUSTER_KM = 1.5
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


def parse(data: bytes, regions: Regions | None = None) -> list[Item]:
    check_size(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError("document", f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise IngestError("line 1", f"missing column(s) {', '.join(missing)} (not a FIRMS CSV)")
    if "bright_ti4" not in header and "brightness" not in header:
        raise IngestError("line 1", "neither bright_ti4 (VIIRS) nor brightness (MODIS)")
    rows = []
    for n, row in enumerate(reader, start=2):
        where = f"line {n}"
        if None in row or any(v is None for v in row.values()):
            raise IngestError(where, f"{len(header)} columns expected")
        row = {k.strip(): (v or "").strip() for k, v in row.items()}
        lat = finite(row["latitude"], f"{where} latitude", lo=-90, hi=90)
        lon = finite(row["longitude"], f"{where} longitude", lo=-180, hi=180)
        hhmm = row["acq_time"]
        if not hhmm.isdigit() or len(hhmm) > 4:
            raise IngestError(f"{where} acq_time", f"not HHMM: {hhmm[:10]!r}")
        hhmm = hhmm.zfill(4)
        try:
            when = dt.datetime.strptime(f"{row['acq_date']} {hhmm}", "%Y-%m-%d %H%M").replace(tzinfo=dt.UTC)
        except ValueError:
            raise IngestError(
                f"{where} acq_date", f"not a date and time: {row['acq_date'][:12]!r} {hhmm}"
            ) from None
        if not 2000 <= when.year <= 2100:
            raise IngestError(f"{where} acq_date", f"outside 2000..2100: {row['acq_date']}")
        instrument = row.get("instrument") or ("VIIRS" if "bright_ti4" in row else "MODIS")
        bright_key = "bright_ti4" if "bright_ti4" in row else "brightness"
        brightness = (
            finite(row[bright_key], f"{where} {bright_key}", lo=0, hi=2000) if row.get(bright_key) else None
        )
        frp = finite(row["frp"], f"{where} frp", lo=0, hi=100000) if row.get("frp") else None
        word, pct = _confidence(row.get("confidence", "n") or "n", instrument, f"{where} confidence")
        rows.append((lat, lon, when, instrument, row.get("satellite", ""), brightness, frp, word, pct,
                     row.get("daynight", "")))  # fmt: skip
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
    """Connected components of points closer than ``km`` (single linkage), via a grid of
    ``km``-sized cells so 10,000 points take milliseconds. Ids count from 1 in input order."""
    n = len(lats)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    cell_lat = km / KM_PER_DEG_LAT
    grid: dict[tuple[int, int], list[int]] = {}
    for i in range(n):
        cell_lon = cell_lat / max(0.05, math.cos(math.radians(lats[i])))
        key = (math.floor(lats[i] / cell_lat), math.floor(lons[i] / cell_lon))
        grid.setdefault(key, []).append(i)
    for (cy, cx), members in grid.items():
        neighbours = [j for dy in (-1, 0, 1) for dx in (-1, 0, 1) for j in grid.get((cy + dy, cx + dx), ())]
        for i in members:
            for j in neighbours:
                if j <= i:
                    continue
                dy_km = (lats[i] - lats[j]) * KM_PER_DEG_LAT
                dx_km = (lons[i] - lons[j]) * KM_PER_DEG_LAT * math.cos(math.radians(lats[i]))
                if dy_km * dy_km + dx_km * dx_km <= km * km:
                    ri, rj = find(i), find(j)
                    if ri != rj:
                        parent[max(ri, rj)] = min(ri, rj)
    ids: dict[int, int] = {}
    return [ids.setdefault(find(i), len(ids) + 1) for i in range(n)]
