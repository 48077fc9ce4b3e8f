"""Hostile values on the screens (issue 15): ids that are JavaScript property
names on the real QtWebEngine map, feed markup in tooltips, incidents the wall
cannot place flagged in the queue."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

# QtWebEngineWidgets must be imported before the QApplication is created.
import PySide6.QtWebEngineWidgets  # noqa: F401
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtGui import QTextDocument

from commandcenter.config import Config
from commandcenter.core import protocol as p
from commandcenter.core.model import ACTIVE_STATUSES, Incident
from commandcenter.core.plausibility import Plausibility
from commandcenter.core.store import ChangeSet, Store
from ui.support import theme
from ui.support.bridge import EngineBridge
from ui.support.text import plain_tooltip
from ui.views.map.view import MapView
from ui.views.queue import COL_LOCATION, COL_PRIORITY, IncidentQueueModel

WAIT_MS = 30_000
#: Names a plain JavaScript object already answers to (or that change its prototype).
JS_NAMES = [
    "__proto__",
    "constructor",
    "toString",
    "hasOwnProperty",
    "valueOf",
    "__defineGetter__",
    "isPrototypeOf",
]
HOSTILE_TEXT = ['<img src="/etc/passwd">', "<b style='font-size:80px'>Deling</b>", "a\nb & <c>"]


def _active(store: Store) -> list[Incident]:
    return [i for i in store.incidents.values() if i.status in ACTIVE_STATUSES]


def _apply(store: Store, body: p.EventBody) -> ChangeSet:
    event = p.Event(
        epoch=store.epoch, seq=store.seq + 1, id=f"ev-h-{store.seq + 1}", ts=store.clock(), body=body
    )
    return store.apply(event)


def _js_named(store: Store) -> list[Incident]:
    template = _active(store)[0]
    return [
        msgspec.structs.replace(
            template, id=name, ticket=f"T-{i}", version=1, status="received", tasks=[], units=[],
            location=msgspec.structs.replace(template.location, lat=-3.3 + i * 0.01, lon=105.4),
        )
        for i, name in enumerate(JS_NAMES)
    ]  # fmt: skip


@pytest.fixture
def make_view(qtbot: Any, tmp_path: Path) -> Callable[[EngineBridge], MapView]:
    def make(bridge: EngineBridge) -> MapView:
        view = MapView(bridge, metrics=theme.metrics_for(1280, 720, 55.0, 6.0), page_dir=tmp_path / "page")
        qtbot.addWidget(view)
        view.resize(1280, 720)
        view.show()
        if not view.is_ready():
            with qtbot.waitSignal(view.ready, timeout=WAIT_MS):
                pass
        qtbot.waitUntil(view.is_idle, timeout=WAIT_MS)
        return view

    return make


def _assert_a_fresh_page_draws_them_all(
    qtbot: Any, config: Any, store: Store, make_view: Callable[[EngineBridge], MapView]
) -> None:
    """"After a restart": a new page built from a store that holds them from the start draws every
    active incident, with no error in the page."""
    fresh = EngineBridge(config, store)
    try:
        again = make_view(fresh)
        c = _counts(qtbot, again)
        assert c["incidents"] == c["incidentsTotal"] == len(_active(store))
        assert c["errors"] == 0 and again.js_errors() == []
        again.shutdown()
    finally:
        fresh.shutdown()
        fresh.deleteLater()


def _counts(qtbot: Any, view: MapView) -> dict[str, int]:
    box: list[Any] = []
    view.marker_count_js(box.append)
    qtbot.waitUntil(lambda: bool(box), timeout=WAIT_MS)
    return box[0]


@pytest.mark.qt
def test_ids_that_are_javascript_property_names_are_all_drawn(
    qtbot: Any,
    make_view: Callable[[EngineBridge], MapView],
    bridge: EngineBridge,
    store: Store,
    config: Config,
) -> None:
    view = make_view(bridge)
    before = _counts(qtbot, view)["incidents"]
    changes = ChangeSet()
    for inc in _js_named(store):
        changes.merge(_apply(store, p.IncidentUpserted(incident=inc)))
    with qtbot.waitSignal(view.batch_applied, timeout=WAIT_MS):
        bridge.push_changes(changes)
    qtbot.waitUntil(view.is_idle, timeout=WAIT_MS)
    c = _counts(qtbot, view)
    assert c["incidents"] == c["incidentsTotal"] == before + len(JS_NAMES) == len(_active(store))
    assert c["errors"] == 0 and view.js_errors() == []
    # An update and a removal of such an id work like any other.
    proto = store.incidents["__proto__"]
    changes = _apply(
        store, p.IncidentUpserted(incident=msgspec.structs.replace(proto, version=2, status="cancelled"))
    )
    with qtbot.waitSignal(view.batch_applied, timeout=WAIT_MS):
        bridge.push_changes(changes)
    qtbot.waitUntil(view.is_idle, timeout=WAIT_MS)
    c = _counts(qtbot, view)
    assert c["incidents"] == c["incidentsTotal"] == before + len(JS_NAMES) - 1
    view.shutdown()

    _assert_a_fresh_page_draws_them_all(qtbot, config, store, make_view)


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_plain_tooltip_shows_markup_as_the_literal_text(qapp: Any, text: str) -> None:
    tip = plain_tooltip(text)
    assert GuiQt.mightBeRichText(tip)  # Qt takes it as rich text whose content is ...
    doc = QTextDocument()
    doc.setHtml(tip)
    assert doc.toPlainText().replace("\u2028", "\n") == text  # ... exactly the characters given
    assert "<img" not in tip and "<b " not in tip
    assert plain_tooltip("") == ""


def test_queue_tooltips_are_plain_and_unplaceable_incidents_are_flagged(
    qapp: Any, store: Store, config: Config
) -> None:
    store.plausibility = Plausibility.of(
        categories=[c.code for c in config.categories],
        agencies=[a.code for a in config.agencies],
        districts=[d.name for d in config.districts],
        area=(
            config.map.bounds.south,
            config.map.bounds.west,
            config.map.bounds.north,
            config.map.bounds.east,
        ),
    )
    template = _active(store)[0]
    now = store.clock()
    far = msgspec.structs.replace(
        template, id="far-away", version=1, status="received", tasks=[], units=[],
        location=msgspec.structs.replace(template.location, lat=60.0, lon=10.0, desa=HOSTILE_TEXT[0]),
        times=msgspec.structs.replace(template.times, received=now + dt.timedelta(hours=3), verified=None,
                                      dispatched=None, on_scene=None, closed=None),
    )  # fmt: skip
    _apply(store, p.IncidentUpserted(incident=far))
    model = IncidentQueueModel(store, config)
    try:
        row = model.row_of("far-away")
        # The mark leads the place (free text), never the priority, which may not be elided.
        shown = model.index(row, COL_LOCATION).data(Qt.ItemDataRole.DisplayRole)
        assert shown.startswith("⚠ ")
        assert "⚠" not in model.index(row, COL_PRIORITY).data(Qt.ItemDataRole.DisplayRole)
        tip = model.index(row, COL_LOCATION).data(Qt.ItemDataRole.ToolTipRole)
        doc = QTextDocument()
        doc.setHtml(tip)
        assert "koordinat jauh di luar kabupaten" in doc.toPlainText()
        assert "waktu diterima di masa depan" in doc.toPlainText()
        location_tip = model.index(row, COL_LOCATION).data(Qt.ItemDataRole.ToolTipRole)
        assert "<img" not in location_tip and "&lt;img" in location_tip
        # A sound incident carries no mark.
        other = next(r for r in range(model.rowCount()) if model.incident_id(r) not in store.problems)
        assert not model.index(other, COL_LOCATION).data(Qt.ItemDataRole.DisplayRole).startswith("⚠")
    finally:
        model.deleteLater()


def test_the_headers_server_tooltip_is_plain(qapp: Any, bridge: EngineBridge, store: Store) -> None:
    from commandcenter.wall.feed import FeedClient, FeedSettings
    from ui.views.header import ScreenHeader

    url = 'ws://127.0.0.1:9/<img src="/etc/passwd">'
    # A real feed client, never started (so it needs no journal): the header reads its status.
    feed = FeedClient(FeedSettings(url=url, token="t"), None, store)  # type: ignore[arg-type]
    bridge.attach_feed(feed)
    try:
        header = ScreenHeader(bridge, theme.metrics_for(1920, 1080, 55.0, 6.0), "Papan Operasi")
        doc = QTextDocument()
        doc.setHtml(header.feed_label.toolTip())
        assert doc.toPlainText() == url
        header.deleteLater()
    finally:
        bridge.detach_feed()


# --- hypothesis through the decoder, the store and the real map page ----------------------------

MAP_IDS = [*JS_NAMES, "prototype", "length", "__lookupGetter__", "inc-1", "a" * 64, "a" * 65, "inc\u200b1",
           "<b>"]  # fmt: skip
#: Times at the window's edges with extreme offsets: what the decoder accepts reaches the map.
MAP_TIMES = [
    "2000-01-01T00:00:00Z", "2000-01-01T13:59:59-14:00", "2000-01-01T00:00:00+14:00",
    "2099-12-31T23:59:59Z", "2100-01-01T06:59:59+07:00", "2099-12-31T10:00:00-14:00",
    "2100-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
]  # fmt: skip
MAP_TEXTS = ["Deling", "Kayu\u200bagung", "שלום 3", "a\u202eb", "<img src=x onerror=alert(1)>", "x" * 200,
             "\u0007"]  # fmt: skip


def _frame(seq: int, version: int, fields: dict[str, Any]) -> bytes:
    incident = {
        "id": fields["id"], "ticket": f"H-{seq}", "version": version, "category": "kebakaran",
        "priority": fields["priority"], "status": fields["status"],
        "location": {"lat": fields["lat"], "lon": 105.0, "kecamatan": fields["text"], "desa": fields["text"]},
        "times": {"received": fields["received"]},
    }  # fmt: skip
    return json.dumps(
        {"type": "event", "epoch": "ep", "seq": seq, "id": f"ev-{seq}", "ts": "2026-11-27T03:00:00Z",
         "body": {"kind": "incident", "incident": incident}}
    ).encode()  # fmt: skip


map_batches = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.sampled_from(MAP_IDS),
            "received": st.sampled_from(MAP_TIMES),
            "text": st.sampled_from(MAP_TEXTS),
            "status": st.sampled_from(["received", "in_handling", "closed"]),
            "priority": st.sampled_from(["high", "medium", "low"]),
            "lat": st.sampled_from([-3.3, -3.0, -3.9, -2.9]),
        }
    ),
    min_size=1,
    max_size=6,
)


@pytest.mark.qt
@pytest.mark.slow
def test_what_the_decoder_accepts_the_real_map_draws(
    qtbot: Any,
    make_view: Callable[[EngineBridge], MapView],
    bridge: EngineBridge,
    store: Store,
    config: Config,
) -> None:
    """Hypothesis draws batches of incident events at every boundary (JavaScript
    property names as ids, the time window's edges with ±14:00 offsets, bidi,
    zero-width and markup text, statuses that add and remove markers); the
    decoder refuses what it must, the rest goes through the store to the real
    QtWebEngine page, which then holds exactly the store's active incidents
    and has logged no error, also when built afresh from that store."""
    view = make_view(bridge)
    ctx = {"view": view}
    counter = {"seq": store.seq, "version": 1000}
    refused: list[str] = []

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(batch=map_batches)
    def check(batch: list[dict[str, Any]]) -> None:
        changes = ChangeSet()
        for fields in batch:
            counter["seq"] += 1
            counter["version"] += 1
            try:
                event = p.decode_event(_frame(counter["seq"], counter["version"], fields))
            except p.ProtocolError as exc:
                refused.append(exc.reason)
                continue
            event = msgspec.structs.replace(event, epoch=store.epoch, seq=store.seq + 1)
            changes.merge(store.apply(event))
        if not changes:
            return
        page = ctx["view"]
        with qtbot.waitSignal(page.batch_applied, timeout=WAIT_MS):
            bridge.push_changes(changes)
        qtbot.waitUntil(page.is_idle, timeout=WAIT_MS)
        c = _counts(qtbot, page)
        assert c["incidents"] == c["incidentsTotal"] == len(_active(store)), c
        assert c["errors"] == 0 and page.js_errors() == []

    check()
    assert refused, "no frame was refused: the boundaries were not reached"
    assert any(name in store.incidents for name in JS_NAMES), "no JavaScript property name reached the map"
    view.shutdown()
    ctx.clear()  # hypothesis keeps `check` alive: it must not keep the view (page after profile)
    _assert_a_fresh_page_draws_them_all(qtbot, config, store, make_view)


# --- far-future times in the fields that drive countdowns ----------------------------------------


@pytest.mark.qt
def test_views_built_over_far_future_times_keep_updating(
    qtbot: Any, bridge: EngineBridge, store: Store, config: Config, clock: Any
) -> None:
    """The issue's restart: an on-scene time, an acknowledgement time and a
    shelve and mute until the last second the protocol accepts are in the store
    before the views are built; they build, refresh every second and take new
    changes without an exception (pytest-qt fails the test on one in a slot)."""
    from commandcenter.core.model import TIME_MAX as END
    from commandcenter.core.model import Acknowledgement, Alert
    from ui.views.agencies import AgencyBoardWidget
    from ui.views.leader import LeaderView
    from ui.views.operations import OperationsView

    last = END - dt.timedelta(seconds=1)  # 2099-12-31T23:59:59Z, accepted
    template = _active(store)[0]
    now = store.clock()
    far = msgspec.structs.replace(
        template, id="far-future", version=1, status="in_handling", units=[],
        tasks=[msgspec.structs.replace(t, forwarded_at=now, accepted_at=last, on_scene_at=last, units=[])
               for t in template.tasks[:1]],
        times=msgspec.structs.replace(template.times, received=now, verified=last, dispatched=last,
                                      on_scene=last, closed=None),
    )  # fmt: skip
    _apply(store, p.IncidentUpserted(incident=far))
    alert = Alert(id="al-far", kind="unit_emergency", priority="high", raised_at=last)
    _apply(store, p.AlertRaised(alert=alert))
    _apply(store, p.AlertAcknowledged(ack=Acknowledgement(
        ack_id="ack-far", alert_id="al-far", operator="Sari", console="meja-1", at=last)))  # fmt: skip
    _apply(store, p.AlertShelved(alert_id="al-far", until=last, operator="Sari", console="meja-1"))
    _apply(store, p.ConsoleMuted(console="meja-1", until=last, operator="Sari"))
    metrics = theme.metrics_for(1920, 1080, 55.0, 6.0)
    views = [LeaderView(bridge, metrics), AgencyBoardWidget(bridge, metrics), OperationsView(bridge, metrics)]
    model = IncidentQueueModel(store, config)
    try:
        for view in views:
            qtbot.addWidget(view)
            view.resize(1920, 1080)
            view.show()
        for _ in range(3):
            clock.advance(1)
            bridge.tick.emit()
        later = msgspec.structs.replace(far, version=2, victims=3)
        with qtbot.waitSignal(bridge.changed, timeout=WAIT_MS):
            bridge.push_changes(_apply(store, p.IncidentUpserted(incident=later)))
        bridge.tick.emit()
        assert "step_in_future" in store.problems.get("far-future", ())
        assert model.index(model.row_of("far-future"), COL_LOCATION).data().startswith("⚠ ")
    finally:
        model.deleteLater()


def test_events_the_feed_refused_show_a_mark_with_the_last_reason_as_plain_tooltip(
    qtbot: Any, bridge: EngineBridge, store: Store
) -> None:
    """A foreign or older server's event the protocol refuses is stepped over
    and logged once; the wall says so on screen too (nothing of it is shown)."""
    from commandcenter.wall.feed import FeedClient, FeedSettings
    from ui.alerts.banner import RefusedMark

    # A real feed client, never started (so it needs no journal).
    feed = FeedClient(FeedSettings(url="ws://127.0.0.1:9/", token="t"), None, store)  # type: ignore[arg-type]
    bridge.attach_feed(feed)
    try:
        mark = RefusedMark(bridge, theme.metrics_for(1920, 1080, 55.0, 6.0))
        qtbot.addWidget(mark)
        assert mark.isHidden()
        # What the feed does when it steps over a refused event.
        feed.status.refused = 2
        feed.status.last_refused = "ep/7: ts: 9999-12-31 <img src=x> is outside 2000..2100"
        for listener in list(feed.status_listeners):
            listener(feed.status)
        assert not mark.isHidden()
        assert mark.full_text == "⚠ 2 DITOLAK"
        doc = QTextDocument()
        doc.setHtml(mark.toolTip())
        assert doc.toPlainText().endswith(feed.status.last_refused)
    finally:
        bridge.detach_feed()
