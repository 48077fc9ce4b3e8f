"""The operator console: queue slot, alert slot and the incident detail pane."""

from __future__ import annotations

from pathlib import Path

import pytest

from commandcenter.core import protocol as p
from commandcenter.core.geo import distance_km
from commandcenter.core.i18n import strings_for
from commandcenter.core.model import AgencyTask, IncidentTimes, Location, Reporter
from tests.factories import incident_event, make_event
from ui.support import theme
from ui.views.console import (
    ConsoleView,
    IncidentDetailWidget,
    format_km,
)

pytestmark = pytest.mark.qt

DESK = theme.metrics_for(1920, 1080, 24, 0.8)
#: The texts of the test configuration's language (display.language = id).
ID = strings_for("id")
t = ID.t
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def console(qtbot, bridge):
    v = ConsoleView(bridge, DESK)
    qtbot.addWidget(v)
    v.resize(1920, 1080)
    return v


def _incident_with_units(store):
    return next(i for i in sorted(store.incidents.values(), key=lambda i: i.id)
                if i.units and i.location.lat is not None and all(u in store.units for u in i.units))


def test_distance_km():
    assert distance_km(0, 0, 0, 1) == pytest.approx(111.195, abs=0.01)
    # Kayuagung to the regency centre, about 57 km.
    assert distance_km(-3.385, 104.891, -3.364, 105.397) == pytest.approx(56.2, abs=0.5)


def test_slots_and_placeholder(qtbot, bridge):
    from PySide6.QtWidgets import QLabel, QWidget

    plain = ConsoleView(bridge, DESK)
    qtbot.addWidget(plain)
    assert plain.alert_slot.objectName() == "alert_slot"
    assert plain.alert_slot.layout().count() == 0
    assert isinstance(plain.queue_widget, QLabel)
    assert plain.queue_widget.text() == t("console.queue_placeholder")

    queue = QWidget()
    with_queue = ConsoleView(bridge, DESK, queue_widget=queue)
    qtbot.addWidget(with_queue)
    assert with_queue.splitter.widget(0) is queue
    assert isinstance(with_queue.detail, IncidentDetailWidget)


def test_detail_shows_the_selected_incident(console, bridge, store):
    detail = console.detail
    assert detail.placeholder.text() == t("detail.none_selected")
    inc = _incident_with_units(store)
    bridge.select_incident(inc.id)
    assert detail.placeholder.isHidden()
    assert detail.ticket.text() == inc.ticket
    assert t(f"priority.{inc.priority}") in detail.headline.text()
    assert t(f"status.{inc.status}") in detail.headline.text()
    assert detail.fields["description"].text() == inc.description
    assert f"{t('detail.time.received')}  {ID.clock(inc.times.received)}" in detail.fields["times"].text()
    assert detail.fields["coords"].text() == f"{inc.location.lat:.5f}, {inc.location.lon:.5f}"
    assert inc.reporter.phone_masked in detail.fields["reporter"].text()
    units_text = detail.fields["units"].text()
    for uid in inc.units:
        unit = store.units[uid]
        km = distance_km(unit.position.lat, unit.position.lon, inc.location.lat, inc.location.lon)
        assert f"{unit.callsign} " in units_text
        assert format_km(ID, km) in units_text
    for task in inc.tasks:
        assert t(f"task.{task.status}") in detail.fields["tasks"].text()
    bridge.select_incident("")
    assert not detail.placeholder.isHidden()


def test_feed_text_is_shown_literally(qtbot, console, bridge, store):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel

    now = store.clock()
    cs = store.apply(incident_event(
        store.seq + 1, epoch=store.epoch, id="inc-hostile", description=HOSTILE,
        reporter=Reporter(name="<b>Budi</b>", phone_masked="0812****789"),
        location=Location(lat=-3.4, lon=104.9, kecamatan="Kayu Agung", desa="<i>Desa</i>",
                          address="Jl. <script>x</script>", km_marker="KM 338", road="Tol Kapal Betung"),
        tasks=[AgencyTask(agency="DAMKAR", status="forwarded", forwarded_at=now, note="<u>catatan</u>")],
        times=IncidentTimes(received=now)))
    with qtbot.waitSignal(bridge.changed, timeout=2000):
        bridge.push_changes(cs)
    bridge.select_incident("inc-hostile")
    detail = console.detail
    label = detail.fields["description"]
    assert label.text() == HOSTILE
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert "<b>Budi</b>" in detail.fields["reporter"].text()
    assert "KM 338 Tol Kapal Betung" in detail.fields["location"].text()
    assert "<u>catatan</u>" in detail.fields["tasks"].text()
    for lab in detail.findChildren(QLabel):
        assert lab.textFormat() == Qt.TextFormat.PlainText, lab.text()


def test_detail_follows_updates_of_the_selected_incident(qtbot, console, bridge, store):
    inc = next(i for i in store.incidents.values() if i.status == "in_handling")
    bridge.select_incident(inc.id)
    closed_at = store.clock()
    fields = {f: getattr(inc, f) for f in inc.__struct_fields__}
    fields.update(version=inc.version + 1, status="closed",
                  times=IncidentTimes(received=inc.times.received, verified=inc.times.verified,
                                      dispatched=inc.times.dispatched, on_scene=inc.times.on_scene,
                                      closed=closed_at))
    cs = store.apply(make_event(p.IncidentUpserted(incident=type(inc)(**fields)), seq=store.seq + 1,
                                epoch=store.epoch))
    with qtbot.waitSignal(bridge.changed, timeout=2000):
        bridge.push_changes(cs)
    qtbot.waitUntil(lambda: t("status.closed") in console.detail.headline.text())
    assert f"{t('detail.time.closed')}  {ID.clock(closed_at)}" in console.detail.fields["times"].text()


def _pixel_stats(path: Path) -> tuple[float, float, int]:
    from PySide6.QtGui import QImage

    img = QImage(str(path))
    assert (img.width(), img.height()) == (1920, 1080)
    dark = bright = total = 0
    colours = set()
    for y in range(0, img.height(), 4):
        for x in range(0, img.width(), 4):
            c = img.pixelColor(x, y)
            lum = (0.2126 * c.red() + 0.7152 * c.green() + 0.0722 * c.blue()) / 255
            dark += lum < 0.15
            bright += lum > 0.75
            colours.add(c.rgb())
            total += 1
    return dark / total, bright / total, len(colours)


def test_screenshot_at_1920x1080(qtbot, console, bridge, store, tmp_path):
    bridge.select_incident(_incident_with_units(store).id)
    console.show()
    qtbot.waitExposed(console)
    path = tmp_path / "console.png"
    assert console.grab().save(str(path))
    dark, bright, colours = _pixel_stats(path)
    assert dark > 0.8
    assert bright > 0.002
    assert colours > 10


def test_feed_names_are_isolated_so_they_cannot_reorder_the_words_around_them(qtbot, console, bridge, store):
    from commandcenter.core.text import FSI, PDI

    now = store.clock()
    cs = store.apply(incident_event(
        store.seq + 1, epoch=store.epoch, id="inc-rtl", description="Api\u202e di dapur",
        reporter=Reporter(name="שלום", phone_masked="0812****789"),
        location=Location(lat=-3.4, lon=104.9, kecamatan="Kayu Agung", desa="שלום 3",
                          address="Jl. \u202eabc"),
        tasks=[AgencyTask(agency="DAMKAR", status="forwarded", forwarded_at=now, note="שלום 12")],
        times=IncidentTimes(received=now)))
    with qtbot.waitSignal(bridge.changed, timeout=2000):
        bridge.push_changes(cs)
    bridge.select_incident("inc-rtl")
    f = console.detail.fields
    assert f["location"].text().splitlines() == [f"{FSI}שלום 3{PDI}, Kayu Agung", "Jl. abc"]
    assert f["reporter"].text().startswith(f"{FSI}שלום{PDI}  0812")
    assert f["tasks"].text().endswith(f" — {FSI}שלום 12{PDI}")
    # A bidi override an older journal may still carry is dropped, not obeyed.
    assert f["description"].text() == "Api di dapur"
