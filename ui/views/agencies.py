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
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from commandcenter.core.i18n import Strings
from commandcenter.core.store import ChangeSet, Store
from ui.support import theme
from ui.support.bridge import safe_slot
from ui.support.text import plain_tooltip
from ui.support.theme import ScreenMetrics

log = logging.getLogger(__name__)

#: Shapes that go with the unit colours (never colour alone) and the figures.
UNIT_GROUPS: tuple[str, ...] = ("available", "busy", "out_of_service")
GROUP_SYMBOL = {"available": "✓", "busy": "●", "out_of_service": "✕"}
ACTIVE_SYMBOL = "▲"
MEDIAN_SYMBOL = "◔"
#: A compact tile shows the agency code instead of a short name longer than this.
COMPACT_NAME_CHARS = 9


class AgencyTile(QFrame):
    """The figures of one agency."""

    def __init__(
        self,
        code: str,
        config: Any,
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
        name = code if compact and len(short) > COMPACT_NAME_CHARS else short
        color = cfg.color if cfg is not None else theme.ACCENT

        pad = metrics.pad_px
        layout = QVBoxLayout(self)
        layout.setContentsMargins(pad // 2, pad // 3, pad // 2, pad // 3)
        layout.setSpacing(0)

        self.name_label = QLabel(name)
        self.name_label.setToolTip(plain_tooltip(self.strings.agency_name(config, code, short=False)))
        font = QFont(self.name_label.font())
        font.setPixelSize(metrics.body_px)
        font.setBold(True)
        self.name_label.setFont(font)
        self.active_label = QLabel()
        self.median_label = QLabel()
        # One rich-text label for the three unit groups: each number in its group's
        # colour after its group's shape (our own text only, nothing from the feed).
        self.units_label = QLabel()
        self.units_label.setTextFormat(Qt.TextFormat.RichText)
        for label in (self.name_label, self.active_label, self.median_label, self.units_label):
            label.setStyleSheet(f"color: {theme.TEXT}; background: transparent;")
        # Tiles share the screen width evenly: a long text is clipped (tooltips keep
        # it whole) rather than pushing the board wider than the screen.
        for label in (self.name_label, self.units_label):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            label.setMinimumWidth(metrics.body_px)

        # A sparkline: kept for the widget's life, only setData on refresh.
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
        self.plot.setMinimumSize(metrics.body_px, metrics.body_px // 2)
        # As tall as its lines of text, never squeezed: the queue above takes what is left.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

        top = QHBoxLayout()
        top.setSpacing(pad // 2)
        top.addWidget(self.name_label, 1)
        if compact:
            # name ..... ▲ n / ✓ a ● b ✕ c / ◔ median [sparkline]
            top.addWidget(self.active_label, 0)
            layout.addLayout(top)
            layout.addWidget(self.units_label)
            bottom = QHBoxLayout()
            bottom.setSpacing(pad)
            bottom.addWidget(self.median_label, 0)
            bottom.addWidget(self.plot, 1)
            layout.addLayout(bottom)
            # The labels set the tile's height; the plot takes what is left.
            self.plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        else:
            layout.addLayout(top)
            layout.addWidget(self.units_label)
            figures = QHBoxLayout()
            figures.setSpacing(pad * 2)
            figures.addWidget(self.active_label)
            figures.addWidget(self.median_label)
            figures.addStretch(1)
            layout.addLayout(figures)
            layout.addWidget(self.plot)
            self.plot.setFixedHeight(metrics.body_px * 3)
        self.set_figures({}, 0, None, [0] * 24)

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
        parts = []
        for group in UNIT_GROUPS:
            word = "" if self.compact else f" {self.strings.t(f'unit.{group}')} "
            parts.append(
                f'<span style="color:{theme.UNIT_GROUP_COLOR[group]}">'
                f"{GROUP_SYMBOL[group]}{html.escape(word)}{figures[group]}</span>"
            )
        # Compact: a thin space between groups; the shapes already separate them.
        self.units_label.setText(("\u2009" if self.compact else "&nbsp;&nbsp; ").join(parts))
        t = self.strings.t
        self.units_label.setToolTip(", ".join(f"{t(f'unit.{g}')} {figures[g]}" for g in UNIT_GROUPS))
        median_text = self.strings.minutes(median_s)
        if self.compact:
            self.active_label.setText(f"{ACTIVE_SYMBOL}{active}")
            self.active_label.setToolTip(f"{self.strings.t('agency.active')} {active}")
            minutes = (
                self.strings.t("kpi.none") if median_s is None
                else self.strings.t("agency.median_short", n=self.strings.number(median_s / 60))
            )
            self.median_label.setText(f"{MEDIAN_SYMBOL} {minutes}")
            self.median_label.setToolTip(f"{self.strings.t('agency.median')} {median_text}")
        else:
            self.active_label.setText(f"{self.strings.t('agency.active')} {active}")
            self.median_label.setText(f"{self.strings.t('agency.median')} {median_text}")
        self.curve.setData(list(range(24)), figures["hourly"])
        self.plot.setYRange(0, max(1, *figures["hourly"]), padding=0.05)


class AgencyBoardWidget(QWidget):
    """A grid of :class:`AgencyTile`, one per configured agency, in config order."""

    def __init__(
        self,
        bridge: Any,
        metrics: ScreenMetrics,
        parent: QWidget | None = None,
        *,
        compact: bool = False,
        columns: int = 4,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._store: Store = bridge.store
        self._config = bridge.config
        self.strings = bridge.strings
        self.compact = compact
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
            self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            outer.addWidget(self.legend)
        grid = QGridLayout()
        grid.setSpacing(metrics.pad_px // 2)
        self.tiles: dict[str, AgencyTile] = {}
        codes = [a.code for a in self._config.agencies]
        for i, code in enumerate(codes):
            tile = AgencyTile(code, self._config, metrics, compact=compact, strings=self.strings, parent=self)
            self.tiles[code] = tile
            grid.addWidget(tile, i // columns, i % columns)
        for c in range(min(columns, len(codes))):
            grid.setColumnStretch(c, 1)
        outer.addLayout(grid)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

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

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if self.compact:
            self._fit_legend()

    # -- updates -----------------------------------------------------------------------

    @safe_slot
    def _on_bridge_changed(self, cs: ChangeSet) -> None:
        if not (cs.reset or cs.kpis_changed or cs.units_added or cs.units_updated or cs.agencies):
            return
        self._dirty = True
        if time.monotonic() - self._last_refresh >= 1.0:
            self.refresh()

    @safe_slot
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
