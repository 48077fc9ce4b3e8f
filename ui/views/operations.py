"""The operations board: the incident queue above the agency tiles, one screen.

On a wall (``interactive=False``) nothing is clicked: the selection follows the
bridge (an incident chosen on a console is highlighted here too). On the operator
console (``interactive=True``) a search box and an active/all toggle sit above
the queue, the header sorts, and a click selects the incident everywhere.

``compact`` (default: when the body font is wall-sized) keeps the columns that
matter from metres away (priority, category, location, age, status) and shows
agency tiles as shapes and numbers with one legend line.

Density comes from the engine (commandcenter.wall.layout, the rule behind
``commandcenter layout check``): which columns fit the width at the screen's text
size, and the table is always a whole number of rows under its header, so no
row is ever cut by the bottom edge (the rest of the height stays empty).
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, QSize, Qt, Signal
from PySide6.QtGui import QAction, QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from commandcenter.core.model import INCIDENT_STATUSES as STATUSES
from commandcenter.wall import layout as room
from ui.support import theme
from ui.support.bridge import EngineBridge
from ui.support.theme import ScreenMetrics
from ui.views.agencies import AgencyBoardWidget
from ui.views.queue import (
    COL_ACK,
    COL_AGE,
    COL_AGENCIES,
    COL_CATEGORY,
    COL_LOCATION,
    COL_PRIORITY,
    COL_STATUS,
    COL_TICKET,
    COL_UNITS,
    COL_VICTIMS,
    COLUMNS,
    IncidentIdRole,
    IncidentQueueModel,
    IncidentQueueProxy,
    QueueDelegate,
    short_category_name,
)

log = logging.getLogger(__name__)

#: Body font size from which a screen counts as a wall (read from metres away).
COMPACT_FROM_PX = room.DESK_BODY_PX
#: The engine's column names (commandcenter.wall.layout.QUEUE_COLUMNS) to the model's columns.
ENGINE_COLUMNS = {name: COLUMNS.index(name) for name, _, _ in room.QUEUE_COLUMNS}


class WholeRows(QWidget):
    """Holds a table and gives it a whole number of rows under its header: the
    height left over stays empty instead of showing half a row."""

    def __init__(self, table: QTableView, row_px: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self.row_px = row_px
        table.setParent(self)
        self.on_resize: list[Any] = []
        # A stylesheet set above the table later (the console's) re-polishes its header, which
        # then takes the style's row height (2 px more): a row fewer than the engine's plan.
        table.verticalHeader().installEventFilter(self)

    def _pin_rows(self) -> None:
        vh = self.table.verticalHeader()
        if vh.defaultSectionSize() != self.row_px:
            vh.setMinimumSectionSize(self.row_px)
            vh.setDefaultSectionSize(self.row_px)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.StyleChange, QEvent.Type.FontChange, QEvent.Type.Polish):
            self._pin_rows()
        return super().eventFilter(watched, event)

    def _header_px(self) -> int:
        hh = self.table.horizontalHeader()
        return hh.maximumHeight() if hh.minimumHeight() == hh.maximumHeight() else hh.sizeHint().height()

    def _row(self) -> int:
        # The row pitch the table really uses (a style may need more than the font's line).
        return max(self.row_px, self.table.verticalHeader().defaultSectionSize())

    def rows_that_fit(self, height: int) -> int:
        return max(0, (height - self._header_px()) // self._row())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        for callback in self.on_resize:
            callback(self.width())
        self._pin_rows()
        rows = self.rows_that_fit(self.height())
        self.table.setGeometry(0, 0, self.width(), self._header_px() + rows * self._row())


class OperationsView(QWidget):
    #: An interactive queue's row was double-clicked, or its context action
    #: "Konfirmasi" chosen: acknowledge that incident's most urgent alert.
    acknowledge_requested = Signal(str)

    def __init__(
        self,
        bridge: EngineBridge,
        metrics: ScreenMetrics,
        parent: QWidget | None = None,
        *,
        interactive: bool = False,
        compact: bool | None = None,
        tiles: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("operationsView")
        self.bridge = bridge
        self.strings = bridge.strings
        self.metrics = metrics
        self.interactive = interactive
        self.compact = metrics.body_px >= COMPACT_FROM_PX if compact is None else compact
        self.setStyleSheet(theme.stylesheet(metrics))
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)

        self.model = IncidentQueueModel(bridge.store, bridge.config, self, strings=self.strings)
        self.model.short_text = self.compact
        self.model.connect_bridge(bridge)
        self.proxy = IncidentQueueProxy(self.model, self)
        self.table = self._make_table()
        self.rows_box = WholeRows(self.table, metrics.row_px, self)
        self.rows_box.on_resize.append(self._fit_columns)
        self.agency_board: AgencyBoardWidget | None = None
        if tiles:
            self.agency_board = AgencyBoardWidget(bridge, metrics, self, compact=self.compact)

        pad = metrics.pad_px
        layout = QVBoxLayout(self)
        # A wall's queue alone uses its whole region: every pixel may be a row.
        edge = pad // 2 if interactive else 0
        layout.setContentsMargins(edge, edge, edge, edge)
        layout.setSpacing(pad // 2 if interactive else room.OPERATIONS_GAP_PX)
        if interactive:
            layout.addLayout(self._make_filter_bar())
        layout.addWidget(self.rows_box, 1)
        if self.agency_board is not None:
            layout.addWidget(self.agency_board, 0)

        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_changed)
        if interactive:
            self._add_acknowledge_action()
        bridge.incident_selected.connect(self._on_bridge_incident_selected)
        if bridge.selected_incident:
            self._on_bridge_incident_selected(bridge.selected_incident)

    # -- building -------------------------------------------------------------------

    def _add_acknowledge_action(self) -> None:
        table = self.table

        def request(index: QModelIndex) -> None:
            if index.isValid():
                self.acknowledge_requested.emit(self.proxy.incident_id(index.row()))

        table.doubleClicked.connect(request)
        action = QAction(self.strings.t("ack.button"), table)
        action.triggered.connect(lambda: request(table.currentIndex()))
        table.addAction(action)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

    def _make_table(self) -> QTableView:
        m = self.metrics
        table = QTableView(self)
        table.setObjectName("incidentQueue")
        table.setModel(self.proxy)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.setFrameShape(QFrame.Shape.NoFrame)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        # A gap between cells: elided text must not run into the next column's words.
        table.setStyleSheet(f"QTableView::item {{ padding-left: {m.pad_px // 2}px; }}")
        # Painted from one call per cell; sizes still come from the style (and that padding).
        table.setItemDelegate(QueueDelegate(self.proxy, table, m.pad_px // 2))
        icon = round(m.body_px * 0.8)
        table.setIconSize(QSize(icon, icon))
        font = QFont(table.font())
        font.setPixelSize(m.body_px)
        table.setFont(font)
        vh = table.verticalHeader()
        vh.hide()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(m.row_px)
        vh.setMinimumSectionSize(m.row_px)
        hh = table.horizontalHeader()
        hh.setFixedHeight(m.row_px)
        hh.setHighlightSections(False)
        hh.setSortIndicator(COL_PRIORITY, Qt.SortOrder.AscendingOrder)
        hh.setSortIndicatorShown(self.interactive)
        table.setSortingEnabled(self.interactive)
        if not self.interactive:
            # Nobody scrolls or clicks a wall: no focus frame, no scroll bar eating width.
            table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self._size_columns(table, QFontMetrics(font), icon)
        return table

    def _size_columns(self, table: QTableView, fm: QFontMetrics, icon: int) -> None:
        """Fixed widths from the widest expected text (ResizeToContents would read
        every row of a 20,000-row model); the location takes the rest. Which
        columns show is decided per width in :meth:`_fit_columns`."""
        pad = self.metrics.pad_px
        # The header as the stylesheet draws it (small size, weight 600): its font() before the
        # style is applied is the regular weight, and "Units"/"Victims" came out a few px cut.
        header_font = QFont(table.horizontalHeader().font())
        header_font.setPixelSize(self.metrics.small_px)
        header_font.setWeight(QFont.Weight.DemiBold)
        header_fm = QFontMetrics(header_font)
        # What the item delegate adds around a cell's text: the style's text margins
        # on both sides, the gap before the icon, and the cell's own left padding.
        margin = table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1
        cell = pad // 2 + 4 * margin

        def fits(*texts: str, extra: int = 0) -> int:
            return max(fm.horizontalAdvance(x) for x in texts) + cell + extra

        config = self.bridge.config
        codes = [c.code for c in config.categories]
        self._category_full = fits(*(self.strings.category_name(config, c) for c in codes))
        self._category_short = fits(*(short_category_name(self.strings, config, c) for c in codes))
        # Age and status in their short and their full wording: a desk queue too narrow for the
        # full ones (a laptop's console) takes the wall's short ones rather than losing a column.
        short_age = fits(self.strings.age_column(99 * 60), extra=icon + pad)
        short_status = fits(*(self.strings.t(f"status.short.{s}") for s in STATUSES))
        self._text_widths = {
            True: {COL_AGE: short_age, COL_STATUS: short_status},
            False: {COL_AGE: fits(self.strings.age(23 * 3600 + 59 * 60), extra=icon + pad),
                    COL_STATUS: fits(*(self.strings.t(f"status.{s}") for s in STATUSES))},
        }  # fmt: skip
        widths = {
            COL_CATEGORY: self._category_full,
            COL_PRIORITY: fits(
                *(self.strings.t(f"priority.short.{p}") for p in ("high", "medium", "low")), extra=icon + pad
            ),
            COL_TICKET: fits("OKI-20261127-0000"),
            **self._text_widths[self.compact],
            COL_AGENCIES: fits("Satpol PP / Damkar"),
            COL_UNITS: fits("00"),
            COL_ACK: fits(self.strings.t("ack.short", operator="Operator", time="00:00")),
            COL_VICTIMS: fits("000"),
        }
        hh = table.horizontalHeader()
        self._widths: dict[int, int] = {}
        self._header_ws: dict[int, int] = {}
        for col in range(len(COLUMNS)):
            header_w = (
                header_fm.horizontalAdvance(str(self.model.headerData(col, Qt.Orientation.Horizontal)))
                + 2 * pad
            )
            self._header_ws[col] = header_w
            if col == COL_LOCATION:
                hh.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
                self._widths[col] = header_w
                # Its short heading ("Lokasi"), shown where the place has less room.
                short_head = self.strings.t("col.location.short")
                self._location_short = header_fm.horizontalAdvance(short_head) + 2 * pad
            else:
                hh.setSectionResizeMode(col, QHeaderView.ResizeMode.Fixed)
                self._widths[col] = max(widths[col], header_w)
                hh.resizeSection(col, self._widths[col])
        self._columns_for = -1

    def _fit_columns(self, width: int) -> None:
        """Keep the columns the engine says fit this width at this text size (a wall
        never less than priority, category, location, age, status), and short
        category names where the full ones would not fit: a category is never cut."""
        if width == self._columns_for or width <= 0:
            return
        self._columns_for = width
        # The columns share the viewport: the table's frame and, on a desk, its scroll bar take
        # their width first (the last column, Unit, was cut by exactly that).
        width -= 2 * self.table.frameWidth()
        if self.interactive:
            width -= self.table.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self.table)
        # The engine's columns and wording (a desk's in a smaller font), so that the layout check
        # lists what shows here; the fonts may only take more away (below).
        fit = room.queue_fit(self.metrics.sizes, width, 0, desk=not self.compact)
        shown = {ENGINE_COLUMNS[name] for name in fit.columns}
        if not self.compact:
            # The five first columns in their full wording, or else the short one.
            hh0 = self.table.horizontalHeader()
            worded = self._text_widths[False]
            need = (self._widths[COL_PRIORITY] + self._category_short + worded[COL_AGE] + worded[COL_STATUS]
                    + self._location_short)  # fmt: skip
            short_text = fit.short_text or need > width
            for col, w in self._text_widths[short_text].items():
                self._widths[col] = max(w, self._header_ws[col])
                hh0.resizeSection(col, self._widths[col])
            self.model.set_short_text(short_text)
        # Drop optional columns (last first) until the fixed ones leave the place some room.
        optional = [ENGINE_COLUMNS[n] for n, _, required in reversed(room.QUEUE_COLUMNS) if not required]
        full = width - sum(self._widths[c] for c in shown if c not in (COL_LOCATION, COL_CATEGORY))
        narrow_desk = self.model.short_text and not self.compact
        place_min = self._location_short if narrow_desk else self._widths[COL_LOCATION]
        short = self.compact or full - self._category_full < place_min
        for col in optional:
            category = self._category_short if short else self._category_full
            if full - category >= place_min or col not in shown:
                continue
            shown.discard(col)
            log.debug("queue: column %s dropped at %d px, the layout check lists it", COLUMNS[col], width)
            full += self._widths[col]
            short = self.compact or full - self._category_full < place_min
        self.model.set_short_category(short)
        # Narrower still (a laptop's desk view): the place column's short heading.
        self.model.set_short_location_header(full - self._category_short < place_min)
        hh = self.table.horizontalHeader()
        hh.resizeSection(COL_CATEGORY, self._category_short if short else self._category_full)
        for col in range(len(COLUMNS)):
            self.table.setColumnHidden(col, col not in shown)

    def _make_filter_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        self.search = QLineEdit(self)
        self.search.setPlaceholderText(self.strings.t("queue.search"))
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.set_search_text)
        self.active_toggle = QPushButton(self)
        self.active_toggle.setCheckable(True)
        self.active_toggle.setChecked(self.proxy.active_only)
        self.active_toggle.toggled.connect(self._on_active_toggled)
        self._on_active_toggled(self.proxy.active_only)
        # The engine's control height: the rows under the bar are the layout check's.
        for w in (self.search, self.active_toggle):
            w.setFixedHeight(room.control_px(self.metrics.sizes))
        bar.addWidget(self.search, 1)
        bar.addWidget(self.active_toggle)
        return bar

    # -- slots ------------------------------------------------------------------------

    def _on_active_toggled(self, on: bool) -> None:
        self.proxy.set_active_only(on)
        # The button names what is shown now: "Aktif" or "Semua".
        self.active_toggle.setText(self.strings.t("filter.active" if on else "filter.all"))
        self._on_bridge_incident_selected(self.bridge.selected_incident)

    def _on_table_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if current.isValid():
            self.bridge.select_incident(str(current.data(IncidentIdRole)))

    def _on_bridge_incident_selected(self, incident_id: str) -> None:
        sel = self.table.selectionModel()
        row = self.proxy.proxy_row_of(incident_id) if incident_id else -1
        if row < 0:
            sel.clearSelection()
            return
        index = self.proxy.index(row, COL_PRIORITY)
        if sel.currentIndex().row() != row or not sel.isRowSelected(row):
            flags = (
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows
                | QItemSelectionModel.SelectionFlag.Current
            )
            sel.setCurrentIndex(index, flags)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
