"""The map's context layers as the engine derives them (commandcenter.core.hazard_layers):
the felt-radius rule, warnings that leave at their expiry on the store's clock, stale sources
marked stale with their age, FIRMS detections grouped into fires, and every item drawn whether
it touches OKI or not (touchesOki only tells which)."""

from __future__ import annotations

import datetime as dt

import pytest

from commandcenter.core import protocol as p
from commandcenter.core.hazard_layers import (
    LAYERS,
    cluster_points,
    felt_radius_km,
    intensity_mmi,
    map_layers,
)
from commandcenter.core.i18n import strings_for
from commandcenter.core.model import HazardItem, SourceStatus
from commandcenter.core.store import Store
from commandcenter.core.timeutil import WIB, FakeClock
from tests.factories import make_event

T = dt.datetime(2026, 12, 4, 16, 0, tzinfo=dt.UTC)  # 23.00 WIB
ID = strings_for("id")
EN = strings_for("en")


def _store() -> tuple[Store, FakeClock]:
    clock = FakeClock(T)
    return Store(clock=clock), clock


def _put(store: Store, *bodies: p.EventBody) -> None:
    for body in bodies:
        store.apply(make_event(body, seq=store.seq + 1, ts=store.clock()))


def _warning(wid: str, *, expires: dt.datetime, severity: str = "severe", kecamatan: list[str] | None = None,
             ring: list[tuple[float, float]] | None = None) -> p.HazardReported:
    return p.HazardReported(item=HazardItem(
        source="bmkg-cap", kind="warning", id=wid, time=T - dt.timedelta(minutes=5), expires=expires,
        text="Hujan Lebat disertai Petir di Sumatera Selatan", severity=severity,  # type: ignore[arg-type]
        kecamatan=kecamatan if kecamatan is not None else ["Kayu Agung", "Jejawi"],
        area=[ring or [(-3.33, 104.84), (-3.33, 104.93), (-3.42, 104.93), (-3.42, 104.84)]],
    ))  # fmt: skip


def _layer(data: dict, name: str) -> dict:
    return next(layer for layer in data["layers"] if layer["id"] == name)


def _keys(data: dict, name: str) -> list[str]:
    return [f["properties"]["key"] for f in _layer(data, name)["features"]["features"]]


# --- the felt radius -------------------------------------------------------------------


def test_the_felt_radius_follows_allen_wald_worden_2012() -> None:
    # The equation at a few points worked by hand: M6, 10 km deep, at 100 km hypocentral:
    # RM = -0.209 + 2.042 e^1 = 5.342; 2.085 + 8.568 - 1.402 ln(100.14) + 0.078 ln 2 = 4.249.
    assert intensity_mmi(6.0, 100.0) == pytest.approx(4.249, abs=0.001)
    # Within 50 km no far term: M5 at 20 km, RM = 1.833: 2.085 + 7.14 - 1.402 ln(20.08) = 5.02.
    assert intensity_mmi(5.0, 20.0) == pytest.approx(5.019, abs=0.001)
    # The ring is where the intensity falls to MMI III, measured on the surface.
    for magnitude, depth in ((5.0, 10.0), (6.1, 35.0), (7.0, 100.0)):
        radius = felt_radius_km(magnitude, depth)
        hypo = (radius**2 + depth**2) ** 0.5
        assert intensity_mmi(magnitude, hypo) == pytest.approx(3.0, abs=1e-6)
    # Bigger quakes are felt farther; deeper ones less far; a weak deep one not at all.
    assert felt_radius_km(4.0) < felt_radius_km(5.0) < felt_radius_km(6.0) < felt_radius_km(7.0)
    assert 50 < felt_radius_km(5.0, 10.0) < 120
    assert felt_radius_km(6.0, 150.0) < felt_radius_km(6.0, 10.0)
    assert felt_radius_km(4.0, 35.0) == 0.0
    # No depth: BMKG's shallow default of 10 km.
    assert felt_radius_km(5.5) == felt_radius_km(5.5, 10.0)


def test_the_quake_layer_writes_the_magnitude_and_the_ring() -> None:
    store, _ = _store()
    quake = HazardItem(source="bmkg-quake", kind="quake", id="q1", time=T - dt.timedelta(minutes=3),
                       lat=-4.35, lon=104.05, magnitude=6.1, kecamatan=["Kayu Agung"],
                       detail={"wilayah": "21 km BaratLaut OKU Selatan", "depth_km": 35.0})  # fmt: skip
    _put(store, p.HazardReported(item=quake))
    data = map_layers(store, ID, anchors=[(-3.40, 104.83)])
    (feature,) = _layer(data, "quake")["features"]["features"]
    props = feature["properties"]
    assert feature["geometry"]["coordinates"] == [104.05, -4.35]
    assert props["label"] == "M 6,1"
    assert props["radiusM"] == round(felt_radius_km(6.1, 35.0) * 1000)
    assert "kedalaman 35 km" in props["detail"] and "09.12" not in props["detail"]
    assert props["detail"].startswith((T - dt.timedelta(minutes=3)).astimezone(WIB).strftime("%H.%M"))
    assert props["away"].endswith("km dari OKI") and props["latest"]
    assert map_layers(store, EN)["layers"][1]["features"]["features"][0]["properties"]["label"] == "M 6.1"


# --- warnings --------------------------------------------------------------------------


def test_a_warning_leaves_the_layer_at_its_expiry_on_the_store_clock() -> None:
    store, clock = _store()
    expires = dt.datetime(2026, 12, 4, 19, 0, tzinfo=dt.UTC)  # 02.00 WIB
    _put(store, _warning("CSS3", expires=expires))
    data = map_layers(store, ID)
    (feature,) = _layer(data, "warning")["features"]["features"]
    assert feature["properties"]["validity"] == "berlaku s.d. 02.00 WIB"
    assert feature["properties"]["severityLabel"] == "Berat"
    assert feature["geometry"]["type"] == "MultiPolygon"
    ring = feature["geometry"]["coordinates"][0][0]
    assert ring[0] == [104.84, -3.33] and ring[0] == ring[-1]  # GeoJSON order, closed
    assert map_layers(store, EN)["layers"][0]["features"]["features"][0]["properties"]["validity"] == (
        "valid until 02.00 WIB"
    )
    clock.now = expires - dt.timedelta(seconds=1)
    assert _keys(map_layers(store, ID), "warning") == ["bmkg-cap/CSS3"]
    # At the expiry the layer has it no more, though the store still holds it until its tick.
    clock.now = expires
    assert "bmkg-cap/CSS3" in store.hazards
    assert _keys(map_layers(store, ID), "warning") == []
    assert _keys(map_layers(store, ID, now=expires - dt.timedelta(minutes=1)), "warning") == ["bmkg-cap/CSS3"]


def test_every_warning_is_drawn_and_touches_oki_only_by_its_districts() -> None:
    store, _ = _store()
    expires = T + dt.timedelta(hours=3)
    # Palembang: inside OKI's bounding box, outside OKI: the adapter found no district.
    palembang = [(-2.93, 104.70), (-2.93, 104.80), (-3.02, 104.80), (-3.02, 104.70)]
    plg = _warning("PLG", expires=expires, kecamatan=[], ring=palembang, severity="extreme")
    _put(store, _warning("OKI", expires=expires), plg)
    features = _layer(map_layers(store, ID), "warning")["features"]["features"]
    touches = {f["properties"]["key"]: f["properties"]["touchesOki"] for f in features}
    assert touches == {"bmkg-cap/OKI": True, "bmkg-cap/PLG": False}
    assert [f["properties"]["outside"] for f in features] == ["", "di luar OKI"]
    # Least severe first: the page draws in order, the most severe ends on top.
    assert [f["properties"]["severity"] for f in features] == ["severe", "extreme"]


# --- stale sources ------------------------------------------------------------------------


def test_a_stale_source_marks_its_layer_stale_with_its_age() -> None:
    store, clock = _store()
    _put(store, _warning("CSS3", expires=T + dt.timedelta(hours=6)))
    _put(store, p.SourceStatusChanged(status=SourceStatus(
        name="bmkg-nowcast", kind="bmkg-rss", state="live", at=T, last_ok=T, stale_after_s=900.0)))
    layer = _layer(map_layers(store, ID), "warning")
    assert not layer["stale"] and layer["state"] == "live"
    assert layer["status"] == "BMKG 0 detik" and layer["sources"] == ["bmkg-nowcast"]
    # The hub says nothing more: past stale_after_s on the wall's own clock the layer is stale.
    clock.advance(2 * 3600)
    layer = _layer(map_layers(store, ID), "warning")
    assert layer["stale"] and layer["state"] == "stale" and layer["ageS"] == 7200
    assert layer["status"] == "BMKG: data berumur 2 jam"
    assert _layer(map_layers(store, EN), "warning")["status"] == "BMKG: data 2 h old"
    # Its warning is still drawn (it has not expired), in a layer that says it is stale.
    assert _keys(map_layers(store, ID), "warning") == ["bmkg-cap/CSS3"]
    # Another layer's source does not make this one stale or fresh.
    assert not _layer(map_layers(store, ID), "quake")["stale"]


def test_a_failing_source_is_stale_and_a_layer_without_status_is_unknown() -> None:
    store, _ = _store()
    _put(store, p.SourceStatusChanged(status=SourceStatus(
        name="firms-sumsel", kind="firms", state="failing", at=T, last_ok=T - dt.timedelta(minutes=30),
        error="HTTP 503")))  # fmt: skip
    layer = _layer(map_layers(store, ID), "hotspot")
    assert layer["stale"] and layer["state"] == "failing"
    assert layer["status"] == "NASA FIRMS gagal: data berumur 30 menit"
    report = _layer(map_layers(store, ID), "report")
    assert report["state"] == "unknown" and not report["stale"] and report["ageS"] is None


# --- hotspots and reports --------------------------------------------------------------------


def test_hotspots_are_grouped_into_fires_by_the_adapters_rule() -> None:
    # 1.5 km single linkage: a chain of points 1 km apart is one fire, a point 3 km away another.
    chain = [(-3.2300, 105.0600), (-3.2390, 105.0600), (-3.2480, 105.0600)]
    far = [(-3.2300, 105.0900)]
    assert cluster_points(chain + far) == [0, 0, 0, 1]
    assert cluster_points([]) == []
    store, _ = _store()
    for i, (lat, lon) in enumerate(chain + far):
        _put(store, p.HazardReported(item=HazardItem(
            source="firms", kind="hotspot", id=f"h{i}", time=T - dt.timedelta(hours=1), lat=lat, lon=lon,
            kecamatan=["Pangkalan Lampam"] if i < 3 else [],
            detail={"confidence": "tinggi" if i == 1 else "nominal", "frp_mw": 3.5 + i,
                    "instrument": "VIIRS"},
        )))  # fmt: skip
    layer = _layer(map_layers(store, ID), "hotspot")
    fires = sorted((f["properties"] for f in layer["features"]["features"]), key=lambda f: -f["count"])
    assert [f["count"] for f in fires] == [3, 1]
    assert fires[0]["frpMax"] == 5.5 and fires[0]["confidence"] == "tinggi"
    assert fires[0]["label"] == "3 titik · FRP maks 5,5 MW"
    assert "keyakinan tinggi" in fires[0]["detail"]
    assert fires[0]["touchesOki"] and not fires[1]["touchesOki"]
    english = _layer(map_layers(store, EN), "hotspot")["features"]["features"]
    assert english[0]["properties"]["detail"].startswith("VIIRS · high confidence")


def test_flood_reports_carry_their_depth_and_age_out() -> None:
    store, clock = _store()
    _put(store, p.HazardReported(item=HazardItem(
        source="petabencana", kind="report", id="381204", time=T - dt.timedelta(minutes=10), lat=-3.39,
        lon=104.89, text="Air masuk rumah", kecamatan=["Kayu Agung"], detail={"flood_depth_cm": 60.0})))
    (feature,) = _layer(map_layers(store, ID), "report")["features"]["features"]
    assert feature["properties"]["label"] == "60 cm"
    assert feature["properties"]["text"] == "Air masuk rumah"
    clock.advance(store.report_window_s)
    assert _layer(map_layers(store, ID), "report")["count"] == 0


def test_layers_on_by_default_come_from_the_caller() -> None:
    store, _ = _store()
    data = map_layers(store, ID, enabled=["warning", "quake"])
    assert [layer["id"] for layer in data["layers"]] == list(LAYERS)
    assert {layer["id"]: layer["on"] for layer in data["layers"]} == {
        "warning": True, "quake": True, "hotspot": False, "report": False}
    assert [layer["title"] for layer in data["layers"]] == [
        "Peringatan dini BMKG", "Gempa BMKG", "Titik panas", "Laporan banjir warga"]
