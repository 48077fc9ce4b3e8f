"""The map's context layers at an instant: what the wall draws of the external items.

Four layers, each a plain dict with a GeoJSON FeatureCollection, worded in the wall's language
(the page only draws them):

* ``quake``: BMKG epicentres with a felt-radius ring (:func:`felt_radius_km`) and the magnitude;
* ``warning``: CAP/BMKG warning polygons by severity with their validity ("berlaku s.d. 02.00
  WIB"); a warning whose ``expires`` has passed at ``now`` is not in the layer, whatever the
  store still holds (the store drops it on the wall's next tick);
* ``hotspot``: FIRMS hotspots grouped into fires by the adapter's rule (detections closer than
  :data:`HOTSPOT_CLUSTER_KM` are one fire), with their count, best confidence and FRP;
* ``report``: PetaBencana flood reports with their depth.

Each layer carries its source and age and whether it is stale: a layer is stale when one of
its sources is stale or failing (:meth:`Store.source_state`, the wall's own clock), and then it
says so with the data's age ("data berumur 2 jam"); nothing stale is drawn as current.

Every item the store keeps is drawn, in OKI or not: the map is context around the regency.
Whether an item touches OKI (its ``kecamatan``, from the adapters' polygon intersection with the
shipped boundaries) is told per feature as ``touchesOki`` and only changes how it is drawn;
the alert rules and the leader's panel are where only OKI counts (issue 12).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from typing import Any

from commandcenter.core import geo
from commandcenter.core.geo import distance_km
from commandcenter.core.i18n import Strings
from commandcenter.core.model import SEVERITY_RANK, HazardItem
from commandcenter.core.store import Store
from commandcenter.core.timeutil import WIB

__all__ = [
    "FELT_MMI",
    "HOTSPOT_CLUSTER_KM",
    "LAYERS",
    "LAYER_SOURCES",
    "cluster_points",
    "felt_radius_km",
    "intensity_mmi",
    "map_layers",
]

#: The layers in drawing order (bottom to top) and the config's names for them.
LAYERS: tuple[str, ...] = ("warning", "quake", "hotspot", "report")
#: Which hub source kinds (SourceStatus.kind) feed each layer: their states make it stale.
LAYER_SOURCES: dict[str, tuple[str, ...]] = {
    "quake": ("bmkg-quake",),
    "warning": ("cap", "bmkg-rss"),
    "hotspot": ("firms",),
    "report": ("petabencana",),
}
#: The publisher named on each layer.
LAYER_PUBLISHER = {"quake": "BMKG", "warning": "BMKG", "hotspot": "NASA FIRMS", "report": "PetaBencana"}

#: Modified Mercalli intensity at which a quake counts as felt: III, "felt quite noticeably
#: by persons indoors" (BMKG's Dirasakan lists places from II-III up).
FELT_MMI = 3.0
#: Depth assumed when BMKG gives none (its shallow default).
DEFAULT_DEPTH_KM = 10.0
# Allen, Wald & Worden (2012), "Intensity attenuation for active crustal regions", J. Seismol.
# 16:409-433, hypocentral-distance model (the IPE USGS ShakeMap uses for active crust):
#   MMI = c0 + c1 M + c2 ln(sqrt(R^2 + RM^2)) [+ c4 ln(R / 50) when R > 50 km],
#   RM = m1 + m2 exp(M - 5), R = hypocentral distance (km), ln = natural log.
_C0, _C1, _C2, _C4 = 2.085, 1.428, -1.402, 0.078
_M1, _M2 = -0.209, 2.042
#: Two FIRMS detections closer than this are one fire (the FIRMS adapter uses it too: VIIRS pixels
#: are 375 m, MODIS 1 km).
HOTSPOT_CLUSTER_KM = 1.5
#: How long hotspots and quakes stay on the map (reports follow Store.report_window_s).
HOTSPOT_WINDOW_S = 24 * 3600.0
QUAKE_WINDOW_S = 24 * 3600.0
_CONFIDENCE_RANK = {"tinggi": 0, "nominal": 1, "rendah": 2}


# --- the felt radius ---------------------------------------------------------------------


def intensity_mmi(magnitude: float, hypo_km: float) -> float:
    """Expected MMI at ``hypo_km`` from the hypocentre (Allen, Wald & Worden 2012, see above)."""
    rm = _M1 + _M2 * math.exp(magnitude - 5.0)
    r = max(hypo_km, 0.1)
    mmi = _C0 + _C1 * magnitude + _C2 * math.log(math.sqrt(r * r + rm * rm))
    if r > 50.0:
        mmi += _C4 * math.log(r / 50.0)
    return mmi


def felt_radius_km(magnitude: float, depth_km: float | None = None, felt_mmi: float = FELT_MMI) -> float:
    """How far from the epicentre a quake is felt (MMI ``felt_mmi``, default III): the
    epicentral distance where Allen, Wald & Worden's (2012) intensity falls to it, for the
    given depth. A deeper quake is felt less near its epicentre, so its ring is smaller
    (0 when even the point above it stays below the threshold). About 30 km at M4, 90 km at
    M5 and 260 km at M6 for a 10 km deep quake, none for an M4 at 35 km; an order-of-magnitude
    guide for the wall (the equation's own scatter is about one intensity unit), not a ShakeMap."""
    depth = DEFAULT_DEPTH_KM if depth_km is None or not math.isfinite(depth_km) else max(0.0, depth_km)
    if intensity_mmi(magnitude, depth) < felt_mmi:
        return 0.0
    lo, hi = depth, 20_000.0  # intensity falls with distance: bisect the hypocentral distance
    if intensity_mmi(magnitude, hi) >= felt_mmi:
        return hi
    for _ in range(60):
        mid = (lo + hi) / 2
        if intensity_mmi(magnitude, mid) >= felt_mmi:
            lo = mid
        else:
            hi = mid
    return math.sqrt(max(0.0, lo * lo - depth * depth))


# --- hotspot clusters --------------------------------------------------------------------


def cluster_points(points: Sequence[tuple[float, float]], km: float = HOTSPOT_CLUSTER_KM) -> list[int]:
    """Single-linkage groups of (lat, lon) points closer than ``km`` (the FIRMS adapter's
    rule, :func:`core.geo.cluster_points`); group numbers count from 0 in input order."""
    return geo.cluster_points([p[0] for p in points], [p[1] for p in points], km)


# --- the layers ----------------------------------------------------------------------------


def _hhmm(ts: dt.datetime) -> str:
    return ts.astimezone(WIB).strftime("%H.%M")


def _point(lat: float, lon: float, props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]},
            "properties": props}


def _touches(item: HazardItem) -> bool:
    return bool(item.kecamatan)


def _layer_state(store: Store, layer: str, newest: dt.datetime | None,
                 now: dt.datetime) -> tuple[str, float | None, list[str]]:
    """(state, age in seconds, source names) of a layer from its sources' states: the worst
    state wins (failing, stale, live), the age is the oldest last good poll among them. With
    no source known, "unknown" and the age of the newest item."""
    kinds = LAYER_SOURCES[layer]
    rank = {"failing": 0, "stale": 1, "waiting": 2, "disabled": 3, "live": 4}
    worst, age, names = "", None, []
    for name in sorted(store.sources):
        status = store.sources[name]
        if status.kind not in kinds or status.state == "disabled":
            continue
        state, since = store.source_state(name)
        names.append(name)
        if not worst or rank.get(state, 0) < rank.get(worst, 0):
            worst = state
        if since is None:
            age = math.inf
        elif age is None or since > age:
            age = since
    if not names:
        return "unknown", (now - newest).total_seconds() if newest is not None else None, []
    return worst, (None if age == math.inf else age), names


def _status_text(strings: Strings, layer: str, state: str, age: float | None) -> tuple[bool, str]:
    """(stale, text) for a layer's legend line: "BMKG · 5 menit", or "data berumur 2 jam"."""
    publisher = LAYER_PUBLISHER[layer]
    if age is None:
        return state in ("stale", "failing"), strings.t("map.hazard.never", source=publisher)
    age_text = strings.age_coarse(age)
    if state in ("stale", "failing"):
        key = "map.hazard.failing" if state == "failing" else "map.hazard.stale"
        return True, strings.t(key, source=publisher, age=age_text)
    if state == "waiting":
        return False, strings.t("map.hazard.waiting", source=publisher)
    return False, strings.t("map.hazard.fresh", source=publisher, age=age_text)


def _quakes(items: Iterable[HazardItem], now: dt.datetime, strings: Strings,
            anchors: Sequence[tuple[float, float]]) -> list[dict[str, Any]]:
    out = []
    quakes = sorted((q for q in items if q.lat is not None and q.lon is not None and q.magnitude is not None
                     and (now - q.time).total_seconds() <= QUAKE_WINDOW_S),
                    key=lambda q: q.time, reverse=True)
    for i, q in enumerate(quakes):
        assert q.lat is not None and q.lon is not None and q.magnitude is not None
        raw_depth = q.detail.get("depth_km")
        depth = float(raw_depth) if isinstance(raw_depth, float | int) else None
        radius = felt_radius_km(q.magnitude, depth)
        away = min((distance_km(q.lat, q.lon, a, b) for a, b in anchors), default=None)
        mag = strings.number(q.magnitude, 1)
        detail = strings.t("map.hazard.quake.detail", time=_hhmm(q.time),
                           depth=strings.number(depth if depth is not None else DEFAULT_DEPTH_KM),
                           radius=strings.number(round(radius)))
        out.append(_point(q.lat, q.lon, {
            "key": f"{q.source}/{q.id}",
            "magnitude": q.magnitude,
            "label": strings.t("map.hazard.quake.label", magnitude=mag),
            "detail": detail,
            "where": str(q.detail.get("wilayah", "")),
            "radiusM": round(radius * 1000),
            "latest": i == 0,
            "touchesOki": _touches(q),
            "away": strings.t("map.hazard.quake.away", distance=strings.number(round(away)))
            if away is not None and away >= 1 else "",
            "time": q.time.isoformat(),
            "clock": f"{_hhmm(q.time)} WIB",
        }))
    return out


def _warnings(items: Iterable[HazardItem], now: dt.datetime, strings: Strings) -> list[dict[str, Any]]:
    live = [w for w in items if w.area and (w.expires is None or w.expires > now)]
    # Least severe first: the page draws in order, so the most severe lies on top.
    live.sort(key=lambda w: (-SEVERITY_RANK.get(w.severity or "unknown", 9), w.time, w.id))
    out = []
    for w in live:
        severity = w.severity or "unknown"
        validity = (strings.t("map.hazard.warning.until", until=_hhmm(w.expires)) if w.expires is not None
                    else strings.t("map.hazard.warning.open"))
        rings = [[[round(lon, 5), round(lat, 5)] for lat, lon in ring] for ring in w.area]
        for ring in rings:
            if ring[0] != ring[-1]:
                ring.append(list(ring[0]))
        out.append({"type": "Feature",
                    "geometry": {"type": "MultiPolygon", "coordinates": [[ring] for ring in rings]},
                    "properties": {
                        "key": f"{w.source}/{w.id}",
                        "severity": severity,
                        "severityLabel": strings.t(f"hazards.severity.{severity}"),
                        "validity": validity,
                        "expires": w.expires.isoformat() if w.expires is not None else "",
                        "headline": w.text,
                        "kecamatan": ", ".join(w.kecamatan),
                        "touchesOki": _touches(w),
                        # Said on its label: a warning beside the regency is context, not OKI's.
                        "outside": "" if _touches(w) else strings.t("map.hazard.warning.outside"),
                    }})
    return out


def _hotspots(items: Iterable[HazardItem], now: dt.datetime, strings: Strings) -> list[dict[str, Any]]:
    spots = sorted((h for h in items if h.lat is not None and h.lon is not None
                    and (now - h.time).total_seconds() <= HOTSPOT_WINDOW_S), key=lambda h: (h.time, h.id))
    groups: dict[int, list[HazardItem]] = {}
    for h, g in zip(spots, cluster_points([(h.lat or 0.0, h.lon or 0.0) for h in spots]), strict=True):
        groups.setdefault(g, []).append(h)
    out = []
    for members in groups.values():
        lat = sum(h.lat or 0.0 for h in members) / len(members)
        lon = sum(h.lon or 0.0 for h in members) / len(members)
        frps = [float(v) for h in members if isinstance(v := h.detail.get("frp_mw"), float | int)]
        words = [str(h.detail.get("confidence", "")) for h in members]
        best = min(words, key=lambda w: _CONFIDENCE_RANK.get(w, 9))
        confidence = strings.t(f"map.hazard.confidence.{best}") if best in _CONFIDENCE_RANK else "-"
        frp_max = max(frps, default=None)
        newest = max(h.time for h in members)
        n = len(members)
        label = strings.t("map.hazard.hotspot.label", n=strings.number(n))
        if frp_max is not None:
            label += " · " + strings.t("map.hazard.hotspot.frp", frp=strings.number(frp_max, 1))
        kec = sorted({k for h in members for k in h.kecamatan})
        desa = sorted({d for h in members for d in h.desa})
        out.append(_point(lat, lon, {
            "key": f"{members[0].source}/{members[0].id}",
            "count": n,
            "frpMax": frp_max,
            "frpSum": round(sum(frps), 1) if frps else None,
            "confidence": best,
            "label": label,
            "detail": strings.t("map.hazard.hotspot.detail", confidence=confidence, time=_hhmm(newest),
                                instrument=str(members[-1].detail.get("instrument", "")) or "-"),
            "place": ", ".join(desa[:3] + kec[:2]),
            "touchesOki": any(_touches(h) for h in members),
        }))
    return out


def _reports(items: Iterable[HazardItem], now: dt.datetime, window_s: float,
             strings: Strings) -> list[dict[str, Any]]:
    out = []
    for r in sorted(items, key=lambda r: (r.time, r.id)):
        if r.lat is None or r.lon is None or (now - r.time).total_seconds() > window_s:
            continue
        depth = r.detail.get("flood_depth_cm")
        depth_cm = float(depth) if isinstance(depth, float | int) else None
        out.append(_point(r.lat, r.lon, {
            "key": f"{r.source}/{r.id}",
            "depthCm": depth_cm,
            "label": strings.t("map.hazard.report.depth", depth=strings.number(round(depth_cm)))
            if depth_cm is not None else strings.t("map.hazard.report.nodepth"),
            "detail": f"{_hhmm(r.time)} WIB",
            "text": r.text,
            "touchesOki": _touches(r),
        }))
    return out


def map_layers(store: Store, strings: Strings, *, now: dt.datetime | None = None,
               enabled: Iterable[str] = LAYERS,
               anchors: Sequence[tuple[float, float]] = ()) -> dict[str, Any]:
    """The four context layers at ``now`` (default: the store's clock) from the store's items.

    ``enabled``: the layers shown when the wall starts (config map.hazard_layers); the others
    are drawn off until switched on. ``anchors``: OKI's district centroids, from which a quake's
    distance is told ("180 km dari OKI", for an epicentre beyond the map's edge).
    Returns ``{"at": ISO time, "layers": [layer, ...]}``; each layer is ``{"id", "title",
    "source", "state", "stale", "ageS", "status", "on", "count", "features": GeoJSON
    FeatureCollection}``. Plain data, ready for JSON."""
    now = now or store.clock()
    on = set(enabled)
    by_kind: dict[str, list[HazardItem]] = {k: [] for k in LAYERS}
    for item in store.hazards.values():
        if item.kind in by_kind:
            by_kind[item.kind].append(item)
    features = {
        "quake": _quakes(by_kind["quake"], now, strings, anchors),
        "warning": _warnings(by_kind["warning"], now, strings),
        "hotspot": _hotspots(by_kind["hotspot"], now, strings),
        "report": _reports(by_kind["report"], now, store.report_window_s, strings),
    }
    layers = []
    for layer in LAYERS:
        newest = max((i.time for i in by_kind[layer]), default=None)
        state, age, names = _layer_state(store, layer, newest, now)
        stale, status = _status_text(strings, layer, state, age)
        layers.append({
            "id": layer,
            "title": strings.t(f"map.hazard.layer.{layer}"),
            "source": LAYER_PUBLISHER[layer],
            "sources": names,
            "state": state,
            "stale": stale,
            "ageS": None if age is None else round(age),
            "status": status,
            "on": layer in on,
            "count": len(features[layer]),
            "features": {"type": "FeatureCollection", "features": features[layer]},
        })
    return {"at": now.isoformat(), "layers": layers}
