"""The operator's desk view: the incident queue, the selected incident in full,
and a slot where the alerts module puts its acknowledge (Konfirmasi) banner.

Everything that comes from the feed (descriptions from the public, names,
addresses, notes) is set as plain text: a description such as
``<img src=x onerror=alert(1)>`` shows literally.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from commandcenter.core.geo import distance_km
from commandcenter.core.i18n import Strings
from commandcenter.core.model import Incident
from commandcenter.core.store import ChangeSet
from commandcenter.core.text import isolate
from commandcenter.wall import layout as room
from ui.support import theme
from ui.support.bridge import EngineBridge
from ui.views.agencies import AgencyBoardWidget

log = logging.getLogger(__name__)

TIME_FIELDS = ("received", "verified", "dispatched", "on_scene", "closed")


def format_km(strings: Strings, km: float) -> str:
    """'12,3 km' (id), '12.3 km' (en)."""
    return strings.t("unit.distance_km", km=strings.number(km, 1))


def plain_label(text: str = "", object_name: str = "", *, wrap: bool = True) -> QLabel:
    """A label that never interprets its text: feed text is from the public."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if object_name:
        label.setObjectName(object_name)
    return label


class IncidentDetailWidget(QScrollArea):
    """The selected incident in full; follows ``bridge.incident_selected`` and
    refreshes when the incident, its units or its situation change."""

    def __init__(self, bridge: EngineBridge, metrics: theme.ScreenMetrics,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.strings = bridge.strings
        self.store = bridge.store
        self.config = bridge.config
        self.metrics = metrics
        self.incident_id = ""
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        body.setObjectName("panel")
        self.setWidget(body)
        pad = metrics.pad_px
        grid = QGridLayout(body)
        grid.setContentsMargins(pad * 2, pad, pad * 2, pad)
        grid.setHorizontalSpacing(pad * 2)
        grid.setVerticalSpacing(pad // 2)
        grid.setColumnStretch(1, 1)

        self.placeholder = plain_label(self.strings.t("detail.none_selected"), "dim")
        grid.addWidget(self.placeholder, 0, 0, 1, 2)
        self.ticket = plain_label("", "heading")
        self.headline = plain_label()  # category · priority word · status
        self.headline.setStyleSheet("font-weight: 600;")
        grid.addWidget(self.ticket, 1, 0, 1, 2)
        grid.addWidget(self.headline, 2, 0, 1, 2)

        self.fields: dict[str, QLabel] = {}
        self.captions: dict[str, QLabel] = {}
        rows = [
            ("situation", self.strings.t("detail.situation")),
            ("location", self.strings.t("detail.location")),
            ("coords", ""),
            ("reporter", self.strings.t("detail.reporter")),
            ("victims", self.strings.t("detail.victims")),
            ("description", self.strings.t("detail.description")),
            ("times", self.strings.t("detail.times")),
            ("tasks", self.strings.t("detail.tasks")),
            ("units", self.strings.t("detail.units")),
        ]
        for i, (key, caption) in enumerate(rows, start=3):
            cap = plain_label(caption, "dim", wrap=False)
            cap.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            value = plain_label()
            value.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            grid.addWidget(cap, i, 0)
            grid.addWidget(value, i, 1)
            self.captions[key] = cap
            self.fields[key] = value
        grid.setRowStretch(len(rows) + 3, 1)
        self._detail_widgets = [self.ticket, self.headline, *self.captions.values(), *self.fields.values()]
        self._priority_color = ""
        bridge.incident_selected.connect(self._on_bridge_incident_selected)
        bridge.changed.connect(self._on_bridge_changed)
        self.show_incident(bridge.selected_incident)

    # --- rendering -----------------------------------------------------------------

    def show_incident(self, incident_id: str) -> None:
        s = self.strings
        self.incident_id = incident_id
        inc = self.store.incidents.get(incident_id) if incident_id else None
        if inc is None:
            self.placeholder.setText(s.t("detail.gone") if incident_id else s.t("detail.none_selected"))
            self.placeholder.setVisible(True)
            for w in self._detail_widgets:
                w.setVisible(False)
            return
        self.placeholder.setVisible(False)
        for w in self._detail_widgets:
            w.setVisible(True)
        self._render(inc)

    def _render(self, inc: Incident) -> None:
        s = self.strings
        f = self.fields
        self.ticket.setText(inc.ticket)
        color = theme.PRIORITY_COLOR.get(inc.priority, theme.TEXT)
        if color != self._priority_color:
            self._priority_color = color
            self.headline.setStyleSheet(f"font-weight: 600; color: {color};")
        self.headline.setText(" · ".join((
            s.category_name(self.config, inc.category),
            s.t(f"priority.{inc.priority}"),
            s.t(f"status.{inc.status}"),
        )))
        loc = inc.location
        # Feed text isolated: a right-to-left name cannot reorder the words beside it.
        lines = [", ".join(isolate(p) for p in (loc.desa, loc.kecamatan) if p)]
        if loc.address:
            lines.append(isolate(loc.address))
        if loc.km_marker or loc.road:
            lines.append(s.t("detail.km_road", km=isolate(loc.km_marker), road=isolate(loc.road)).strip())
        f["location"].setText("\n".join(line for line in lines if line) or s.t("detail.none"))
        # Coordinates keep the decimal point in both languages (as GPS and map apps show them).
        coords = ""
        if loc.lat is not None:
            coords = s.t("detail.coords", lat=f"{loc.lat:.5f}", lon=f"{loc.lon:.5f}")
        f["coords"].setText(coords)
        f["coords"].setVisible(bool(coords))
        self.captions["coords"].setVisible(bool(coords))
        rep = inc.reporter
        reporter = "  ".join(isolate(p) for p in (rep.name, rep.phone_masked) if p)
        f["reporter"].setText(reporter or s.t("detail.none"))
        f["victims"].setText(str(inc.victims))
        f["description"].setText(isolate(inc.description) or s.t("detail.none"))
        f["times"].setText("\n".join(
            f"{s.t(f'detail.time.{name}')}  {s.clock(getattr(inc.times, name))}" for name in TIME_FIELDS))
        f["tasks"].setText("\n".join(
            f"{s.agency_name(self.config, task.agency)} — {s.t(f'task.{task.status}')}"
            + (f" — {isolate(task.note)}" if task.note else "")
            for task in inc.tasks) or s.t("detail.none"))
        units = [self._unit_line(inc, uid) for uid in self._unit_ids(inc)]
        f["units"].setText("\n".join(units) or s.t("detail.none"))
        sit = self.store.situations.get(inc.situation_id) if inc.situation_id else None
        f["situation"].setText(isolate(sit.name) if sit else "")
        f["situation"].setVisible(sit is not None)
        self.captions["situation"].setVisible(sit is not None)

    @staticmethod
    def _unit_ids(inc: Incident) -> list[str]:
        """The incident's units and those named by its tasks, each once, in order."""
        seen: dict[str, None] = dict.fromkeys(inc.units)
        for task in inc.tasks:
            seen.update(dict.fromkeys(task.units))
        return list(seen)

    def _unit_line(self, inc: Incident, unit_id: str) -> str:
        s = self.strings
        unit = self.store.units.get(unit_id)
        if unit is None:
            return s.t("detail.unknown_unit", unit=unit_id)
        loc = inc.location
        if unit.position is not None and loc.lat is not None and loc.lon is not None:
            distance = format_km(s, distance_km(unit.position.lat, unit.position.lon, loc.lat, loc.lon))
        else:
            distance = s.t("detail.no_position")
        agency = s.agency_name(self.config, unit.agency)
        return f"{isolate(unit.callsign)} ({agency}) — {s.t(f'unit.{unit.status}')} — {distance}"

    # --- slots ---------------------------------------------------------------------

    def _on_bridge_incident_selected(self, incident_id: str) -> None:
        self.show_incident(incident_id)

    def _on_bridge_changed(self, changes: ChangeSet) -> None:
        iid = self.incident_id
        if not iid:
            return
        inc = self.store.incidents.get(iid)
        units = changes.units_updated | changes.units_added
        situations = changes.situations_updated | changes.situations_added
        touched = (
            changes.reset
            or iid in changes.incidents_added
            or iid in changes.incidents_updated
            or iid in changes.incidents_removed
            or (inc is not None and not units.isdisjoint(self._unit_ids(inc)))
            or (inc is not None and inc.situation_id in situations)
        )
        if touched:
            self.show_incident(iid)


class ConsoleView(QWidget):
    """The operator console: alert slot on top, queue on the left, detail on the right
    with the agency tiles (``tiles``) and the replay button under it.

    Heights come from the engine (commandcenter.wall.layout.console_fit, the layout check's
    rule): the banner's slot keeps its planned height even while no alert shows (rows must not
    jump under the operator's pointer when one comes), and the queue column holds only the
    search bar and whole rows, so the rows the layout check reports are the rows shown."""

    def __init__(self, bridge: EngineBridge, metrics: theme.ScreenMetrics, parent: QWidget | None = None,
                 queue_widget: QWidget | None = None, banner: QWidget | None = None, *,
                 tiles: bool = False) -> None:  # fmt: skip
        super().__init__(parent)
        self.bridge = bridge
        self.strings = bridge.strings
        self.metrics = metrics
        self.setObjectName("consoleView")
        self.setStyleSheet(theme.stylesheet(metrics) + (
            "QWidget#panel QLabel { background: transparent; }"
            f"QLabel#heading {{ font-size: {metrics.heading_px}px; font-weight: 700; }}"))
        pad = metrics.pad_px
        #: The Konfirmasi banner (ui.alerts), given by the program; without
        #: one the slot is empty and of no height.
        self.alert_slot = QWidget()
        self.alert_slot.setObjectName("alert_slot")
        slot_layout = QVBoxLayout(self.alert_slot)
        slot_layout.setContentsMargins(0, 0, 0, 0)
        slot_layout.setSpacing(pad // 2)
        self.alert_banner = banner
        if banner is not None:
            slot_layout.addWidget(banner, 0, Qt.AlignmentFlag.AlignTop)
            # A longer alert than planned: the slot grows with it rather than squeezing it.
            banner.installEventFilter(self)
        if queue_widget is None:
            queue_widget = plain_label(self.strings.t("console.queue_placeholder"), "dim")
            queue_widget.setAlignment(Qt.AlignmentFlag.AlignCenter)
            queue_widget.setObjectName("queuePlaceholder")
        self.queue_widget = queue_widget
        self.detail = IncidentDetailWidget(bridge, metrics)
        # The detail column: the incident, the agency tiles, the replay button.
        self.side = QWidget()
        self.side.setObjectName("consoleSide")
        side = QVBoxLayout(self.side)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(pad // 2)
        side.addWidget(self.detail, 1)
        self.tiles = tiles
        self.agency_board: AgencyBoardWidget | None = None
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setHandleWidth(pad)  # the engine's handle
        self.splitter.addWidget(queue_widget)
        self.splitter.addWidget(self.side)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        # Initial share 3:2; QSplitter scales these to its real width.
        self.splitter.setSizes([3000, 2000])
        root = QVBoxLayout(self)
        root.setContentsMargins(pad, pad, pad, pad)
        root.setSpacing(pad)
        root.addWidget(self.alert_slot, 0)
        root.addWidget(self.splitter, 1)
        # "Putar ulang": the program (ui.app.replay) opens this wall's journal in a replay window.
        self.replay_button = QPushButton(self.strings.t("replay.open"))
        self.replay_button.setObjectName("replayOpen")
        self.replay_button.clicked.connect(bridge.replay_requested)
        # Not inside a replay: it would replay the replay.
        self.replay_button.setVisible(bridge.replay_status() is None)
        side.addWidget(self.replay_button, 0, Qt.AlignmentFlag.AlignRight)
        self.fit: room.ConsoleFit | None = None
        self._fit_to(self.width(), self.height())

    def _fit_to(self, width: int, height: int) -> None:
        """The engine's plan for this size: the banner's slot, the queue's and the detail's
        widths, the tiles (desk tiles, or two-line ones where the detail would lose its room)."""
        fit = room.console_fit(self.metrics.sizes, width, height, tiles=self.tiles)
        self.fit = fit
        self.replay_button.setFixedHeight(fit.control_px)
        self._fit_banner()
        if width > 0:
            self.splitter.setSizes([fit.queue_w, fit.side_w])
        if self.tiles and (self.agency_board is None or self.agency_board.compact != fit.compact_tiles):
            if self.agency_board is not None:
                self.agency_board.hide()
                self.agency_board.deleteLater()
            chars = room.CONSOLE_TILE_CHARS[fit.compact_tiles]
            self.agency_board = AgencyBoardWidget(
                self.bridge, self.metrics, self.side, compact=fit.compact_tiles, tile_chars=chars
            )
            layout = self.side.layout()
            assert isinstance(layout, QVBoxLayout)
            layout.insertWidget(1, self.agency_board, 0)

    def _fit_banner(self) -> None:
        if self.alert_banner is None or self.fit is None:
            return
        self.alert_slot.setMinimumHeight(max(self.fit.banner_px, self.banner_need()))

    def banner_need(self) -> int:
        """The banner's height at the slot's width (its text wraps: the plain size hint is
        for a narrower banner)."""
        banner = self.alert_banner
        if banner is None:
            return 0
        width = self.width() - 2 * self.metrics.pad_px
        if width > 0 and banner.hasHeightForWidth():
            return banner.heightForWidth(width)
        return banner.sizeHint().height()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.alert_banner and event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.Show):
            self._fit_banner()
        return super().eventFilter(watched, event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_to(self.width(), self.height())
