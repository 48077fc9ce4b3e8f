"""The live map of incidents and units (a QWebEngineView over a Leaflet page).

The page is built once (:mod:`ui.views.map.page`); afterwards only diffs travel: each
merged ChangeSet from the bridge becomes one batch of operations with the
incidents and units that changed, so a busy feed costs one message per frame,
not one per marker. Batches go to the page as JSON data through QWebChannel (a
signal the page applies with ``OkiMap.apply`` and confirms through a slot), not
as runJavaScript sources: V8 keeps every distinct script it compiled, and on a
wall running for months that was a leak. Calls made before the page is ready are queued and
sent in order once both ``loadFinished`` and the page's own "ready" callback
(through QWebChannel) arrived. A crashed render process is reloaded and the
whole state sent again, as after a reset.

Import this module (or PySide6.QtWebEngineWidgets) before the QApplication is
created: QtWebEngine must set up OpenGL context sharing first. Importing it also
sets QtWebEngine's Chromium flags (:func:`ui.support.chromium.chromium_environment`,
among them a first V8 heap limit the map page needs), so import it before the
first QtWebEngine page.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
import warnings
import weakref
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QCloseEvent, QColor
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile, QWebEngineSettings
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QVBoxLayout, QWidget

from commandcenter.core import hazard_layers, places
from commandcenter.core.model import ACTIVE_STATUSES, UNIT_STATUS_GROUP, Incident, Unit
from commandcenter.core.store import ChangeSet
from commandcenter.ops.watchdog import RendererBudget
from ui.support import theme
from ui.support.bridge import EngineBridge
from ui.support.chromium import chromium_environment
from ui.views.map import page as map_page
from ui.views.map import tiles as map_tiles

log = logging.getLogger(__name__)

#: Markers per batch when the whole state is sent (start, reset,
#: reload): big enough to be quick, small enough not to stall the page.
FULL_SYNC_CHUNK = 1000
#: Queued batches before the page is ready; beyond this the queue is replaced
#: by one full sync (the store holds the truth, the queue only diffs of it).
MAX_QUEUED_BATCHES = 100
#: Delay before reloading after a failed load or a crashed render process.
RELOAD_DELAY_MS = 1000
#: How often the renderer's memory is compared with its budget.
RENDERER_CHECK_MS = 60_000
#: How often the page is checked for answers it owes (watchdog.map_page_answer_s).
ANSWER_CHECK_MS = 1000
#: A page of another site: Chromium gives the next load of the map a new
#: renderer process and ends the old one (a reload stays in the same process
#: and frees nothing). The view's background colour shows meanwhile.
RECYCLE_URL = "data:text/html,"
#: Longest wait for the old renderer to end before the map loads anyway.
RECYCLE_WAIT_S = 5.0
#: The context layers are derived again at least this often (ages, stale sources, expiries
#: between the engine's own changes); an item or source change derives them at once.
HAZARD_REFRESH_S = 10.0
#: Incidents without coordinates are spread around their district centroid by
#: up to this many degrees (about 1.5 km), the same way on every wall.
APPROX_SPREAD_DEG = 0.014

# Chromium's flags (a first V8 heap limit without which the map page's renderer
# grows without end) are read when QtWebEngine starts: set before any page.
os.environ.update(chromium_environment(os.environ))
# The tile pack's scheme must be known before the QApplication exists, like the
# flags above: this module is imported first for the same reason.
map_tiles.register_scheme()

JsCallback = Callable[[Any], None]
#: A queued call: ("ops", JSON of a batch, None) or ("js", script, callback).
_Call = tuple[str, str, JsCallback | None]


def _approx_offset(key: str) -> tuple[float, float]:
    """A small deterministic (lat, lon) offset for ``key`` (crc32, not hash():
    Python's str hash changes between runs)."""
    h = zlib.crc32(key.encode("utf-8"))
    angle = (h & 0xFFFF) / 65536.0 * 2.0 * math.pi
    radius = APPROX_SPREAD_DEG * (0.25 + 0.75 * ((h >> 16) & 0xFFFF) / 65536.0)
    return radius * math.sin(angle), radius * math.cos(angle)


class _MapPage(QWebEnginePage):
    """Routes the page's console into logging instead of Qt's warning channel."""

    def __init__(self, profile: QWebEngineProfile, parent: QObject) -> None:
        super().__init__(profile, parent)
        #: JavaScript errors seen (tests assert none).
        self.js_errors: list[str] = []

    def javaScriptConsoleMessage(self, level: QWebEnginePage.JavaScriptConsoleMessageLevel, message: str,
                                 line: int, source: str) -> None:
        if level == QWebEnginePage.JavaScriptConsoleMessageLevel.ErrorMessageLevel:
            if "Failed to load resource" in message:
                # Online tiles that cannot load are expected offline; the map stays useful.
                log.debug("map page: %s", message)
                return
            self.js_errors.append(f"{source}:{line}: {message}")
            log.warning("map page error %s:%d: %s", source, line, message)
        else:
            log.debug("map page %s:%d: %s", source, line, message)


class _PageBridge(QObject):
    """The object the page sees as ``mapBridge`` through QWebChannel."""

    #: One batch of diffs for the page: (page generation, JSON array of operations).
    #: Data, not a script: see :meth:`MapView._run`.
    batch = Signal(int, str)

    def __init__(self, view: MapView) -> None:
        super().__init__(view)
        self._view = weakref.ref(view)

    @Slot(int, int)
    def batchApplied(self, generation: int, number: int) -> None:
        view = self._view()
        if view is not None:
            view._on_page_batch_applied(generation, number)

    @Slot(str)
    def markerClicked(self, incident_id: str) -> None:
        view = self._view()
        if view is not None:
            view._on_page_marker_clicked(incident_id)

    @Slot(str)
    def ackRequested(self, incident_id: str) -> None:
        view = self._view()
        if view is not None:
            view._on_page_ack_requested(incident_id)

    @Slot(str, bool)
    def hazardToggled(self, layer: str, on: bool) -> None:
        view = self._view()
        if view is not None:
            view._on_page_hazard_toggled(layer, on)

    @Slot()
    def pageReady(self) -> None:
        view = self._view()
        if view is not None:
            view._on_page_ready()


class MapView(QWidget):
    """The live map. Reads the store through ``bridge``; a click on an incident
    selects it through the bridge (on interactive screens)."""

    #: The page is loaded, initialised and has received everything queued.
    ready = Signal()
    #: The page confirmed a batch (its running number since the last load).
    batch_applied = Signal(int)
    #: The render process died; the page is being reloaded.
    render_process_lost = Signal()
    #: The operator pressed the acknowledge button in an incident's popup
    #: (interactive screens only); the incident id.
    ack_requested = Signal(str)
    #: The map moved to a fresh renderer process (old pid, new pid) and is shown again.
    renderer_recycled = Signal(int, int)
    #: The page owed an answer (a script, a batch, a load) and gave none for this many seconds:
    #: its renderer is ended and the page reloaded (render_process_lost follows).
    page_hung = Signal(float)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None, *, interactive: bool = True,
                 metrics: theme.ScreenMetrics | None = None, page_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mapView")
        self._bridge = bridge
        self._config = bridge.config
        self.strings = bridge.strings
        self._store = bridge.store
        self._interactive = interactive
        self._closed = False
        self._generation = 0  # bumped per page load: stale callbacks are ignored
        self._load_ok = False
        self._js_ready = False
        self._ready = False
        self._queue: list[_Call] = []
        # Scripts sent while batches are in flight wait for them: batches and
        # scripts travel by different routes (see _run), so only the page's
        # confirmation orders them. (batches sent before, script, callback)
        self._held: list[tuple[int, str, JsCallback | None]] = []
        # Scripts handed to runJavaScript and not yet answered, by ticket: if
        # the page goes (reload, a crashed or recycled renderer) before it
        # answers, the script runs again on the next page, so a caller waiting
        # for a value gets one (Chromium never answers for a page it dropped).
        self._in_flight: dict[int, tuple[str, JsCallback | None]] = {}
        self._tickets = 0
        self._queued_ops = 0
        self._sent = 0
        self._confirmed = 0
        # A renderer stuck in a script (or a load that never ends) answers nothing and
        # crashes nothing: the map would stand still under a header saying live. Owed
        # answers are tracked so a page silent for watchdog.map_page_answer_s is ended.
        self._owed_since = 0.0  # when the oldest outstanding request was made (0: none)
        self._last_answer = 0.0  # the page's latest answer, confirmation or ready
        self._load_started = 0.0  # the current load, while the page is not ready (0: none)
        # What the page shows (or will, once the queue is sent): keeps diffs minimal.
        self._shown_incidents: set[str] = set()
        self._shown_units: set[str] = set()
        self._high_active: set[str] = set()
        self._acked_incidents: set[str] = set()
        self._pulsing: frozenset[str] = frozenset()
        self._pulsing_override: frozenset[str] | None = None
        self._district_counts: dict[str, int] = {}
        #: Incident id -> its alert state as the page holds it (see set_alert_states).
        self._alert_states: dict[str, dict[str, str]] = {}
        # The context layers: which are on (config map.hazard_layers, then the legend's
        # switches), what the page was last sent (JSON), and when they are due again.
        default_on = set(getattr(self._config.map, "hazard_layers", hazard_layers.LAYERS))
        self._hazard_on: dict[str, bool] = {k: k in default_on for k in hazard_layers.LAYERS}
        self._hazard_json = ""
        self._hazard_due = 0.0
        self._hazard_anchors = [(d.lat, d.lon) for d in self._config.districts]

        if metrics is None:
            size = self.screen().size()
            display = self._config.display
            metrics = theme.metrics_for(size.width(), size.height(), display.panel_diagonal_in,
                                        display.viewing_distance_m)
        options = map_page.PageOptions.for_metrics(metrics, interactive=interactive,
                                                   language=self.strings.language)
        try:
            self._places: places.PlaceFinder | None = places.place_finder(
                self._config.map.boundary_geojson, self._config.map.village_geojson)
        except places.GeoError as exc:
            log.warning("map: incidents' villages not named: %s", exc)
            self._places = None
        self._page_path = map_page.build_page(self._config, options, out_dir=page_dir)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # Creation order matters for teardown: Qt deletes children in order, and
        # the page (a child of the view) must go before its profile, or
        # QtWebEngine warns "Release of profile requested but WebEnginePage
        # still not deleted".
        self._view = QWebEngineView(self)
        self._profile = QWebEngineProfile(self)  # no storage name: off the record
        # The offline base map, read from the configured pack by the program itself.
        mc = self._config.map
        self._tile_pack = map_tiles.open_pack(mc.tile_pack)
        cache = None
        if mc.online_tiles:
            base = Path(page_dir) if page_dir is not None else map_page.default_page_dir()
            cache = map_tiles.TileCache(base.parent / "tiles", mc.tile_cache_mb * 1024 * 1024)
        self._tile_handler = map_tiles.TileSchemeHandler(
            self._tile_pack, self, online_url=mc.tile_url if mc.online_tiles else "", cache=cache)
        self._profile.installUrlSchemeHandler(map_tiles.SCHEME.encode(), self._tile_handler)
        self._page = _MapPage(self._profile, self._view)
        self._page.setBackgroundColor(QColor(theme.BG))
        settings = self._page.settings()
        settings.setAttribute(QWebEngineSettings.WebAttribute.ShowScrollBars, False)
        settings.setAttribute(QWebEngineSettings.WebAttribute.JavascriptCanOpenWindows, False)
        # The page is a local file and stays off the network: online tiles,
        # when configured, are fetched by the program (see map_tiles).
        settings.setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, False)
        self._channel = QWebChannel(self._page)
        self._page_bridge = _PageBridge(self)
        self._channel.registerObject("mapBridge", self._page_bridge)
        self._page.setWebChannel(self._channel)
        self._view.setPage(self._page)
        layout.addWidget(self._view)

        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(RELOAD_DELAY_MS)
        self._reload_timer.timeout.connect(self._load)

        wd = self._config.watchdog
        self._budget = RendererBudget(
            wd.map_renderer_growth_pct, wd.map_renderer_warmup_s, wd.map_renderer_min_interval_s
        )
        self._recycling = False
        self._recycled_from = 0  # old renderer pid until the fresh page is ready
        self._recycle_deadline = 0.0
        self._recycle_wait_timer = QTimer(self)
        self._recycle_wait_timer.setInterval(100)
        self._recycle_wait_timer.timeout.connect(self._load_after_old_renderer)
        self._renderer_timer = QTimer(self)
        self._renderer_timer.setInterval(RENDERER_CHECK_MS)
        self._renderer_timer.timeout.connect(self._check_renderer)
        if wd.map_renderer_growth_pct > 0:
            self._renderer_timer.start()
        self._base_answer_limit_s = self._answer_limit_s = float(wd.map_page_answer_s)
        self._hangs_in_a_row = 0
        self._answer_timer = QTimer(self)
        self._answer_timer.setInterval(ANSWER_CHECK_MS)
        self._answer_timer.timeout.connect(self._check_answers)
        if self._answer_limit_s > 0:
            self._answer_timer.start()

        self._page.loadStarted.connect(self._on_page_load_started)
        self._page.loadFinished.connect(self._on_page_load_finished)
        self._page.renderProcessTerminated.connect(self._on_page_render_process_terminated)
        bridge.changed.connect(self._on_bridge_changed)
        bridge.incident_selected.connect(self._on_bridge_incident_selected)
        bridge.tick.connect(self._on_bridge_tick)

        self._queue_full_sync()
        self._load()

    # --- public ------------------------------------------------------------------------

    @property
    def page_path(self) -> Path:
        return self._page_path

    def web_view(self) -> QWebEngineView:
        return self._view

    def web_page(self) -> QWebEnginePage:
        return self._page

    def js_errors(self) -> list[str]:
        return list(self._page.js_errors)

    def is_ready(self) -> bool:
        return self._ready

    def pending_calls(self) -> int:
        """Calls waiting for the page to become ready."""
        return len(self._queue)

    def in_flight(self) -> int:
        """Batches sent to the page and not yet confirmed."""
        return self._sent - self._confirmed

    def is_idle(self) -> bool:
        """Ready, nothing queued and every batch confirmed."""
        return self._ready and not self._queue and not self._held and self._sent == self._confirmed

    def resync(self) -> None:
        """Send the page the whole state again, in the store's order (as after a reset). What a
        page shows can depend on the order its markers came in (markercluster groups them
        greedily): the diffs' batches follow the feed's timing, a full sync does not."""
        self._queue_full_sync()

    def run_js(self, script: str, callback: JsCallback | None = None) -> None:
        """Run ``script`` in the page once it is ready (in order with the diffs);
        ``callback`` gets the script's value, unless the view was torn down."""
        self._enqueue("js", script, callback)

    def run_js_json(self, expression: str, callback: JsCallback) -> None:
        """Like :meth:`run_js` for an expression whose value is a JS object or
        array: it travels as JSON (runJavaScript hands objects to PySide as
        empty strings) and ``callback`` gets the decoded value (None if none)."""

        def decode(result: object) -> None:  # whatever the script's value was
            callback(json.loads(result) if isinstance(result, str) and result else None)

        self.run_js(f"JSON.stringify({expression})", decode)

    def marker_count_js(self, callback: JsCallback) -> None:
        """``callback`` gets the page's counts as a dict: incidents (in the
        cluster group), incidentsTotal, units (shown), unitsTotal, districts
        (polygons), pulsing, applied (batches), errors (failed operations)."""
        self.run_js_json("OkiMap.counts()", callback)

    def set_pulsing(self, incident_ids: Iterable[str] | None) -> None:
        """Incidents whose marker pulses (an unacknowledged alert). ``None``
        returns to the built-in rule: active high priority without an
        acknowledgement."""
        self._pulsing_override = None if incident_ids is None else frozenset(incident_ids)
        ops: list[list[Any]] = []
        self._sync_pulsing(ops)
        self._send_ops(ops)

    def set_alert_states(self, states: dict[str, dict[str, str]]) -> None:
        """What incident popups say about their alert: incident id ->
        ``{"state": "alert" | "sending" | "acked", "line": text}``. Only the
        differences travel; an incident left out has no alert line. The
        acknowledge button appears for "alert" on interactive screens only."""
        changes: dict[str, dict[str, str] | None] = dict.fromkeys(self._alert_states.keys() - states.keys())
        changes.update(states)
        self.update_alert_states(changes)

    def update_alert_states(self, changes: dict[str, dict[str, str] | None]) -> None:
        """Only these incidents' popup states changed (None: no alert line any more)."""
        if self._closed:
            return
        diff: dict[str, dict[str, str] | None] = {}
        for iid, state in changes.items():
            if self._alert_states.get(iid) == state:
                continue
            if state is None:
                del self._alert_states[iid]
            else:
                self._alert_states[iid] = dict(state)
            diff[iid] = state
        if diff:
            self._send_ops([["setAlertStates", diff]])

    def alert_states(self) -> dict[str, dict[str, str]]:
        return {iid: dict(state) for iid, state in self._alert_states.items()}

    # --- context layers (commandcenter.core.hazard_layers derives them; the page draws) ----

    def hazard_layers(self) -> dict[str, Any]:
        """The context layers as the engine derives them now, with this map's switches."""
        data = hazard_layers.map_layers(self._store, self.strings,
                                        enabled=[k for k, on in self._hazard_on.items() if on],
                                        anchors=self._hazard_anchors)
        for layer in data["layers"]:
            layer["on"] = self._hazard_on.get(layer["id"], False)
        return data

    def hazard_visibility(self) -> dict[str, bool]:
        return dict(self._hazard_on)

    def set_hazard_layer_visible(self, layer: str, on: bool) -> None:
        """Switch a context layer on or off (the legend's rows do the same on the page)."""
        if layer not in self._hazard_on:
            raise ValueError(f"no map layer {layer!r}; there are {', '.join(hazard_layers.LAYERS)}")
        self._hazard_on[layer] = bool(on)
        self._send_ops([["setHazardVisible", {layer: bool(on)}]])

    def _sync_hazards(self, ops: list[list[Any]], *, force: bool = False) -> None:
        """Append the layers to ``ops`` when they differ from what the page holds. The
        engine's clock decides what is in them: a warning past ``expires`` is gone."""
        data = self.hazard_layers()
        self._hazard_due = time.monotonic() + HAZARD_REFRESH_S
        # The next expiry comes sooner than the refresh: derive again right then.
        now = self._store.clock()
        for item in self._store.hazards.values():
            if item.expires is not None and item.expires > now:
                self._hazard_due = min(self._hazard_due,
                                       time.monotonic() + (item.expires - now).total_seconds())
        text = json.dumps({k: v for k, v in data.items() if k != "at"}, sort_keys=True, separators=(",", ":"))
        if force or text != self._hazard_json:
            self._hazard_json = text
            ops.append(["setHazards", data])

    def _on_bridge_tick(self) -> None:
        if self._closed or time.monotonic() < self._hazard_due:
            return
        ops: list[list[Any]] = []
        self._sync_hazards(ops)
        self._send_ops(ops)

    def _on_page_hazard_toggled(self, layer: str, on: bool) -> None:
        # The page switched it already; kept here so that a reload shows the same.
        if not self._closed and layer in self._hazard_on:
            self._hazard_on[layer] = bool(on)

    def apply_changes(self, changes: ChangeSet) -> None:
        """Bring the page up to date with ``changes`` (already applied to the store)."""
        if self._closed:
            return
        if changes.reset:
            self._queue_full_sync()
            return
        store = self._store
        ops: list[list[Any]] = []
        upserts: list[dict[str, Any]] = []
        removes: list[str] = []
        for iid in changes.incidents_added | changes.incidents_updated:
            inc = store.incidents.get(iid)
            if inc is None:
                continue
            self._track_high(inc)
            if inc.status in ACTIVE_STATUSES:
                upserts.append(self.incident_payload(inc))
                self._shown_incidents.add(iid)
            elif iid in self._shown_incidents:  # closed or cancelled: off the map
                removes.append(iid)
                self._shown_incidents.discard(iid)
        for iid in changes.incidents_removed:
            self._high_active.discard(iid)
            if iid in self._shown_incidents:
                removes.append(iid)
                self._shown_incidents.discard(iid)
        unit_upserts: list[dict[str, Any]] = []
        unit_removes: list[str] = []
        for uid in changes.units_added | changes.units_updated:
            unit = store.units.get(uid)
            payload = self.unit_payload(unit) if unit is not None else None
            if payload is not None:
                unit_upserts.append(payload)
                self._shown_units.add(uid)
            elif uid in self._shown_units:
                unit_removes.append(uid)
                self._shown_units.discard(uid)
        if changes.acks:
            self._acked_incidents = self._acked_incident_ids()
        if removes:
            ops.append(["removeIncidents", sorted(removes)])
        self._sync_pulsing(ops)  # before upserts: new markers get the right icon at once
        if upserts:
            ops.append(["upsertIncidents", upserts])
        if unit_removes:
            ops.append(["removeUnits", sorted(unit_removes)])
        if unit_upserts:
            ops.append(["upsertUnits", unit_upserts])
        if upserts or removes:
            self._sync_district_counts(ops)
        if changes.hazards or changes.sources:
            self._sync_hazards(ops)
        self._send_ops(ops)

    def shutdown(self) -> None:
        """Stop talking to the page and the bridge (idempotent); later callbacks are ignored."""
        if self._closed:
            return
        self._closed = True
        self._reload_timer.stop()
        self._renderer_timer.stop()
        self._answer_timer.stop()
        self._recycle_wait_timer.stop()
        self._queue.clear()
        self._held.clear()
        self._in_flight.clear()
        if self._tile_pack is not None:
            self._tile_pack.close()
        for sig, slot in ((self._bridge.changed, self._on_bridge_changed),
                             (self._bridge.incident_selected, self._on_bridge_incident_selected),
                             (self._bridge.tick, self._on_bridge_tick)):
            # The bridge may be gone already (RuntimeError) or the slot not
            # connected (PySide warns): neither matters when tearing down.
            with warnings.catch_warnings(), contextlib.suppress(RuntimeError, TypeError):
                warnings.simplefilter("ignore", RuntimeWarning)
                sig.disconnect(slot)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    # --- payloads (what the page gets; feed text is escaped there with textContent) ---

    def incident_payload(self, inc: Incident) -> dict[str, Any]:
        config = self._config
        loc = inc.location
        cat = config.category(inc.category)
        lat, lon, approx = self._incident_position(inc)
        district = config.district_by_name(loc.kecamatan) if loc.kecamatan else None
        agencies = inc.agencies or (list(cat.agencies) if cat is not None else [])
        return {
            "id": inc.id,
            "ticket": inc.ticket,
            "category": inc.category,
            "categoryLabel": self.strings.category_name(config, inc.category),
            "shape": cat.marker_shape if cat is not None else "circle",
            "priority": inc.priority,
            "priorityLabel": self.strings.t(f"priority.{inc.priority}"),
            "statusLabel": self.strings.t(f"status.{inc.status}"),
            "lat": round(lat, 6),
            "lon": round(lon, 6),
            "approx": approx,
            "desa": loc.desa,
            "kecamatan": district.name if district is not None else loc.kecamatan,
            # Where the coordinates lie, from the boundaries (the caller's own
            # words may name another village, or none).
            "onMap": self._place_line(lat, lon) if not approx else "",
            "description": inc.description,
            "agencies": agencies,
        }

    def _place_line(self, lat: float, lon: float) -> str:
        if self._places is None:
            return ""
        place = self._places.locate(lat, lon)
        return ", ".join(part for part in (place.village, place.district) if part)

    def unit_payload(self, unit: Unit) -> dict[str, Any] | None:
        pos = unit.position
        if pos is None:
            return None
        return {
            "id": unit.id,
            "callsign": unit.callsign,
            "agency": unit.agency,
            "group": UNIT_STATUS_GROUP.get(unit.status, "out_of_service"),
            "statusLabel": self.strings.t(f"unit.{unit.status}"),
            "lat": round(pos.lat, 6),
            "lon": round(pos.lon, 6),
        }

    def _incident_position(self, inc: Incident) -> tuple[float, float, bool]:
        loc = inc.location
        if loc.lat is not None and loc.lon is not None:
            return loc.lat, loc.lon, False
        config = self._config
        district = None
        if loc.kecamatan_code:
            district = config.district(loc.kecamatan_code)
        if district is None and loc.kecamatan:
            district = config.district_by_name(loc.kecamatan)
        if district is not None:
            base_lat, base_lon = district.lat, district.lon
        else:  # unknown district: the regency centre, still marked approximate
            base_lat, base_lon = config.map.center.lat, config.map.center.lon
        dlat, dlon = _approx_offset(inc.id)
        return base_lat + dlat, base_lon + dlon, True

    # --- state kept for diffs ---------------------------------------------------------

    def _track_high(self, inc: Incident) -> None:
        if inc.priority == "high" and inc.status in ACTIVE_STATUSES:
            self._high_active.add(inc.id)
        else:
            self._high_active.discard(inc.id)

    def _acked_incident_ids(self) -> set[str]:
        store = self._store
        acked: set[str] = set()
        for alert_id, ack in store.acks.items():
            if ack.incident_id:
                acked.add(ack.incident_id)
            alert = store.alerts.get(alert_id)
            if alert is not None and alert.incident_id:
                acked.add(alert.incident_id)
        return acked

    def _sync_pulsing(self, ops: list[list[Any]]) -> None:
        if self._pulsing_override is not None:
            wanted = self._pulsing_override
        else:
            wanted = frozenset(self._high_active - self._acked_incidents)
        if wanted != self._pulsing:
            # The difference only (the page's pulseDiff): a burst has thousands pulsing.
            started, stopped = sorted(wanted - self._pulsing), sorted(self._pulsing - wanted)
            self._pulsing = wanted
            ops.append(["pulseDiff", [started, stopped]])

    def _sync_district_counts(self, ops: list[list[Any]], *, force: bool = False) -> None:
        counts: dict[str, int] = {}
        for name, n in self._store.kpis().active_by_kecamatan.items():
            if not name:
                continue
            district = self._config.district_by_name(name)
            key = district.name if district is not None else name
            counts[key] = counts.get(key, 0) + n
        if force or counts != self._district_counts:
            self._district_counts = counts
            ops.append(["setDistrictCounts", counts])

    def _queue_full_sync(self) -> None:
        """Replace whatever diffs are queued by the whole state, in chunks."""
        store = self._store
        self._queue = [call for call in self._queue if call[0] != "ops"]
        self._queued_ops = 0
        incidents = [i for i in store.incidents.values() if i.status in ACTIVE_STATUSES]
        self._shown_incidents = {i.id for i in incidents}
        self._high_active = {i.id for i in incidents if i.priority == "high"}
        self._acked_incidents = self._acked_incident_ids()
        self._pulsing = frozenset()
        units = [p for u in store.units.values() if (p := self.unit_payload(u)) is not None]
        self._shown_units = {u["id"] for u in units}
        first: list[list[Any]] = [["clearAll", None]]
        if self._alert_states:
            first.append(["setAlertStates", self._alert_states])
        self._sync_pulsing(first)
        self._sync_district_counts(first, force=True)
        self._sync_hazards(first, force=True)
        if units:
            first.append(["upsertUnits", units])
        batches = [first]
        for start in range(0, len(incidents), FULL_SYNC_CHUNK):
            chunk = incidents[start:start + FULL_SYNC_CHUNK]
            batches.append([["upsertIncidents", [self.incident_payload(i) for i in chunk]]])
        if self._bridge.selected_incident:
            batches[-1].append(["select", self._bridge.selected_incident])
        for ops in batches:
            self._send_ops(ops)

    # --- sending -------------------------------------------------------------------------

    def _send_ops(self, ops: list[list[Any]]) -> None:
        if not ops or self._closed:
            return
        # The page parses this with JSON.parse and puts feed text into the DOM
        # with textContent only.
        self._enqueue("ops", json.dumps(ops, separators=(",", ":")), None)

    def _enqueue(self, kind: str, text: str, callback: JsCallback | None) -> None:
        if self._closed:
            return
        if self._ready:
            self._run(kind, text, callback)
            return
        self._queue.append((kind, text, callback))
        if kind == "ops":
            self._queued_ops += 1
            if self._queued_ops > MAX_QUEUED_BATCHES:
                log.info("map: page not ready and %d batches queued; one full sync instead",
                         self._queued_ops)
                self._queue_full_sync()

    def _run(self, kind: str, text: str, callback: JsCallback | None) -> None:
        if kind == "ops":
            # Through QWebChannel as data, not through runJavaScript as a script:
            # V8 compiles every script source and keeps each distinct one (and a
            # batch is always distinct), which grew the render process for as
            # long as the wall ran (about 40 kB/s of live JS heap under the
            # simulator). The page confirms through _PageBridge.batchApplied.
            self._sent += 1
            self._owe()
            self._page_bridge.batch.emit(self._generation, text)
        elif self._sent > self._confirmed or self._held:
            self._held.append((self._sent, text, callback))
        else:
            self._run_script(text, callback)

    def _run_script(self, script: str, callback: JsCallback | None) -> None:
        ref = weakref.ref(self)
        generation = self._generation
        self._tickets += 1
        ticket = self._tickets
        self._in_flight[ticket] = (script, callback)
        self._owe()

        def done(result: Any) -> None:
            view = ref()
            if view is None or view._closed or generation != view._generation:
                return  # torn down, or reloaded meanwhile (then it runs again there)
            view._in_flight.pop(ticket, None)
            view._answered()
            if callback is not None:
                callback(result)

        self._page.runJavaScript(script, 0, done)

    def _on_page_batch_applied(self, generation: int, number: int) -> None:
        if self._closed or generation != self._generation:
            return  # a batch of an earlier page load
        self._confirmed += 1
        self._answered()
        self.batch_applied.emit(number)
        while self._held and self._held[0][0] <= self._confirmed:
            _, script, callback = self._held.pop(0)
            self._run_script(script, callback)

    def _flush_queue(self) -> None:
        queue, self._queue = self._queue, []
        self._queued_ops = 0
        for kind, text, callback in queue:
            self._run(kind, text, callback)

    # --- page life cycle ---------------------------------------------------------------

    def _load(self) -> None:
        if self._closed:
            return
        self._load_started = time.monotonic()
        self._page.load(QUrl.fromLocalFile(str(self._page_path)))

    def _on_page_load_started(self) -> None:
        self._generation += 1
        self._load_ok = self._js_ready = self._ready = False
        self._sent = self._confirmed = 0
        self._owed_since = 0.0
        if not self._load_started:
            self._load_started = time.monotonic()
        self._requeue_held()

    def _on_page_load_finished(self, ok: bool) -> None:
        if self._closed:
            return
        if self._recycling:
            # Load the map again once the old renderer has ended: while it
            # lives, Chromium would put the map straight back into it.
            self._recycling = False
            self._recycle_deadline = time.monotonic() + RECYCLE_WAIT_S
            self._recycle_wait_timer.start()
            return
        if not ok:
            log.error("map: page %s failed to load; retrying", self._page_path)
            self._reload_timer.start()
            return
        self._load_ok = True
        self._maybe_ready()

    def _on_page_ready(self) -> None:
        if self._closed:
            return
        self._js_ready = True
        self._maybe_ready()

    def _requeue_held(self) -> None:
        """Scripts the page never answered, or that waited for batches of a
        page now gone, run on the next one (in the order they were asked)."""
        unanswered = list(self._in_flight.values())  # by ticket: the order asked
        self._in_flight.clear()
        self._queue.extend(("js", script, callback) for script, callback in unanswered)
        self._queue.extend(("js", script, callback) for _, script, callback in self._held)
        self._held.clear()

    def _maybe_ready(self) -> None:
        if self._ready or not (self._load_ok and self._js_ready):
            return
        self._ready = True
        self._load_started = 0.0
        self._owed_since = 0.0 if self._sent == self._confirmed and not self._in_flight else time.monotonic()
        self._last_answer = time.monotonic()
        self._budget.loaded(time.monotonic())
        self._flush_queue()
        self.ready.emit()
        if self._recycled_from:
            old, self._recycled_from = self._recycled_from, 0
            new = self._page.renderProcessPid()
            log.info("map: now in renderer process %d (was %d)", new, old)
            self.renderer_recycled.emit(old, new)

    # --- a page that answers nothing ------------------------------------------------------

    def _owe(self) -> None:
        if not self._owed_since:
            self._owed_since = time.monotonic()

    def _answered(self) -> None:
        self._last_answer = time.monotonic()
        if self._sent == self._confirmed and not self._in_flight and not self._held:
            self._owed_since = 0.0
            # Owing nothing, the page is well again (an answer alone is not enough: a page
            # that hangs on the full sync's fifth batch confirmed the first four).
            if self._hangs_in_a_row:
                self._hangs_in_a_row = 0
                self._answer_limit_s = self._base_answer_limit_s

    def page_silence_s(self) -> float:
        """How long the page has owed an answer (a script's value, a batch's confirmation, its
        ready after a load) without giving any: 0 when it owes nothing."""
        now = time.monotonic()
        if self._ready:
            return now - max(self._owed_since, self._last_answer) if self._owed_since else 0.0
        return now - self._load_started if self._load_started else 0.0

    def _check_answers(self) -> None:
        if (self._closed or self._recycling or self._reload_timer.isActive()
                or self._recycle_wait_timer.isActive()):
            return
        silence = self.page_silence_s()
        if silence > self._answer_limit_s:
            self._end_hung_page(silence)

    def _end_hung_page(self, silence: float) -> None:
        """The renderer is stuck (a script that never returns, a load that never ends): no
        crash to reload after, so it is ended here and the page comes back as after one."""
        pid = self._page.renderProcessPid()
        log.error("map: the page answered nothing for %.0f s (%s; renderer %s); ending it and "
                  "reloading the map", silence, "loading" if not self._ready else
                  f"{len(self._in_flight)} scripts, {self._sent - self._confirmed} batches owed",
                  pid if pid > 0 else "none")
        self.page_hung.emit(silence)
        self._owed_since = self._load_started = 0.0
        # The page runs scripts in the order asked: the first one unanswered is the one it is
        # stuck in. Asked again on the next page it would hang that one too, so its caller
        # gets None instead; the scripts behind it run again there.
        if self._ready and self._in_flight:
            ticket = min(self._in_flight)
            script, callback = self._in_flight.pop(ticket)
            log.error("map: dropped the script the page hung in: %.120s", script)
            if callback is not None:
                callback(None)
        # A page that hangs again at once (a batch it cannot apply comes back with the full
        # sync) is given longer each time, so the wall does not reload in a loop.
        self._hangs_in_a_row += 1
        self._answer_limit_s = min(self._base_answer_limit_s * 2 ** self._hangs_in_a_row, 600.0)
        if pid > 0:
            import psutil

            try:
                psutil.Process(pid).kill()
                return  # renderProcessTerminated reloads the page with everything again
            except (psutil.Error, OSError) as exc:
                log.warning("map: could not end renderer %d (%s); reloading", pid, exc)
        self._on_page_render_process_terminated(
            QWebEnginePage.RenderProcessTerminationStatus.KilledTerminationStatus, -1)

    def renderer_rss_mb(self) -> float | None:
        """Resident memory of the page's renderer process, if known."""
        import psutil

        pid = self._page.renderProcessPid()
        if pid <= 0:
            return None
        try:
            return float(psutil.Process(pid).memory_info().rss) / (1024 * 1024)
        except (psutil.Error, OSError):
            return None

    def recycle_renderer(self, reason: str = "") -> None:
        """Move the map to a fresh renderer process: load a page of another
        site (Chromium then ends the old process), then the map again with the
        whole state. The map is blank for under a second."""
        if self._closed or self._recycling:
            return
        log.info("map: moving to a fresh renderer process%s", f" ({reason})" if reason else "")
        self._budget.recycled(time.monotonic())
        self._recycled_from = self._page.renderProcessPid()
        self._recycling = True
        self._ready = self._load_ok = self._js_ready = False
        self._owed_since = self._load_started = 0.0
        self._generation += 1
        self._requeue_held()
        self._queue_full_sync()
        self._page.load(QUrl(RECYCLE_URL))

    def _load_after_old_renderer(self) -> None:
        import psutil

        old = self._recycled_from
        try:
            alive = old > 0 and psutil.Process(old).status() != psutil.STATUS_ZOMBIE
        except (psutil.Error, OSError):
            alive = False
        if alive and time.monotonic() < self._recycle_deadline:
            return
        self._recycle_wait_timer.stop()
        if alive:
            log.warning("map: renderer %d still running %.0f s after the map left it", old, RECYCLE_WAIT_S)
        self._load()

    def _check_renderer(self) -> None:
        if self._closed or not self._ready:
            return
        rss = self.renderer_rss_mb()
        if rss is not None and self._budget.check(rss, time.monotonic()):
            self.recycle_renderer(
                f"renderer at {rss:.0f} MB, settled at {self._budget.baseline_mb:.0f} MB"
                f" + {self._budget.growth_pct:g} %"
            )

    def _on_page_render_process_terminated(
        self, status: QWebEnginePage.RenderProcessTerminationStatus, exit_code: int
    ) -> None:
        if self._closed:
            return
        log.error("map: render process ended (%s, exit code %s); reloading the page", status, exit_code)
        self._ready = self._load_ok = self._js_ready = False
        self._owed_since = self._load_started = 0.0
        self._generation += 1
        self._requeue_held()
        self._queue_full_sync()
        self.render_process_lost.emit()
        self._reload_timer.start()

    # --- bridge and page events ----------------------------------------------------------

    def _on_bridge_changed(self, changes: ChangeSet) -> None:
        self.apply_changes(changes)

    def _on_bridge_incident_selected(self, incident_id: str) -> None:
        self._send_ops([["select", incident_id]])

    def _on_page_marker_clicked(self, incident_id: str) -> None:
        if self._closed or not self._interactive:
            return
        if incident_id in self._store.incidents:
            self._bridge.select_incident(incident_id)

    def _on_page_ack_requested(self, incident_id: str) -> None:
        # The page draws no button on a wall screen; a call from one anyway
        # (a page script gone wrong) acknowledges nothing.
        if self._closed or not self._interactive:
            log.warning("map: acknowledgement from a display-only map ignored (%s)", incident_id[:64])
            return
        if incident_id in self._store.incidents:
            self.ack_requested.emit(incident_id)
