"""One tile per configured agency (OPD): units, active incidents, median
arrival today and a 24-hour sparkline of incidents per hour.

Every figure comes from :meth:`Store.kpis` (units, active incidents, incidents
per hour and today's arrival statistics per agency); the board only paints
them. Refreshes happen at most once a second (on the
bridge tick, or on a change when the last refresh is a second old); the
sparkline keeps its PlotDataItem and only calls setData.
"""

from __future__ import annotations

import html
import logging
import time
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from commandcenter.config import Config
from commandcenter.core.i18n import Strings
from commandcenter.core.store import ChangeSet, Store
from commandcenter.wall import layout as room
from ui.support import theme
from ui.support.bridge import EngineBridge
from ui.support.text import plain_tooltip
from ui.support.theme import ScreenMetrics

log = logging.getLogger(__name__)

#: Shapes that go with the unit colours (never colour alone) and the figures.
UNIT_GROUPS: tuple[str, ...] = ("available", "busy", "out_of_service")
GROUP_SYMBOL = {"available": "✓", "busy": "●", "out_of_service": "✕"}
ACTIVE_SYMBOL = "▲"
MEDIAN_SYMBOL = "◔"


class AgencyTile(QFrame):
    """The figures of one agency: its name on the first line, its counts on the
    second (the engine's tile: commandcenter.wall.layout AGENCY_TILE_LINES), and
    on a desk the median arrival and a 24-hour sparkline under them.

    Each line shows the longest wording that fits the tile's width (measured with
    the font it is drawn in): the counts give up their words, then the rarer
    groups (out of service, then busy); the name gives way to the agency code.
    Active incidents and available units always stay: a tile is never cut."""

    def __init__(
        self,
        code: str,
        config: Config,
        metrics: ScreenMetrics,
        *,
        compact: bool,
        strings: Strings,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.code = code
        self.strings = strings
        self.compact = compact
        self.setObjectName("panel")
        self.figures: dict[str, Any] = {}
        cfg = config.agency(code) if config is not None else None
        short = self.strings.agency_name(config, code)
        self.names = [short] if short == code else [short, code]
        color = cfg.color if cfg is not None else theme.ACCENT

        pad = metrics.pad_px
        layout = QVBoxLayout(self)
        side = 2 if compact else pad // 2  # a wall tile: about nine characters wide, each counts
        layout.setContentsMargins(side, 0, side, 0)
        layout.setSpacing(0)

        self.name_label = QLabel(self.names[0])
        self.name_label.setToolTip(plain_tooltip(self.strings.agency_name(config, code, short=False)))
        font = QFont(self.name_label.font())
        font.setPixelSize(metrics.body_px)
        font.setBold(True)
        self.name_label.setFont(font)
        self.median_label = QLabel()
        # One rich-text label for the counts: each number in its group's colour
        # after its group's shape (our own text only, nothing from the feed).
        self.units_label = QLabel()
        self.units_label.setTextFormat(Qt.TextFormat.RichText)
        # The active count shares the units line (kept for tests and tooltips).
        self.active_label = self.units_label
        line_px = metrics.row_px
        for label in (self.name_label, self.median_label, self.units_label):
            label.setStyleSheet(f"color: {theme.TEXT}; background: transparent;")
            # The tile's width is the board's to give: the text is chosen to fit it.
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            label.setFixedHeight(line_px)
        layout.addWidget(self.name_label)
        layout.addWidget(self.units_label)

        # A sparkline on a desk: kept for the widget's life, only setData on refresh.
        self.plot = pg.PlotWidget(background=theme.BG_PANEL)
        self.plot.setObjectName("sparkline")
        item = self.plot.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.hideButtons()
        item.setMenuEnabled(False)
        item.setMouseEnabled(x=False, y=False)
        item.getViewBox().setDefaultPadding(0.05)
        self.plot.setXRange(0, 23, padding=0.02)
        self.curve = self.plot.plot(
            list(range(24)),
            [0] * 24,
            pen=pg.mkPen(color, width=max(2, metrics.body_px // 12)),
            fillLevel=0,
            brush=pg.mkBrush(color + "55"),
        )
        self.plot.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.plot.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        if compact:
            # From metres away: name and counts, two lines (the median is the tooltip).
            self.median_label.hide()
            self.plot.hide()
            self.setFixedHeight(room.AGENCY_TILE_LINES * line_px)
        else:
            layout.addWidget(self.median_label)
            self.plot.setFixedHeight(metrics.body_px * 2)
            layout.addWidget(self.plot)
            self.setFixedHeight(3 * line_px + metrics.body_px * 2)
        self._fitted_for: tuple[int, dict[str, Any]] = (-1, {})
        self.set_figures({}, 0, None, [0] * 24)

    def _units_variants(self) -> list[list[tuple[str, str, str]]]:
        """(colour, shape, text) parts of the counts line, longest first."""
        f, t = self.figures, self.strings.t
        active = (theme.TEXT, ACTIVE_SYMBOL, str(f["active"]))
        groups = [(theme.UNIT_GROUP_COLOR[g], GROUP_SYMBOL[g], str(f[g])) for g in UNIT_GROUPS]
        worded = [(c, s, f"{t(f'unit.{g}')} {n}") for g, (c, s, n) in zip(UNIT_GROUPS, groups, strict=True)]
        out = []
        if not self.compact:
            out.append([(theme.TEXT, ACTIVE_SYMBOL, f"{t('agency.active')} {f['active']}"), *worded])
        out += [[active, *groups], [active, *groups[:2]], [active, groups[0]]]
        return out

    def _fit(self) -> None:
        """The longest wording of each line that fits the tile's width."""
        # Before the first layout there is no width yet: the longest wording until then.
        width = self.units_label.contentsRect().width() if self.units_label.width() > 0 else 1 << 20
        key = (width, dict(self.figures))
        if key == self._fitted_for:
            return
        self._fitted_for = key
        name_fm = QFontMetrics(self.name_label.font())
        name = next((n for n in self.names if name_fm.horizontalAdvance(n) <= width), self.names[-1])
        self.name_label.setText(name)
        # Measured on the plain text with the label's font metrics, plus a small margin for the
        # colour spans: laying the rich text out in a QTextDocument per wording and tile stalled
        # the GUI thread for about 1.5 s when a snapshot changed every tile at once.
        units_fm = QFontMetrics(self.units_label.font())
        variants = self._units_variants()
        html_text = ""
        for parts in variants:
            spans = (f'<span style="color:{c}">{html.escape(s + x)}</span>' for c, s, x in parts)
            html_text = "\u2009".join(spans)
            plain = "\u2009".join(s + x for _c, s, x in parts)
            if units_fm.horizontalAdvance(plain) * 1.08 + 4 <= width:
                break
        self.units_label.setText(html_text)
        if not self.compact:
            long_text = self.median_label.property("long") or ""
            short_text = self.median_label.property("short") or ""
            mfm = QFontMetrics(self.median_label.font())
            self.median_label.setText(long_text if mfm.horizontalAdvance(long_text) <= width else short_text)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # The labels get their width from the layout, which runs after this event.
        QTimer.singleShot(0, self, self._fit)  # not after the tile is gone

    def set_figures(
        self, units: dict[str, int], active: int, median_s: float | None, hourly: list[int]
    ) -> None:
        figures = {
            **{g: units.get(g, 0) for g in UNIT_GROUPS},
            "active": active,
            "median_s": median_s,
            "hourly": list(hourly),
        }
        if figures == self.figures:
            return
        self.figures = figures
        t = self.strings.t
        median_text = self.strings.minutes(median_s)
        groups = ", ".join(f"{t(f'unit.{g}')} {figures[g]}" for g in UNIT_GROUPS)
        median_tip = f"{t('agency.median')} {median_text}"
        self.units_label.setToolTip(f"{t('agency.active')} {active}; {groups}; {median_tip}")
        minutes = t("kpi.none")
        if median_s is not None:
            minutes = t("agency.median_short", n=self.strings.number(median_s / 60))
        self.median_label.setProperty("long", f"{t('agency.median')} {median_text}")
        self.median_label.setProperty("short", f"{MEDIAN_SYMBOL} {minutes}")
        self.median_label.setToolTip(f"{t('agency.median')} {median_text}")
        self._fitted_for = (-1, {})
        self._fit()
        if not self.compact:
            self.curve.setData(list(range(24)), figures["hourly"])
            self.plot.setYRange(0, max([1, *hourly]), padding=0.05)


class AgencyBoardWidget(QWidget):
    """A grid of :class:`AgencyTile`, one per configured agency, in config order."""

    def __init__(
        self,
        bridge: EngineBridge,
        metrics: ScreenMetrics,
        parent: QWidget | None = None,
        *,
        compact: bool = False,
        columns: int = 4,
        tile_chars: int = room.AGENCY_TILE_CHARS,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._store: Store = bridge.store
        self._config = bridge.config
        self.strings = bridge.strings
        self.compact = compact
        #: Characters a tile is planned wide (commandcenter.wall.layout.agency_tiles_fit).
        self.tile_chars = tile_chars
        self._dirty = True
        self._last_refresh = float("-inf")
        self._last_hour: int | None = None
        self.refresh_count = 0

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(metrics.pad_px // 2)
        if compact:
            # Tiles show shapes and numbers only: the words are said once here.
            self._legend_variant = 0
            self.legend = QLabel(self._legend_html())
            # One line (the wording is chosen to fit in _fit_legend): each line costs a queue row.
            self.legend.setTextFormat(Qt.TextFormat.RichText)
            self.legend.setObjectName("dim")
            self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            self.legend.setFixedHeight(metrics.row_px)
            outer.addWidget(self.legend)
        self.metrics = metrics
        self.grid = QGridLayout()
        # From metres away the tiles' borders part them: every pixel of height is a queue row's.
        self.grid.setSpacing(room.AGENCY_TILE_GAP_PX if compact else metrics.pad_px // 2)
        self.tiles: dict[str, AgencyTile] = {}
        self.columns = 0
        for code in (a.code for a in self._config.agencies):
            self.tiles[code] = AgencyTile(code, self._config, metrics, compact=compact, strings=self.strings,
                                          parent=self)  # fmt: skip
        self._place_tiles(columns)
        outer.addLayout(self.grid)
        outer.addStretch(1)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._fit_height()

        bridge.changed.connect(self._on_bridge_changed)
        bridge.tick.connect(self._on_bridge_tick)
        self.refresh()

    def _legend_items(self, variant: int) -> list[tuple[str, str, str]]:
        """Legend entries; higher variants use shorter words for narrower screens."""
        active = ("agency.legend.active", "agency.legend.active.short", "agency.legend.active.short")
        median = ("agency.legend.median", "agency.legend.median.short", "agency.legend.median.shortest")
        t = self.strings.t
        items = [(GROUP_SYMBOL[g], theme.UNIT_GROUP_COLOR[g], t(f"unit.{g}")) for g in UNIT_GROUPS]
        items += [
            (ACTIVE_SYMBOL, theme.TEXT, t(active[variant])),
            (MEDIAN_SYMBOL, theme.TEXT, t(median[variant])),
        ]
        return items

    def _legend_html(self, variant: int = 0) -> str:
        return "&nbsp;&nbsp; ".join(
            f'<span style="color:{c}">{html.escape(s)}&nbsp;{html.escape(w).replace(" ", "&nbsp;")}</span>'
            for s, c, w in self._legend_items(variant)
        )

    def _fit_legend(self) -> None:
        """The longest legend wording that fits on one line (each line costs a queue row)."""
        fm = QFontMetrics(self.legend.font())
        width = self.legend.contentsRect().width()
        for variant in range(3):
            plain = "\u00a0\u00a0 ".join(f"{s}\u00a0{w}" for s, _, w in self._legend_items(variant))
            if fm.horizontalAdvance(plain) <= width:
                break
        if variant != self._legend_variant:
            self._legend_variant = variant
            self.legend.setText(self._legend_html(variant))

    def _place_tiles(self, columns: int) -> None:
        """All tiles, ``columns`` to a row, in config order."""
        if columns == self.columns:
            return
        self.columns = columns
        for tile in self.tiles.values():
            self.grid.removeWidget(tile)
        for c in range(self.grid.columnCount()):
            self.grid.setColumnStretch(c, 0)
        for i, tile in enumerate(self.tiles.values()):
            self.grid.addWidget(tile, i // columns, i % columns)
        for c in range(min(columns, len(self.tiles))):
            self.grid.setColumnStretch(c, 1)

    def tile_rows(self) -> int:
        return -(-len(self.tiles) // max(1, self.columns))

    def tiles_height(self) -> int:
        """The height all tiles need at the current number per row."""
        tile = next(iter(self.tiles.values()), None)
        rows = self.tile_rows()
        return 0 if tile is None else rows * tile.minimumHeight() + (rows - 1) * self.grid.spacing()

    def _fit_height(self) -> None:
        """The tiles first; the legend only where the board has room for its line."""
        need = self.tiles_height()
        if self.compact:
            outer = self.layout()
            legend = self.legend.minimumHeight() + (outer.spacing() if outer is not None else 0)
            # Under a queue (no height of its own) every line is a row of incidents less.
            room_for_legend = self._given_height is not None and self._given_height >= need + legend
            self.legend.setVisible(room_for_legend)
            if room_for_legend:
                need += legend
        if self._given_height is None:
            self.setFixedHeight(need)

    #: The height the board is given (a region of its own); None: as tall as its tiles.
    _given_height: int | None = None

    def give_height(self, height: int | None) -> None:
        self._given_height = height
        self.setSizePolicy(QSizePolicy.Policy.Preferred,
                           QSizePolicy.Policy.Fixed if height is None else QSizePolicy.Policy.Expanding)
        if height is not None:
            self.setMinimumHeight(0)
            self.setMaximumHeight(16777215)
        self._fit_height()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # Tiles per row from the width at this text size: the engine's rule (layout check).
        # The same rows of tiles, balanced: 4 + 4 rather than 5 + 3 (wider tiles, same height).
        rows = room.agency_tiles_fit(self.metrics.sizes, self.width(), self.tile_chars).rows
        self._place_tiles(-(-len(self.tiles) // max(1, rows)))
        self._fit_height()
        if self.compact:
            self._fit_legend()

    # -- updates -----------------------------------------------------------------------

    def _on_bridge_changed(self, cs: ChangeSet) -> None:
        if not (cs.reset or cs.kpis_changed or cs.units_added or cs.units_updated or cs.agencies):
            return
        self._dirty = True
        if time.monotonic() - self._last_refresh >= 1.0:
            self.refresh()

    def _on_bridge_tick(self) -> None:
        hour = int(self._store.clock().timestamp() // 3600)
        if self._dirty or hour != self._last_hour:
            self.refresh()

    def refresh(self) -> None:
        """Read the figures now (at most about once a second in normal running)."""
        self._dirty = False
        self._last_refresh = time.monotonic()
        kpis = self._store.kpis()
        self._last_hour = int(kpis.at.timestamp() // 3600)
        zeros = [0] * 24
        for code, tile in self.tiles.items():
            arrival = kpis.arrival_by_agency.get(code)
            tile.set_figures(
                kpis.units_by_agency.get(code, {}),
                kpis.active_by_agency.get(code, 0),
                arrival.median_s if arrival is not None else None,
                kpis.hourly_by_agency.get(code, zeros),
            )
        self.refresh_count += 1
