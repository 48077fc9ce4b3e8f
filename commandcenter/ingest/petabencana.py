"""Citizen flood reports from PetaBencana.id.

data.petabencana.id/reports?admin=…&disaster=flood&timeperiod=…&geoformat=geojson answers
``{"statusCode": 200, "result": {"type": "FeatureCollection", "features": [...]}}``; each
feature is a Point with properties pkey, created_at, source, status, disaster_type,
report_data (flood_depth in cm for floods), tags, title, text, image_url. The text comes from
the public: shown as plain text only, never as markup, and the image only as a link.
"""

from __future__ import annotations

import json
from typing import Any

from commandcenter.ingest.items import IngestError, Item, aware_time, check_size, clean_text, finite
from commandcenter.ingest.regions import Regions

SOURCE = "petabencana"
KINDS = {"flood": "banjir", "earthquake": "gempa", "fire": "kebakaran", "haze": "kabut asap",
         "wind": "angin kencang", "volcano": "gunung api"}  # fmt: skip


def parse(data: bytes, regions: Regions | None = None) -> list[Item]:
    check_size(data)
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError("document", f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise IngestError("document", "not a JSON object")
    if "statusCode" in doc and doc["statusCode"] != 200:
        raise IngestError("statusCode", f"the service answered {doc['statusCode']!r}")
    result = doc.get("result", doc)
    if not isinstance(result, dict) or result.get("type") != "FeatureCollection":
        raise IngestError("result", "not a GeoJSON FeatureCollection")
    features = result.get("features")
    if not isinstance(features, list):
        raise IngestError("result.features", "not a list")
    items = []
    for i, feat in enumerate(features):
        items.append(_report(feat, f"features[{i}]", regions))
    return items


def _report(feat: Any, where: str, regions: Regions | None) -> Item:
    if not isinstance(feat, dict):
        raise IngestError(where, "not an object")
    geom = feat.get("geometry") or {}
    if (
        geom.get("type") != "Point"
        or not isinstance(geom.get("coordinates"), list)
        or len(geom["coordinates"]) < 2
    ):
        raise IngestError(f"{where} geometry", "not a GeoJSON Point")
    lon = finite(geom["coordinates"][0], f"{where} geometry longitude", lo=-180, hi=180)
    lat = finite(geom["coordinates"][1], f"{where} geometry latitude", lo=-90, hi=90)
    props = feat.get("properties")
    if not isinstance(props, dict):
        raise IngestError(f"{where} properties", "missing")
    pkey = str(props.get("pkey") or "").strip()
    if not pkey or len(pkey) > 64:
        raise IngestError(f"{where} properties.pkey", "missing or longer than 64 characters")
    when = aware_time(str(props.get("created_at") or ""), f"{where} properties.created_at")
    disaster = str(props.get("disaster_type") or "flood")
    report_data = props.get("report_data") or {}
    if not isinstance(report_data, dict):
        raise IngestError(f"{where} properties.report_data", "not an object")
    depth = None
    if report_data.get("flood_depth") is not None:
        depth = finite(
            report_data["flood_depth"], f"{where} properties.report_data.flood_depth", lo=0, hi=2000
        )
    kec, desa = regions.place(lat, lon) if regions is not None else ("", "")
    word = KINDS.get(disaster, disaster)
    text = f"Laporan warga: {word}"
    if depth is not None:
        text += f" {depth:g} cm"
    if desa:
        text += f" di Desa {desa}, Kecamatan {kec}"
    elif kec:
        text += f" di Kecamatan {kec}"
    detail: dict[str, Any] = {"disaster_type": clean_text(disaster, 40),
                              "text": clean_text(props.get("text"), 1000),
                              "title": clean_text(props.get("title"), 200),
                              "report_source": clean_text(props.get("source"), 40),
                              "status": clean_text(props.get("status"), 40)}  # fmt: skip
    image = str(props.get("image_url") or "")
    if image.startswith("https://"):
        detail["image_url"] = image[:500]
    if depth is not None:
        detail["flood_depth_cm"] = depth
    return Item(
        source=SOURCE, kind="report", id=pkey, time=when, text=text, lat=lat, lon=lon,
        kecamatan=[kec] if kec else [], desa=[desa] if desa else [], detail=detail,
    )  # fmt: skip
