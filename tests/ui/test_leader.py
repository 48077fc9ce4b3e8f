"""The leader overview shows the store's figures, charts and situations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from commandcenter.config import Config
from commandcenter.core import protocol as p
from commandcenter.core.i18n import strings_for
from commandcenter.core.model import Acknowledgement, IncidentTimes
from commandcenter.core.store import Store
from commandcenter.core.timeutil import FakeClock
from tests.factories import T0, incident_event, make_event
from ui.support import theme
from ui.views.leader import (
    FUNNEL_KEYS,
    HIST_BIN_MIN,
    LeaderView,
    district_rows,
    top_series,
)

pytestmark = pytest.mark.qt

WALL = theme.metrics_for(1920, 1080, 55, 6.0)
#: The texts and formats of the test configuration's language (display.language = id).
ID = strings_for("id")
t, format_int, format_pct, format_minutes = ID.t, ID.number, ID.percent, ID.minutes
format_age_short = ID.age_tile


@pytest.fixture
def view(qtbot, bridge):
    v = LeaderView(bridge, WALL)
    qtbot.addWidget(v)
    v.resize(1920, 1080)
    return v


def test_figures_equal_the_store_kpis(view, store):
    k = store.kpis()
    assert view.active_tile.value.text() == format_int(k.active_total) == "406"
    assert k.unacked_high == len(store.unacked_high_ids())
    assert view.unacked_tile.value.text() == format_int(k.unacked_high)
    assert view.oldest_tile.value.text() == format_age_short(k.oldest_unhandled_age_s)
    oldest = store.incidents[k.oldest_unhandled_id]
    assert view.oldest_tile.detail.text() == f"{oldest.ticket}\n{oldest.location.kecamatan}"
    within = k.arrival.median_s <= k.response_target_s
    assert view.arrival_tile.value.text() == format_minutes(k.arrival.median_s)
    assert view.arrival_state.text() == t("leader.within_target" if within else "leader.over_target")
    assert view.arrival_tile.detail.text() == t(
        "leader.arrival_detail", p90=format_minutes(k.arrival.p90_s),
        pct=format_pct(k.arrival.within_target_share), target="15")
    for key in FUNNEL_KEYS:
        assert view.funnel.counts[key].text() == format_int(getattr(k.funnel, key))
    assert view.funnel.names["prank"].text().endswith(f"{round(k.funnel.prank_share * 100)}%")
    assert view.funnel.names["ghost"].text().endswith(f"{round(k.funnel.ghost_share * 100)}%")


def test_format_helpers():
    assert format_age_short(45) == "45 detik"
    assert format_age_short(82 * 60 + 5) == "82 menit"
    assert format_age_short(3.5 * 3600) == "3,5 jam"
    assert format_int(1206) == "1.206"
    rows = district_rows({"A": 5, "B": 9, "C": 1, "D": 1}, 3, ID)
    assert rows == [("B", 9), ("A", 5), (t("leader.others"), 2)]
    # A right-to-left district name from the feed is isolated, so it cannot pull the count
    # beside it into its own direction; an ordinary name stays as it is.
    rows = district_rows({"\u05d0\u05d1": 3, "Jejawi": 2}, 3, ID)
    assert rows == [("\u2068\u05d0\u05d1\u2069", 3), ("Jejawi", 2)]


def test_unacknowledged_high_on_a_handcrafted_store(qtbot, config):
    from ui.support.bridge import EngineBridge

    store = Store(clock=FakeClock(T0 + dt.timedelta(minutes=5)))
    acked = incident_event(1, id="inc-acked", priority="high", status="received")
    open_ = incident_event(2, id="inc-open", priority="high", status="in_handling")
    closed = incident_event(3, id="inc-closed", priority="high", status="closed",
                            times=IncidentTimes(received=T0, closed=T0 + dt.timedelta(minutes=1)))
    medium = incident_event(4, id="inc-medium", priority="medium", status="received")
    ack = make_event(p.AlertAcknowledged(ack=Acknowledgement(
        ack_id="ack-1", alert_id="al-1", operator="Sari", console="c1", at=T0, incident_id="inc-acked")),
        seq=5)
    store.apply_many([acked, open_, closed, medium, ack])
    assert store.unacked_high_ids() == ["inc-open"]
    bridge = EngineBridge(config, store)
    try:
        view = LeaderView(bridge, WALL)
        qtbot.addWidget(view)
        assert view.unacked_tile.value.text() == "1"  # the store's figure, in alarm red
        assert theme.ALARM_RED in view.unacked_tile.value.styleSheet()
        # Acknowledged on any console: the tile follows the store at once.
        ack2 = make_event(p.AlertAcknowledged(ack=Acknowledgement(
            ack_id="ack-2", alert_id="al-2", operator="Rina", console="c2", at=T0, incident_id="inc-open")),
            seq=6)
        with qtbot.waitSignal(bridge.changed, timeout=2000):
            bridge.push_changes(store.apply(ack2))
        assert view.unacked_tile.value.text() == "0"
        assert theme.OK in view.unacked_tile.value.styleSheet()
    finally:
        bridge.shutdown()


def test_charts_equal_the_kpis(view, store):
    k = store.kpis()
    drawn = view.hourly.stacked_rows()
    top, rows = top_series(k.hourly_by_category, len(view.hourly.series))
    assert list(drawn) == [*top, ""]
    for code, row in zip([*top, ""], rows, strict=True):
        assert drawn[code] == row
    totals = [sum(col) for col in zip(*k.hourly_by_category.values(), strict=True)]
    assert [sum(col) for col in zip(*drawn.values(), strict=True)] == totals

    rows_shown = view.districts.rows
    assert rows_shown == district_rows(k.active_by_kecamatan, len(rows_shown), ID)
    assert [int(w) for w in view.districts.bar.opts["width"]] == [n for _, n in rows_shown]
    assert sum(n for _, n in rows_shown) == k.active_total
    assert view.districts.texts[0].toPlainText() == f"{rows_shown[0][0]} {format_int(rows_shown[0][1])}"

    counts = view.arrivals.counts()
    assert sum(counts) == k.arrival.count
    samples = store.arrival_samples()
    assert len(samples) == k.arrival.count
    expected = [0] * (len(counts))
    for s in samples:
        expected[min(len(counts) - 1, int(s // 60 // HIST_BIN_MIN))] += 1
    assert counts == expected
    # Amber past the target, as the store marks the bins.
    hist = store.arrival_histogram(HIST_BIN_MIN * 60, 60 * 60)
    colours = [b.color().name() for b in view.arrivals.bar.opts["brushes"]]
    assert colours == [theme.OK.lower() if w else theme.WARN.lower() for w in hist.within_target]
    assert view.arrivals.target_line.value() == k.response_target_s / 60
    within_bins = int(k.response_target_s / 60 // HIST_BIN_MIN)
    assert sum(counts[:within_bins]) == k.arrival.within_target


def test_charts_follow_changes_on_tick(qtbot, view, bridge, store):
    bridge._tick_timer.stop()  # the test drives the ticks itself
    before = sum(map(sum, view.hourly.stacked_rows().values()))
    now = store.clock()
    cs = store.apply(incident_event(
        store.seq + 1, epoch=store.epoch, id="inc-new", priority="low", category="sampah_lingkungan",
        times=IncidentTimes(received=now)))
    with qtbot.waitSignal(bridge.changed, timeout=2000):
        bridge.push_changes(cs)
    assert view.active_tile.value.text() == format_int(store.kpis().active_total)  # figures at once
    assert sum(map(sum, view.hourly.stacked_rows().values())) == before  # charts wait for the tick
    bridge.tick.emit()
    assert sum(map(sum, view.hourly.stacked_rows().values())) == before + 1


def _situation_event(store: Store, seq: int, **changes) -> p.Event:
    sit = next(iter(store.situations.values()))
    fields = {f: getattr(sit, f) for f in sit.__struct_fields__}
    fields.update(changes)
    return make_event(p.SituationUpserted(situation=type(sit)(**fields)), seq=seq, epoch=store.epoch)


def test_situation_panel_appears_and_disappears(qtbot, view, bridge, store):
    sit = next(iter(store.situations.values()))
    assert sit.status == "active"
    assert not view.situation.isHidden()
    assert view.situation.name.text() == sit.name
    assert format_int(sit.households_affected) in view.situation.people.text()
    assert format_int(sit.people_evacuated) in view.situation.people.text()
    n = sum(1 for i in store.incidents.values() if i.situation_id == sit.id)
    assert view.situation.reports.text().startswith(t("situation.incidents", n=format_int(n)))

    ended = _situation_event(store, store.seq + 1, version=sit.version + 1, status="ended",
                             ended_at=store.clock())
    with qtbot.waitSignal(bridge.changed, timeout=2000):
        bridge.push_changes(store.apply(ended))
    qtbot.waitUntil(lambda: view.situation.isHidden())
    assert not view.funnel.isHidden()  # the funnel has its place back

    again = _situation_event(store, store.seq + 1, version=sit.version + 2, status="active", ended_at=None)
    with qtbot.waitSignal(bridge.changed, timeout=2000):
        bridge.push_changes(store.apply(again))
    qtbot.waitUntil(lambda: not view.situation.isHidden())


def _pixel_stats(path: Path) -> tuple[float, float, int]:
    from PySide6.QtGui import QImage

    img = QImage(str(path))
    assert (img.width(), img.height()) == (1920, 1080)
    dark = bright = 0
    colours = set()
    step = 4
    total = 0
    for y in range(0, img.height(), step):
        for x in range(0, img.width(), step):
            c = img.pixelColor(x, y)
            lum = (0.2126 * c.red() + 0.7152 * c.green() + 0.0722 * c.blue()) / 255
            dark += lum < 0.15
            bright += lum > 0.75
            colours.add(c.rgb())
            total += 1
    return dark / total, bright / total, len(colours)


def test_screenshot_at_1920x1080(qtbot, view, tmp_path):
    view.show()
    qtbot.waitExposed(view)
    view.refresh_charts()
    path = tmp_path / "leader.png"
    assert view.grab().save(str(path))
    dark, bright, colours = _pixel_stats(path)
    assert dark > 0.6  # a dark room: dark background dominates
    assert bright > 0.01  # big bright figures and text
    assert colours > 20  # not blank
    assert view.width() == 1920  # nothing forced the window wider than the panel


# --- escalated alerts ---------------------------------------------------------------------


def _fire(store: Store, seq: int, incident_id: str, desa: str) -> p.Event:
    from commandcenter.core.model import Location

    now = store.clock()
    return incident_event(
        seq, epoch="esc", id=incident_id, priority="high", category="kebakaran", status="received",
        times=IncidentTimes(received=now),
        location=Location(lat=-3.086, lon=105.223, kecamatan="Pangkalan Lampam", desa=desa),
    )


def test_escalated_alerts_are_flagged_with_the_oldest_named(qtbot, config):
    from commandcenter.wall.alerting import AlertService
    from ui.alerts.adapter import AlertAdapter
    from ui.support.bridge import EngineBridge

    clock = FakeClock(T0)
    store = Store(clock=clock)
    bridge = EngineBridge(config, store)
    bridge._tick_timer.stop()  # the test drives the ticks on its fake clock
    # The alert service without a feed: the test hands it each change set and tick.
    service = AlertService(config, store, operator="Sari", console="meja-1", clock=clock)
    controller = AlertAdapter(service, bridge)
    view = LeaderView(bridge, WALL)
    qtbot.addWidget(view)
    view.resize(1920, 1080)
    view.set_alerts(controller)
    flag = view.escalation
    try:
        def push(event: p.Event) -> None:
            changes = store.apply(event)
            service.on_changes(changes)
            with qtbot.waitSignal(bridge.changed, timeout=2000):
                bridge.push_changes(changes)

        push(_fire(store, 1, "inc-a", "<b>Deling</b>"))
        clock.advance(60)
        push(_fire(store, 2, "inc-b", "Sukaraja"))
        assert flag.isHidden()  # raised, not yet escalated
        escalate_s = config.alerts.escalate_after_s
        assert view.escalation_threshold_s() == escalate_s == 180
        clock.advance(escalate_s - 60 + 1)  # inc-a is past its escalation time, inc-b not yet
        service.tick()
        bridge.tick.emit()
        assert not flag.isHidden()
        assert flag.headline.full_text == "▲▲ 1 PERINGATAN BELUM DIKONFIRMASI > 3 menit"
        assert flag.oldest.full_text == "Terlama (3 menit): Kebakaran · Pangkalan Lampam"
        # The whole text from the feed, escaped: Qt shows it as text, never as markup.
        assert "&lt;b&gt;Deling&lt;/b&gt;" in flag.oldest.toolTip()
        assert flag.oldest.textFormat() == Qt.TextFormat.PlainText
        # One line each on the wall: what does not fit is cut with "…", never wrapped.
        view.show()
        qtbot.waitExposed(view)
        shown, full = flag.oldest.text(), flag.oldest.full_text
        assert shown == full or (shown.endswith("…") and full.startswith(shown[:-1]))
        assert flag.headline.text() == flag.headline.full_text  # the headline fits
        assert flag.height() < 3 * WALL.row_px

        clock.advance(60)
        service.tick()
        bridge.tick.emit()
        assert flag.headline.full_text == "▲▲ 2 PERINGATAN BELUM DIKONFIRMASI > 3 menit"
        assert flag.oldest.full_text == "Terlama (4 menit): Kebakaran · Pangkalan Lampam"
        assert "Deling" in flag.oldest.toolTip()

        flag.strings = strings_for("en")
        try:
            view.refresh_escalation()
            assert flag.headline.full_text == "▲▲ 2 ALERTS UNACKNOWLEDGED > 3 min"
            assert flag.oldest.full_text == "Oldest (4 min): Fire · Pangkalan Lampam"
        finally:
            flag.strings = view.strings

        # Acknowledged on any console: off the flag, the next one is the oldest.
        ack = Acknowledgement(ack_id="ack-a", alert_id="incident:inc-a", operator="Rina", console="meja-2",
                              at=clock.now, incident_id="inc-a")
        push(make_event(p.AlertAcknowledged(ack=ack), seq=3, epoch="esc"))
        assert flag.headline.full_text == "▲▲ 1 PERINGATAN BELUM DIKONFIRMASI > 3 menit"
        assert "Sukaraja" in flag.oldest.toolTip() and flag.oldest.full_text.startswith("Terlama (3 menit)")
        ack_b = Acknowledgement(ack_id="ack-b", alert_id="incident:inc-b", operator="Rina", console="meja-2",
                                at=clock.now, incident_id="inc-b")
        push(make_event(p.AlertAcknowledged(ack=ack_b), seq=4, epoch="esc"))
        assert flag.isHidden()
    finally:
        controller.shutdown()
        bridge.shutdown()


@pytest.mark.parametrize("lang", ["id", "en"])
@pytest.mark.parametrize("minutes", [8, 30])
def test_the_median_arrival_is_never_told_by_colour_alone(
    qtbot: Any, config: Config, lang: str, minutes: int
) -> None:
    """Green or amber, the median has its state word with a mark (✓ within the target, ▲ over
    it) under it, or, where that line gave way for want of height, the mark on the value."""
    from ui.support.bridge import EngineBridge

    tr = strings_for(lang)
    store = Store(clock=FakeClock(T0 + dt.timedelta(hours=2)))
    store.apply_many([
        incident_event(i + 1, id=f"inc-{i}", status="in_handling",
                       times=IncidentTimes(received=T0, on_scene=T0 + dt.timedelta(minutes=minutes + i)))
        for i in range(3)
    ])  # fmt: skip
    arrival = store.kpis().arrival
    within = minutes <= 15
    assert arrival.median_within_target is within
    mark = "✓" if within else "▲"
    number = tr.minutes(arrival.median_s)
    bridge = EngineBridge(config, store, strings=tr)
    try:
        view = LeaderView(bridge, WALL)
        qtbot.addWidget(view)
        state, value = view.arrival_state, view.arrival_tile.value
        assert state.text() == tr.t("leader.within_target" if within else "leader.over_target")
        assert state.text().split()[0] == mark
        assert (theme.OK if within else theme.WARN) in value.styleSheet()
        # Regions of the four-panels leader's width, from roomy to short: the other optional lines
        # give way first; where the state's line goes too, its mark moves onto the value.
        seen = set()
        for height in (1080, 598, 420, 340):
            view.setFixedSize(1912, height)
            view.show()
            qtbot.waitExposed(view)
            qtbot.waitUntil(lambda h=height: view.height() == h)
            view._trim()  # what its timer does after a resize, now
            shown = state.isVisibleTo(view)
            seen.add(shown)
            assert value.text() == (number if shown else f"{mark} {number}"), (height, value.text())
        assert seen == {True, False}, "both arrangements met"
        # The caption says what the figure is, on one line (tests/ui/test_legibility.py).
        assert view.arrival_tile.caption.property("oneLine") is True
    finally:
        bridge.shutdown()
