"""The leader's BMKG panel shows what the store keeps of the external items: the OKI warning
with its severity word and shape and validity, the latest quake, today's peat hotspots, and a
stale source as stale with its age; it disappears when there is nothing to show."""

from __future__ import annotations

import datetime as dt

import pytest

from commandcenter.core import protocol as p
from commandcenter.core.model import HazardItem, SourceStatus
from commandcenter.core.timeutil import FakeClock
from tests.factories import make_event
from ui.support import theme
from ui.views.leader import LeaderView

pytestmark = pytest.mark.qt

WALL = theme.metrics_for(1920, 1080, 55, 6.0)


def _push(qtbot, bridge, store, body: p.EventBody) -> None:
    with qtbot.waitSignal(bridge.changed, timeout=2000):
        bridge.push_changes(store.apply(make_event(body, seq=store.seq + 1)))


def test_the_panel_follows_the_store(qtbot, bridge, store, clock: FakeClock) -> None:
    view = LeaderView(bridge, WALL)
    qtbot.addWidget(view)
    view.resize(1920, 1080)
    panel = view.hazards
    assert panel.isHidden()  # nothing external yet
    now = clock()
    warning = HazardItem(
        source="bmkg-cap", kind="warning", id="CSS1", time=now - dt.timedelta(minutes=5),
        expires=now + dt.timedelta(hours=2), text="Hujan Lebat disertai Petir di Sumatera Selatan",
        kecamatan=["Jejawi", "Kayu Agung"], severity="severe",
        area=[[(-3.33, 104.84), (-3.33, 104.93), (-3.42, 104.93)]],
    )  # fmt: skip
    _push(qtbot, bridge, store, p.HazardReported(item=warning))
    assert not panel.isHidden()
    until = (now + dt.timedelta(hours=2)).astimezone(dt.timezone(dt.timedelta(hours=7))).strftime("%H.%M")
    line = panel.warnings[0].text()
    assert line.startswith("▲ Berat · Hujan Lebat disertai Petir") and f"s.d. {until} WIB" in line
    assert "Jejawi, Kayu Agung" in line and "BMKG 5 menit" in line
    quake = HazardItem(
        source="bmkg-quake",
        kind="quake",
        id="q1",
        time=now - dt.timedelta(minutes=3),
        lat=-4.35,
        lon=104.05,
        magnitude=6.1,
        detail={"wilayah": "21 km BaratLaut OKU Selatan"},
    )
    _push(qtbot, bridge, store, p.HazardReported(item=quake))
    assert panel.quake.text().startswith("Gempa M6,1 · 21 km BaratLaut OKU Selatan")
    hotspot = HazardItem(source="firms", kind="hotspot", id="h1", time=now - dt.timedelta(minutes=30),
                         lat=-3.23, lon=105.05, kecamatan=["Pangkalan Lampam"], desa=["Deling"])  # fmt: skip
    _push(qtbot, bridge, store, p.HazardReported(item=hotspot))
    assert panel.hotspots.text() == "Titik panas hari ini di lahan gambut: Pangkalan Lampam 1"
    status = SourceStatus(name="bmkg-nowcast", kind="bmkg-rss", state="live", at=now, last_ok=now,
                          stale_after_s=600.0)  # fmt: skip
    _push(qtbot, bridge, store, p.SourceStatusChanged(status=status))
    assert panel.sources.isHidden()
    clock.advance(20 * 60)
    bridge.tick.emit()
    assert not panel.sources.isHidden()
    assert panel.sources.text() == "Data lama: bmkg-nowcast (20 menit)"
    # The warning runs out: the store drops it (the alert tick does this on a wall).
    clock.advance(2 * 3600)
    bridge.push_changes(store.expire_hazards())
    qtbot.waitUntil(lambda: panel.warnings[0].text() == "Tidak ada peringatan BMKG untuk OKI")


def test_feed_text_in_the_panel_is_isolated(qtbot, bridge, store, clock: FakeClock) -> None:
    """A right-to-left headline or place name cannot reorder the severity,
    the validity or the source beside it."""
    from commandcenter.core.text import FSI, PDI
    from ui.views.hazards import HazardPanel

    panel = HazardPanel(bridge, WALL)
    qtbot.addWidget(panel)
    now = clock()
    warning = HazardItem(
        source="bmkg-cap", kind="warning", id="CSS2", time=now - dt.timedelta(minutes=5),
        expires=now + dt.timedelta(hours=2), text="שלום 12", kecamatan=["שלום"], severity="severe",
        area=[[(-3.33, 104.84), (-3.33, 104.93), (-3.42, 104.93)]],
    )  # fmt: skip
    _push(qtbot, bridge, store, p.HazardReported(item=warning))
    line = panel.warnings[0].text()
    assert f"{FSI}שלום 12{PDI}" in line and f"{FSI}שלום{PDI}" in line
    quake = HazardItem(source="bmkg-quake", kind="quake", id="q2", time=now - dt.timedelta(minutes=3),
                       lat=-4.35, lon=104.05, magnitude=6.1, detail={"wilayah": "שלום 21 km"})  # fmt: skip
    _push(qtbot, bridge, store, p.HazardReported(item=quake))
    assert f"{FSI}שלום 21 km{PDI}" in panel.quake.text()
