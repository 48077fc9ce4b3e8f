"""Alerts from external items: the rules of [alerts.hazards] one by one, and end to end the
BMKG nowcast sample injected into the real server, the wall raising the warning's alert with its
spoken text and clearing it by itself when the warning expires."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest

from commandcenter.config import load_defaults
from commandcenter.core import protocol as p
from commandcenter.core.model import HazardItem
from commandcenter.core.store import Store
from commandcenter.core.timeutil import FakeClock
from commandcenter.ingest import bmkg_quake, cap
from commandcenter.ingest.publish import to_hazard
from commandcenter.ingest.regions import load_regions
from commandcenter.wall.alerts import AlertAction, AlertEngine
from commandcenter.wall.feed import FeedSettings
from commandcenter.wall.session import WallSession
from tests.conftest import ROOT
from tests.factories import make_event
from tests.serverproc import WALL, ServerProcess, admin_inject, wait_client

FIXTURES = ROOT / "tests" / "fixtures" / "ingest"
SPOKEN = (
    "Peringatan dini BMKG: hujan lebat disertai petir di Kecamatan Kayu Agung dan Jejawi, "
    "berlaku sampai pukul 02.00"
)


@pytest.fixture(scope="module")
def regions() -> Any:
    return load_regions("", "")


def _cap(name: str, regions: Any) -> HazardItem:
    return to_hazard(cap.parse_alert((FIXTURES / name).read_bytes(), regions))


def _engine(at: dt.datetime, lang: str = "id") -> tuple[AlertEngine, Store, FakeClock]:
    clock = FakeClock(at)
    store = Store(clock=clock)
    return AlertEngine(load_defaults(), store, clock=clock, language=lang), store, clock


def _apply(engine: AlertEngine, store: Store, item: HazardItem, seq: int) -> list[AlertAction]:
    return engine.on_changes(store.apply(make_event(p.HazardReported(item=item), seq=seq)))


def test_an_oki_warning_speaks_the_districts_it_names_and_its_validity(regions: Any) -> None:
    item = _cap("CSS20261204003_alert.xml", regions)
    engine, store, _ = _engine(item.time + dt.timedelta(minutes=1))
    raised = [a for a in _apply(engine, store, item, 1) if a.kind == "raise"]
    assert len(raised) == 1 and raised[0].speech == SPOKEN and raised[0].priority == "high"
    assert raised[0].sound is not None
    english, estore, _ = _engine(item.time + dt.timedelta(minutes=1), "en")
    (action,) = [a for a in _apply(english, estore, item, 1) if a.kind == "raise"]
    assert action.text == (
        "BMKG early warning: hujan lebat disertai petir in Kayu Agung and Jejawi district, valid until 02.00"
    )


def test_a_warning_over_palembang_only_or_below_the_severity_raises_nothing(regions: Any) -> None:
    outside = _cap("CSS20261204004_alert.xml", regions)
    engine, store, _ = _engine(outside.time + dt.timedelta(minutes=1))
    assert not [a for a in _apply(engine, store, outside, 1) if a.kind == "raise"]
    moderate = msgspec.structs.replace(_cap("CSS20261204003_alert.xml", regions), severity="moderate")
    assert not [a for a in _apply(engine, store, moderate, 2) if a.kind == "raise"]


def test_a_quake_raises_by_magnitude_and_distance(regions: Any) -> None:
    quake = to_hazard(bmkg_quake.parse((FIXTURES / "autogempa.json").read_bytes(), regions)[0])
    assert quake.magnitude == 6.1
    engine, store, _ = _engine(quake.time + dt.timedelta(minutes=1))
    (action,) = [a for a in _apply(engine, store, quake, 1) if a.kind == "raise"]
    assert action.text.startswith("Gempa magnitudo 6,1, ") and "kilometer dari Kabupaten OKI" in action.text
    far = msgspec.structs.replace(quake, id="far", lat=-8.5, lon=115.2)  # Bali
    small = msgspec.structs.replace(quake, id="small", magnitude=4.9)
    old = msgspec.structs.replace(quake, id="old", time=quake.time - dt.timedelta(hours=2))  # news, no alarm
    quiet = _apply(engine, store, far, 2) + _apply(engine, store, small, 3) + _apply(engine, store, old, 4)
    assert not [a for a in quiet if a.kind == "raise"]


def test_a_new_hotspot_cluster_in_a_peat_district_raises_once(regions: Any) -> None:
    when = dt.datetime(2026, 9, 14, 6, 18, tzinfo=dt.UTC)
    base = HazardItem(source="firms", kind="hotspot", id="h1", time=when, lat=-3.23, lon=105.05,
                      kecamatan=["Pangkalan Lampam"], desa=["Deling"])  # fmt: skip
    engine, store, _ = _engine(base.time + dt.timedelta(minutes=5))
    (action,) = [a for a in _apply(engine, store, base, 1) if a.kind == "raise"]
    assert action.text == "Titik panas baru di Kecamatan Pangkalan Lampam: 1 titik, Desa Deling"
    again = msgspec.structs.replace(base, id="h2")
    assert not [a for a in _apply(engine, store, again, 2) if a.kind == "raise"]  # same cluster
    elsewhere = msgspec.structs.replace(base, id="h3", kecamatan=["Kayu Agung"], desa=["Kayuagung"])
    assert not [a for a in _apply(engine, store, elsewhere, 3) if a.kind == "raise"]  # not peat
    yesterday = msgspec.structs.replace(base, id="h4", desa=["Riding"], time=when - dt.timedelta(days=1))
    assert not [a for a in _apply(engine, store, yesterday, 4) if a.kind == "raise"]  # not today


@pytest.mark.slow
async def test_the_cap_sample_through_the_server_raises_the_spoken_alert_and_expiry_clears_it(
    tmp_path: Path, regions: Any
) -> None:
    item = _cap("CSS20261204003_alert.xml", regions)
    clock = FakeClock(item.time + dt.timedelta(minutes=1))
    server = ServerProcess(tmp_path / "server.sqlite3").start()
    settings = FeedSettings(url=server.url, token=WALL, client_id="wall-hazard-alerts",
                            heartbeat_timeout_s=2.0, reconnect_min_s=0.05, reconnect_max_s=0.5)  # fmt: skip
    session = await WallSession.open(load_defaults(), tmp_path / "wall.sqlite3", settings, clock=clock)
    actions: list[AlertAction] = []
    session.alerts.action_listeners.append(actions.extend)
    session.start()
    try:
        await admin_inject(server.url, [p.HazardReported(item=item)])
        await wait_client(session.feed, lambda: any(a.kind == "raise" for a in actions), what="the alert")
        (raised,) = [a for a in actions if a.kind == "raise"]
        assert raised.speech == SPOKEN and raised.text == SPOKEN
        assert [a.text for a in session.alerts.active()] == [SPOKEN]
        assert item.expires is not None
        clock.now = item.expires
        session.alerts.tick()
        assert "bmkg-cap/CSS20261204003" not in session.store.hazards
        cleared = [a for a in actions if a.kind == "clear"]
        assert [(a.alert_id, a.reason) for a in cleared] == [(raised.alert_id, "expired")]
        assert session.alerts.active() == []
    finally:
        await session.close()
        server.stop()
