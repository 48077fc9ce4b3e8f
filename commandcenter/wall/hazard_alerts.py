"""Which external items need a human ([alerts.hazards] in config), and what the wall says.

* A CAP warning that touches OKI at ``warning_min_severity`` or above (default Severe):
  "Peringatan dini BMKG: hujan lebat disertai petir di Kecamatan Kayu Agung dan Jejawi,
  berlaku sampai pukul 02.00". The districts are those the warning's polygons touch that its
  description names, in the description's order (BMKG names the districts it means there; a
  polygon edge that grazes a neighbour does not); all touched ones when it names none.
* A quake at ``quake_min_magnitude`` or above whose epicentre lies within
  ``quake_max_distance_km`` of OKI (the nearest configured district centroid).
* Hotspots in a peat district: a new cluster (village and WIB day) once it holds
  ``hotspot_min_count`` hotspots.

Alert ids come from the items (``hazard:<source>/<id>``, ``hotspot:<district>:<village>:<day>``),
so every wall names them alike and an acknowledgement on one console holds on all.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from commandcenter.config import Config
from commandcenter.core.i18n import strings_for
from commandcenter.core.model import SEVERITY_RANK, HazardItem, Priority
from commandcenter.core.timeutil import WIB

EARTH_RADIUS_KM = 6371.0
#: A quake older than this raises nothing (a hub that starts publishes BMKG's latest quake,
#: which may be days old: news, not an alarm). Hotspots alarm only on the day they were seen.
QUAKE_ALERT_WITHIN_S = 3600.0


@dataclass(frozen=True)
class HazardAlert:
    parts: tuple[str, ...]
    priority: Priority
    text: str
    kecamatan: str = ""


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _join(names: list[str], lang: str) -> str:
    word = strings_for(lang).t("speech.hazard.and")
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {word} {names[-1]}"


def named_districts(item: HazardItem) -> list[str]:
    """The touched districts the description names, in its order (all touched ones if none)."""
    description = str(item.detail.get("description", "")).lower()
    named = sorted(
        (description.find(k.lower()), k) for k in item.kecamatan if k.lower() in description
    )  # fmt: skip
    return [k for _, k in named] or list(item.kecamatan)


def _event_words(item: HazardItem) -> str:
    """ "hujan lebat disertai petir" from the headline "Hujan Lebat disertai Petir di Sumatera
    Selatan" (the place is said separately), else the CAP event."""
    text = item.text or str(item.detail.get("event", ""))
    head = text.split(" di ")[0].strip() if " di " in text else text.strip()
    return head[:1].lower() + head[1:].lower() if head else ""


def warning_alert(item: HazardItem, cfg: Config, lang: str) -> HazardAlert | None:
    rules = cfg.alerts.hazards
    if item.kind != "warning" or not item.kecamatan or item.cancel:
        return None
    if SEVERITY_RANK.get(item.severity or "unknown", 9) > SEVERITY_RANK[rules.warning_min_severity]:
        return None
    districts = named_districts(item)
    until = item.expires.astimezone(WIB).strftime("%H.%M") if item.expires else "-"
    event = _event_words(item)
    text = strings_for(lang).t(
        "speech.hazard.warning", peristiwa=event, event=event, kecamatan=_join(districts, lang),
        sampai=until, until=until,
    )  # fmt: skip
    priority: Priority = "high" if item.severity in ("extreme", "severe") else "medium"
    return HazardAlert(("hazard", f"{item.source}/{item.id}"), priority, text, ", ".join(districts))


def quake_alert(item: HazardItem, cfg: Config, lang: str, now: dt.datetime) -> HazardAlert | None:
    rules = cfg.alerts.hazards
    if item.kind != "quake" or item.magnitude is None or item.magnitude < rules.quake_min_magnitude:
        return None
    if (now - item.time).total_seconds() > QUAKE_ALERT_WITHIN_S:
        return None
    if item.lat is None or item.lon is None:
        return None
    if cfg.districts:
        distance = min(distance_km(item.lat, item.lon, d.lat, d.lon) for d in cfg.districts)
    elif item.kecamatan:
        distance = 0.0
    else:
        return None
    if distance > rules.quake_max_distance_km:
        return None
    strings = strings_for(lang)
    magnitude = strings.number(item.magnitude, 1)
    km = strings.number(round(distance))
    region = str(item.detail.get("wilayah", ""))
    text = strings.t(
        "speech.hazard.quake", magnitudo=magnitude, magnitude=magnitude, jarak=km, distance=km,
        wilayah=region, region=region,
    )  # fmt: skip
    priority: Priority = "high" if item.magnitude >= 6.0 else "medium"
    return HazardAlert(("hazard", f"{item.source}/{item.id}"), priority, text.rstrip(", "))


def hotspot_cluster(item: HazardItem, cfg: Config) -> tuple[str, str, str] | None:
    """The (district, village, WIB day) cluster of a hotspot in a peat district, or None
    (an alert is raised only for a cluster of the current WIB day: see is_today)."""
    if item.kind != "hotspot":
        return None
    peat = set(cfg.alerts.hazards.peat_districts)
    kec = next((k for k in item.kecamatan if k in peat), None)
    if kec is None:
        return None
    desa = item.desa[0] if item.desa else ""
    return (kec, desa, item.time.astimezone(WIB).date().isoformat())


def is_today(cluster: tuple[str, str, str], now: dt.datetime) -> bool:
    return cluster[2] == now.astimezone(WIB).date().isoformat()


def hotspot_alert(cluster: tuple[str, str, str], count: int, lang: str) -> HazardAlert:
    kec, desa, day = cluster
    text = strings_for(lang).t("speech.hazard.hotspot", kecamatan=kec, n=count, desa=desa or "-")
    return HazardAlert(("hotspot", kec, desa, day), "medium", text, kec)

