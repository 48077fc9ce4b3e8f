"""The leader overview: the whole picture at a glance, read from across the room.

Four big figures (active incidents, unacknowledged high priority, oldest
unhandled, median arrival against the national 15-minute target), today's call
funnel, a disaster-situation band while one is declared, and three charts
(incidents per hour by category, active incidents per district, distribution of
today's arrival times).

Every figure is the store's (Store.kpis, arrival_histogram, situation_status_counts,
active_situations): the view only chooses what fits and paints it. Figures
follow ``bridge.changed`` at once; charts are marked dirty and redrawn
on ``bridge.tick`` (at most once a second) by updating plot items made once.
All text from the feed is set as plain text (labels and pyqtgraph TextItems).
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, SignalInstance
from PySide6.QtGui import QFont, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QLayout,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from commandcenter.config import Config
from commandcenter.core.i18n import Strings
from commandcenter.core.model import DisasterSituation, Incident
from commandcenter.core.store import ChangeSet, Histogram, Kpis, Store
from commandcenter.core.text import isolate
from commandcenter.core.timeutil import WIB
from commandcenter.wall import layout as room
from commandcenter.wall.alerts import ActiveAlert, AlertEngine
from ui.support import theme
from ui.support.bridge import EngineBridge
from ui.support.text import plain_tooltip
from ui.support.widgets import ElidedLabel
from ui.views.hazards import HazardPanel
from ui.views.queue import short_category_name

log = logging.getLogger(__name__)

#: Series colours for categories (not red: red is for alarms). The legend pairs
#: each colour with the category name.
SERIES_COLORS = ("#7cc4ff", "#c9a0ff")
OTHERS_COLOR = "#9aa7b4"
#: Bar behind the district names: TEXT on it reaches 7:1.
DISTRICT_BAR = "#24507a"
#: Categories drawn on their own in the per-hour chart; the rest is "others".
TOP_CATEGORIES = 2
#: Histogram bins (minutes); the last bin collects everything from HIST_MAX_MIN on.
HIST_BIN_MIN = 5
HIST_MAX_MIN = 60
#: Narrow faces first where installed: about 10 % more text per line on a wall
#: whose 16-arcminute minimum makes every pixel of width count.
CONDENSED_FAMILIES = ("DejaVu Sans Condensed", "Roboto Condensed", "Liberation Sans Narrow", "Arial Narrow")
FUNNEL_KEYS = ("calls_in", "answered", "abandoned", "prank", "ghost", "valid")


# --- layout helpers (tested without widgets) ---------------------------------------
# Not figures: how many series or rows fit decides what is folded into "others".


def top_series(hourly: dict[str, list[int]], k: int = TOP_CATEGORIES) -> tuple[list[str], list[list[int]]]:
    """The ``k`` categories with most incidents in the window (ties by code) and
    their rows, plus a last row summing the others."""
    ranked = sorted(hourly, key=lambda c: (-sum(hourly[c]), c))
    top = ranked[:k]
    others = [0] * 24
    for code in ranked[k:]:
        others = [a + b for a, b in zip(others, hourly[code], strict=True)]
    return top, [list(hourly[c]) for c in top] + [others]


def district_rows(by_kecamatan: dict[str, int], rows: int, strings: Strings) -> list[tuple[str, int]]:
    """Districts by active count (descending, then name); past ``rows`` the tail
    is summed into one "others" row so that the total stays right."""
    ranked = sorted(by_kecamatan.items(), key=lambda kv: (-kv[1], kv[0]))
    # Feed names isolated: a right-to-left name must not reorder the count beside it.
    named = [(isolate(name) or strings.t("leader.unknown_district"), n) for name, n in ranked]
    if len(named) <= rows:
        return named
    head, tail = named[: rows - 1], named[rows - 1 :]
    return [*head, (strings.t("leader.others"), sum(n for _, n in tail))]


def _mentions(text: str, parts: Iterable[str]) -> bool:
    folded = text.casefold()
    return all(p.casefold() in folded for p in parts)


# --- widgets --------------------------------------------------------------------------


def wall_font(px: int) -> QFont:
    font = QFont()
    font.setFamilies([*CONDENSED_FAMILIES, *font.families()])
    if px > 0:
        font.setPixelSize(px)
    return font


def _label(text: str = "", object_name: str = "", *, wrap: bool = False,
           align: Qt.AlignmentFlag | None = None) -> QLabel:
    """A plain-text label: nothing shown on the wall is ever parsed as HTML."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    if object_name:
        label.setObjectName(object_name)
    label.setWordWrap(wrap)
    if align is not None:
        label.setAlignment(align)
    return label


class EscalationSource(Protocol):
    """What the leader needs of the wall's alert adapter (ui.alerts sits a layer above the
    views): the engine whose escalated alerts it flags, and the signal that they changed."""

    @property
    def alerts_changed(self) -> SignalInstance: ...

    @property
    def engine(self) -> AlertEngine: ...


class _ColorSetter:
    """Sets a label's colour only when it changes: restyling is not free."""

    def __init__(self, label: QLabel) -> None:
        self.label = label
        self.color = ""

    def set(self, color: str) -> None:
        if color != self.color:
            self.color = color
            self.label.setStyleSheet(f"color: {color};")


class FigureTile(QFrame):
    """A caption, a big value and a detail line; ``beside`` puts the caption
    to the right of the value (a stacked pair of counts takes less height).
    :meth:`set_beside` switches between the two as the leader fit says."""

    def __init__(self, caption: str, metrics: theme.ScreenMetrics, *, value_px: int,
                 beside: bool = False) -> None:
        super().__init__()
        self.setObjectName("panel")
        self.metrics = metrics
        self.caption = _label(caption, "dim", wrap=True)
        self.value = _label("", "figure")
        self._value_css = f"font-size: {value_px}px; font-weight: 700;"
        self.value.setStyleSheet(self._value_css)
        self._value_color = ""
        self.detail = _label("", "", wrap=True)
        #: Lines under the caption (a state word), in order, before the detail line.
        self.extra: list[QWidget] = []
        self.beside: bool | None = None
        self.set_beside(beside)

    def add_line(self, widget: QWidget) -> None:
        """A line under the caption (before the detail), in either arrangement."""
        self.extra.append(widget)
        self._build()

    def set_beside(self, beside: bool) -> None:
        if beside != self.beside:
            self.beside = beside
            self._build()

    def _build(self) -> None:
        """Place the lines in the tile's grid: one column (caption, value, the extra lines, the
        detail), or the value in a column of its own left of the others. Widgets are moved,
        never recreated (their texts and styles stay)."""
        grid = self.layout()
        if not isinstance(grid, QGridLayout):
            grid = QGridLayout(self)
            grid.setSpacing(0)
            # Narrow margins: on a 6 m wall a tile holds only about 20 characters
            # and the panel about 14 lines.
            pad = self.metrics.pad_px
            grid.setContentsMargins(pad // 2, pad // 4, pad // 2, pad // 4)
        lines: list[QWidget] = [self.caption, *self.extra, self.detail]
        for w in (self.value, *lines):
            grid.removeWidget(w)
        for r in range(len(lines) + 2):
            grid.setRowStretch(r, 0)
        for c in range(2):
            grid.setColumnStretch(c, 0)
        if self.beside:
            grid.setHorizontalSpacing(self.metrics.pad_px)
            grid.addWidget(self.value, 0, 0, len(lines), 1, Qt.AlignmentFlag.AlignVCenter)
            for r, w in enumerate(lines):
                grid.addWidget(w, r, 1)
            grid.setColumnStretch(1, 1)
        else:
            grid.setHorizontalSpacing(0)
            for r, w in enumerate([self.caption, self.value, *lines[1:]]):
                grid.addWidget(w, r, 0)
            grid.setColumnStretch(0, 1)
            grid.setRowStretch(len(lines) + 1, 1)

    def set_value_color(self, color: str) -> None:
        if color != self._value_color:
            self._value_color = color
            self.value.setStyleSheet(f"{self._value_css} color: {color};")
            # Alarm red reaches 7:1 on the darkest background only (6.9:1 on a panel's): the
            # tile takes it while its value is red.
            self.setStyleSheet(f"QFrame#panel {{ background: {theme.BG}; }}" if color == theme.ALARM_RED
                               else "")  # fmt: skip


class FunnelPanel(QFrame):
    """Today's calls: in, answered, abandoned, prank and ghost (with their share
    of answered calls), valid emergencies."""

    def __init__(self, metrics: theme.ScreenMetrics, strings: Strings) -> None:
        super().__init__()
        self.strings = strings
        self.setObjectName("panel")
        pad = metrics.pad_px
        grid = QGridLayout(self)
        grid.setContentsMargins(pad, pad // 2, pad, pad // 2)
        grid.setHorizontalSpacing(pad)
        grid.setVerticalSpacing(0)
        # A grid of label/value pairs, two pairs to a line under the title (the funnel the
        # layout check counts: commandcenter.wall.layout FUNNEL_LINES): each text in a cell of
        # its own, so no line is ever drawn over another.
        self.title = _label(self.strings.t("funnel.title"), "dim")
        grid.addWidget(self.title, 0, 0, 1, 4)
        self.names: dict[str, QLabel] = {}
        self.counts: dict[str, QLabel] = {}
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for i, key in enumerate(FUNNEL_KEYS):
            row, col = 1 + i // 2, (i % 2) * 2
            name = _label(self.strings.t(f"leader.funnel.{key}"), "dim")
            count = _label("", "", align=right)
            count.setStyleSheet("font-weight: 700;")
            grid.addWidget(name, row, col)
            grid.addWidget(count, row, col + 1)
            self.names[key] = name
            self.counts[key] = count
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(2, 1)
        grid.setRowStretch(1 + (len(FUNNEL_KEYS) + 1) // 2, 1)

    def update_from(self, kpis: Kpis) -> None:
        tr = self.strings
        f = kpis.funnel
        for key in FUNNEL_KEYS:
            self.counts[key].setText(tr.number(getattr(f, key)))
        for key, share in (("prank", f.prank_share), ("ghost", f.ghost_share)):
            self.names[key].setText(tr.t("leader.funnel.with_share", name=tr.t(f"leader.funnel.{key}"),
                                      pct=tr.percent(share)))


class SituationPanel(QFrame):
    """The declared disaster situation(s): the latest in full, others by name."""

    def __init__(self, metrics: theme.ScreenMetrics, strings: Strings) -> None:
        super().__init__()
        self.strings = strings
        self.setObjectName("situation")
        pad = metrics.pad_px
        self.setStyleSheet(
            f"QFrame#situation {{ background: {theme.BG_RAISED}; border: 3px solid {theme.WARN};"
            f" border-radius: 6px; }}"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(pad // 2, pad // 2, pad // 2, pad // 2)
        layout.setSpacing(0)
        self.header = _label("", "", wrap=True)
        self.header.setStyleSheet(f"color: {theme.WARN}; font-weight: 700;")
        # The situation's name is free text: one line, ended with "…" where it is longer.
        self.name = ElidedLabel()
        self.name.setProperty("mayElide", True)
        self.name.setStyleSheet("font-weight: 700;")
        self.where = _label("", "", wrap=True)
        self.reports = _label("", "", wrap=True)
        self.people = _label("", "", wrap=True)
        self.more = _label("", "dim", wrap=True)
        for w in (self.header, self.name, self.where, self.reports, self.people, self.more):
            layout.addWidget(w)
        layout.addStretch(1)
        self.situation_id = ""

    def update_from(self, store: Store, config: Config, situations: Sequence[DisasterSituation],
                    now: dt.datetime) -> None:
        tr = self.strings
        if not situations:
            self.situation_id = ""
            return
        sit = situations[0]
        self.situation_id = sit.id
        since = tr.t("situation.since", age=tr.age_tile((now - sit.declared_at).total_seconds()))
        self.header.setText(f"{tr.t('situation.label')} · {since}")
        self.name.set_full_text(isolate(sit.name))
        # Hazard and districts, unless the name already says them: a line saved
        # is a line the wall can show.
        districts = ", ".join(isolate(k) for k in sit.kecamatan)
        where = [p for p in (tr.category_name(config, sit.hazard), districts)
                 if p and not _mentions(sit.name, p.split(", "))]
        self.where.setText(" · ".join(where))
        self.where.setVisible(bool(where))
        counts = store.situation_status_counts(sit.id)
        by_status = ", ".join(tr.t("situation.by_status", status=tr.t(f"leader.status.{s}"), n=tr.number(n))
                              for s, n in counts.items())
        total = tr.t("situation.incidents", n=tr.number(sum(counts.values())))
        self.reports.setText(f"{total}: {by_status}" if by_status else total)
        self.people.setText(tr.t("leader.situation.people", households=tr.number(sit.households_affected),
                              people=tr.number(sit.people_evacuated)))
        rest = situations[1:]
        self.more.setVisible(bool(rest))
        if rest:
            names = "; ".join(isolate(s.name) for s in rest)
            self.more.setText(tr.t("situation.more", n=len(rest), names=names))


class EscalationFlag(QFrame):
    """The escalated alerts, on top of everything while there are any: how
    many have waited past their escalation time unacknowledged, and the
    oldest of them by name. Two lines at the body size: the figures below
    must keep their room on a 6 m wall. Hidden when there are none."""

    def __init__(self, metrics: theme.ScreenMetrics, config: Config, strings: Strings) -> None:
        super().__init__()
        self.config = config
        self.strings = strings
        self.setObjectName("escalation")
        pad = metrics.pad_px
        # Alarm red reaches 7:1 on the darkest background only (7.6:1; 6.2:1 on BG_RAISED).
        self.setStyleSheet(
            f"QFrame#escalation {{ background: {theme.BG}; border: 4px solid {theme.ALARM_RED};"
            f" border-radius: 6px; }}"
            f"QFrame#escalation QLabel {{ background: transparent; border: 0; }}"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(pad, 0, pad, 0)
        layout.setSpacing(0)
        self.headline = ElidedLabel()
        self.headline.setStyleSheet(f"color: {theme.ALARM_RED}; font-weight: 800;")
        # The oldest alert's text names a place (from the feed): plain text.
        self.oldest = ElidedLabel()
        self.oldest.setStyleSheet("font-weight: 700;")
        layout.addWidget(self.headline)
        layout.addWidget(self.oldest)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.hide()

    def update_from(
        self, count: int, oldest: ActiveAlert | None, threshold_s: float, now: dt.datetime
    ) -> None:
        """``count`` alerts past their escalation time, ``oldest`` the one waiting longest."""
        tr = self.strings
        if not count or oldest is None:
            self.hide()
            return
        key = "leader.escalated_one" if count == 1 else "leader.escalated_many"
        self.headline.set_full_text(tr.t(key, n=tr.number(count), age=tr.age_tile(threshold_s)))
        age = tr.age_tile(oldest.age_s(now))
        # Narrow (a laptop's corner): the category's short name before any "…".
        texts = [self.short_text(oldest, short) for short in (False, True)]
        self.oldest.set_variants([tr.t("leader.escalated_oldest", age=age, text=text) for text in texts])
        self.oldest.setToolTip(plain_tooltip(oldest.text))
        self.show()

    def short_text(self, alert: ActiveAlert, short_category: bool = False) -> str:
        """A new incident's alert as "Kebakaran · Pangkalan Lampam": the spoken
        text ("…, prioritas tinggi, Desa …") loses the district past the width
        of one line. Other alerts (service level, unit, situation) keep theirs."""
        if alert.kind in ("new_incident", "category") and alert.category and alert.kecamatan:
            category = (short_category_name(self.strings, self.config, alert.category) if short_category
                        else self.strings.category_name(self.config, alert.category))  # fmt: skip
            return f"{category} · {isolate(alert.kecamatan)}"
        return str(alert.text)


class ChartPanel(QFrame):
    """A titled panel around one PlotWidget, themed and without mouse interaction."""

    def __init__(self, title: str, metrics: theme.ScreenMetrics) -> None:
        super().__init__()
        self.setObjectName("panel")
        pad = metrics.pad_px
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(pad // 2, pad // 2, pad // 2, pad // 2)
        self.layout_.setSpacing(0)
        self.title = _label(title, "dim", wrap=True)
        self.layout_.addWidget(self.title)
        self.plot_widget = pg.PlotWidget(background=theme.BG_PANEL)
        self.plot_widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.plot_widget.setMinimumSize(10, 10)
        self.layout_.addWidget(self.plot_widget, 1)
        self.plot: pg.PlotItem = self.plot_widget.getPlotItem()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.vb.disableAutoRange()
        self.tick_font = wall_font(metrics.small_px)
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(theme.GRID, width=2))
            axis.setTextPen(pg.mkPen(theme.TEXT_DIM))
            axis.setStyle(tickFont=self.tick_font, tickTextOffset=max(4, metrics.pad_px // 2), tickLength=-8)


class HourlyChart(ChartPanel):
    """Incidents received per hour over 24 h, stacked by category: as many top
    categories as the legend can name on one line (at most SERIES_COLORS), the
    rest as "others"."""

    def __init__(self, config: Config, metrics: theme.ScreenMetrics, strings: Strings) -> None:
        super().__init__(strings.t("leader.chart.per_hour"), metrics)
        self.config = config
        self.strings = strings
        self.series: list[str] = []
        self.bars: list[pg.BarGraphItem] = []
        self.colors = [*SERIES_COLORS, OTHERS_COLOR]
        for color in self.colors:
            bar = pg.BarGraphItem(x=[], height=[], y0=[], width=0.8, brush=pg.mkBrush(color),
                                  pen=pg.mkPen(theme.BG_PANEL, width=1))
            self.plot.addItem(bar)
            self.bars.append(bar)
        self.plot.setXRange(-0.6, 23.6, padding=0)
        # Rich text only for the colour swatches; names come from the
        # configuration and are escaped all the same.
        self.legend = QLabel()
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setObjectName("dim")
        self.layout_.addWidget(self.legend)
        self.legend_names: list[str] = []
        self._kpis: Kpis | None = None
        self._fit_width = 0

    def _series_that_fit(self, hourly: dict[str, list[int]]) -> int:
        tr = self.strings
        width = self.legend.width() if self.isVisible() else 0
        if width <= 0:
            return len(SERIES_COLORS)
        fm = self.legend.fontMetrics()
        ranked = sorted(hourly, key=lambda c: (-sum(hourly[c]), c))
        for k in range(len(SERIES_COLORS), 0, -1):
            names = [tr.category_name(self.config, c) for c in ranked[:k]] + [tr.t("leader.others")]
            if fm.horizontalAdvance("  ".join(f"■ {n}" for n in names)) <= width:
                return k
        return 1

    def update_from(self, kpis: Kpis) -> None:
        tr = self.strings
        self._kpis = kpis
        self._fit_width = self.legend.width()
        top, rows = top_series(kpis.hourly_by_category, self._series_that_fit(kpis.hourly_by_category))
        self.series = top
        xs = list(range(24))
        base = [0] * 24
        zeros = [0] * 24
        for i, bar in enumerate(self.bars):
            last = i == len(self.bars) - 1
            row = rows[-1] if last else (rows[i] if i < len(top) else zeros)
            bar.setOpts(x=xs, height=row, y0=list(base), width=0.8)
            base = [a + b for a, b in zip(base, row, strict=True)]
        names = [tr.category_name(self.config, c) for c in top] + [tr.t("leader.others")]
        if names != self.legend_names:
            self.legend_names = names
            colors = [*self.colors[: len(top)], self.colors[-1]]
            self.legend.setText("&nbsp;&nbsp; ".join(
                f'<span style="color:{c}">■</span>&nbsp;{html.escape(n)}'
                for c, n in zip(colors, names, strict=True)))
        top_y = max(base) if base else 0
        self.plot.setYRange(0, max(1, top_y) * 1.08, padding=0)
        # Hour labels in WIB every 6 hours, at the bucket that starts that hour.
        ticks = []
        for i in range(24):
            hour = (kpis.hour_start + dt.timedelta(hours=i)).astimezone(WIB).hour
            if hour % 6 == 0:
                ticks.append((i, f"{hour:02d}"))
        self.plot.getAxis("bottom").setTicks([ticks, []])

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._kpis is not None and self.legend.width() != self._fit_width:
            self.update_from(self._kpis)

    def stacked_rows(self) -> dict[str, list[int]]:
        """What is drawn: category code (or "" for others) -> heights per hour."""
        out = {code: [int(v) for v in self.bars[i].opts["height"]] for i, code in enumerate(self.series)}
        out[""] = [int(v) for v in self.bars[-1].opts["height"]]
        return out


class DistrictChart(ChartPanel):
    """Active incidents per district as horizontal bars, the largest on top, the
    name and count written on each bar (plain-text TextItems)."""

    MAX_ROWS = 24

    def __init__(self, metrics: theme.ScreenMetrics, strings: Strings) -> None:
        super().__init__(strings.t("leader.chart.districts"), metrics)
        self.metrics = metrics
        self.strings = strings
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.bar = pg.BarGraphItem(x0=[], y=[], width=[], height=0.78, brush=pg.mkBrush(DISTRICT_BAR),
                                   pen=pg.mkPen(None))
        self.plot.addItem(self.bar)
        font = wall_font(metrics.small_px)
        self.texts: list[pg.TextItem] = []
        for _ in range(self.MAX_ROWS):
            item = pg.TextItem("", color=theme.TEXT, anchor=(0, 0.5))
            item.setFont(font)
            item.setVisible(False)
            self.plot.addItem(item)
            self.texts.append(item)
        self.rows: list[tuple[str, int]] = []
        self._data: dict[str, int] = {}
        self._fit = 8

    def fitting_rows(self) -> int:
        """As many rows as fit the plot's height at the body size."""
        h = self.plot_widget.height()
        return max(3, min(self.MAX_ROWS, int(h / (self.metrics.body_px * 1.3))))

    def update_from(self, by_kecamatan: dict[str, int]) -> None:
        self._data = dict(by_kecamatan)
        self._draw()

    def _draw(self) -> None:
        self._fit = self.fitting_rows()
        rows = district_rows(self._data, self._fit, self.strings)
        self.rows = rows
        n = len(rows)
        ys = [n - 1 - i for i in range(n)]
        widths = [c for _, c in rows]
        self.bar.setOpts(x0=[0] * n, y=ys, width=widths, height=0.78)
        for i, item in enumerate(self.texts):
            if i < n:
                name, count = rows[i]
                item.setText(f"{name} {self.strings.number(count)}")
                item.setPos(0, ys[i])
                item.setVisible(True)
            else:
                item.setVisible(False)
        top = max(widths) if widths else 1
        self.plot.setXRange(0, max(1, top) * 1.02, padding=0)
        # The largest on top even when fewer rows than fit.
        self.plot.setYRange(n - max(n, self._fit) - 0.5, n - 0.5, padding=0)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.fitting_rows() != self._fit:
            self._draw()


class ArrivalHistogram(ChartPanel):
    """Today's arrival times (minutes) with the 15-minute target as a line."""

    def __init__(self, metrics: theme.ScreenMetrics, target_s: float, strings: Strings) -> None:
        super().__init__(strings.t("chart.response"), metrics)
        self.strings = strings
        self.plot.hideAxis("left")
        n_bins = HIST_MAX_MIN // HIST_BIN_MIN
        self.centers = [HIST_BIN_MIN * (i + 0.5) for i in range(n_bins + 1)]
        self.bar = pg.BarGraphItem(x=self.centers, height=[0] * len(self.centers), width=HIST_BIN_MIN * 0.9,
                                   brush=pg.mkBrush(theme.ACCENT), pen=pg.mkPen(None))
        self.plot.addItem(self.bar)
        self.count_texts: list[pg.TextItem] = []
        font = wall_font(metrics.small_px)
        target_min = target_s / 60
        self.target_line = pg.InfiniteLine(
            pos=target_min, angle=90, pen=pg.mkPen(theme.WARN, width=4, style=Qt.PenStyle.DashLine),
            label=self.strings.t("kpi.target", minutes=self.strings.number(target_min, None)),
            labelOpts={"position": 0.88, "color": theme.WARN, "anchors": [(0, 0.5), (0, 0.5)]},
        )
        self.target_line.label.setFont(font)
        self.plot.addItem(self.target_line)
        self.plot.setXRange(0, HIST_BIN_MIN * (n_bins + 1), padding=0)
        ticks: list[tuple[float, str]] = [(m, str(m)) for m in range(0, HIST_MAX_MIN, 15)]
        ticks.append((HIST_MAX_MIN + HIST_BIN_MIN / 2, self.strings.t("leader.overflow_bin", n=HIST_MAX_MIN)))
        self.plot.getAxis("bottom").setTicks([ticks, []])
        self.target_min = target_min
        self._ok_brush, self._late_brush = pg.mkBrush(theme.OK), pg.mkBrush(theme.WARN)

    def update_from(self, hist: Histogram) -> None:
        """Draw the store's histogram (Store.arrival_histogram at HIST_BIN_MIN / HIST_MAX_MIN)."""
        counts = hist.counts
        # Bars past the target are amber (the store says which); the dashed line says where it is.
        brushes = [self._ok_brush if within else self._late_brush for within in hist.within_target]
        self.bar.setOpts(x=self.centers, height=counts, brushes=brushes)
        self.plot.setYRange(0, max(1, max(counts)) * 1.1, padding=0)

    def counts(self) -> list[int]:
        return [int(v) for v in self.bar.opts["height"]]


class LeaderView(QWidget):
    """The leader's wall: figures, call funnel, situation panel and charts."""

    #: Room (in rows and characters of body text) to show the situation panel
    #: next to every chart. A 55-inch panel read from 6 m holds about 12 rows
    #: and 30 characters; there the funnel, the per-hour chart and the histogram
    #: give way to the situation panel, and the histogram (whose key numbers the
    #: median tile keeps) to the funnel and the per-hour chart.
    ROOMY_ROWS = 18
    ROOMY_COLUMNS = 40

    def __init__(self, bridge: EngineBridge, metrics: theme.ScreenMetrics,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.strings = bridge.strings
        self.store: Store = bridge.store
        self.config = bridge.config
        self.metrics = metrics
        self.setObjectName("leaderView")
        # Labels inside panels take the panel's colour, not the window's.
        # A condensed face where installed: about 10 % more text per line on a
        # wall whose 16-arcminute minimum makes every pixel of width count.
        self.setStyleSheet(theme.stylesheet(metrics) + (
            "QFrame#panel QLabel, QFrame#situation QLabel { background: transparent; border: 0; }"
            f"QWidget#leaderView, QWidget#leaderView QWidget {{ font-family: '{CONDENSED_FAMILIES[0]}'; }}"))
        pad = metrics.pad_px

        t = self.strings.t
        self.active_tile = FigureTile(t("kpi.active"), metrics, value_px=metrics.figure_px)
        self.unacked_tile = FigureTile(t("leader.unacked_high"), metrics, value_px=metrics.figure_px)
        self.oldest_tile = FigureTile(t("leader.oldest"), metrics, value_px=metrics.heading_px)
        self.arrival_tile = FigureTile(t("leader.median_arrival"), metrics, value_px=metrics.heading_px)
        # Its caption stays on one line on every preset (tests/ui/test_legibility.py checks it).
        self.arrival_tile.caption.setProperty("oneLine", True)
        # One line or not at all: a state word broken over two lines reads as two words from
        # across the room. When the tile is too narrow for it, it gives way to its mark on the
        # value (_state_fits, _show_arrival_value); it never pushes the tile wider.
        self.arrival_state = _label("", "")
        self.arrival_state.setProperty("oneLine", True)  # tests/ui/test_legibility.py holds it to that
        self.arrival_state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._arrival_state_color = _ColorSetter(self.arrival_state)
        self.arrival_tile.add_line(self.arrival_state)
        strings = self.strings
        self.escalation = EscalationFlag(metrics, self.config, strings)
        self.funnel = FunnelPanel(metrics, strings)
        self.situation = SituationPanel(metrics, strings)
        self.hourly = HourlyChart(self.config, metrics, strings)
        self.districts = DistrictChart(metrics, strings)
        self.arrivals = ArrivalHistogram(metrics, self.store.response_target_s, strings)

        # The key figures, as many to a row as the engine says fit (commandcenter.wall.layout
        # leader_fit, the layout check's rule), each whole: a caption over its value.
        self.figures = QGridLayout()
        self.figures.setSpacing(pad // 2)
        self.figure_tiles = (self.active_tile, self.unacked_tile, self.oldest_tile, self.arrival_tile)
        figures = self.figures
        self.body = QGridLayout()
        self.body.setSpacing(pad)
        root = QVBoxLayout(self)
        # The view's size is its region's: its panels' minimums never make it (or a window it is
        # alone in) grow; what does not fit is trimmed (_trim).
        root.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        root.setContentsMargins(pad // 2, pad // 2, pad // 2, pad // 2)
        root.setSpacing(pad // 2)
        root.addWidget(self.escalation, 0)
        root.addLayout(figures, 0)
        root.addLayout(self.body, 1)
        self.situation_mode = False
        # The BMKG panel (ui.views.hazards): shown only while there are external items.
        self.hazards = HazardPanel(bridge, metrics, self)
        root.addWidget(self.hazards, 0)
        self._arrangement: tuple[Any, ...] | None = None
        #: Lines hidden for want of height (shown again when there is room; see _trim).
        self._trimmed: list[QWidget] = []
        self._arrange()

        self._charts_dirty = True
        self._situations_dirty = True
        self._hour_start: dt.datetime | None = None
        self.kpis: Kpis | None = None
        self.alerts: EscalationSource | None = None
        bridge.changed.connect(self._on_bridge_changed)
        bridge.tick.connect(self._on_bridge_tick)
        self.refresh_figures()
        self.refresh_situations()
        self.refresh_charts()

    # --- layout --------------------------------------------------------------------

    def roomy(self) -> bool:
        m = self.metrics
        return self.height() >= m.row_px * self.ROOMY_ROWS and self.width() >= m.body_px * self.ROOMY_COLUMNS

    def fit(self) -> dict[str, Any]:
        """What the engine says fits this view's size (the layout check's leader line), with
        the escalation flag when it shows and this view's own captions."""
        flag = not self.escalation.isHidden()
        captions = [tile.caption.text() for tile in self.figure_tiles]
        return room.leader_fit(self.metrics.sizes, self.width(), self.height(), flag=flag, captions=captions)

    def _place_figures(self, per_row: int, beside: bool) -> None:
        for tile in self.figure_tiles:
            self.figures.removeWidget(tile)
        for c in range(4):
            self.figures.setColumnStretch(c, 0)
        for i, tile in enumerate(self.figure_tiles):
            tile.set_beside(beside)
            self.figures.addWidget(tile, i // per_row, i % per_row)
        for c in range(per_row):
            self.figures.setColumnStretch(c, 1)

    def _arrange(self) -> None:
        """Place the figures and the lower panels for the current mode (situation or not)
        and room: the funnel and the charts only where the engine says they fit."""
        fit = self.fit()
        # The flag's second line (the oldest alert) only where the engine says it leaves the
        # figures their room; its headline always shows.
        self.escalation.oldest.setVisible(fit["flag_lines"] != 1)
        key = (self.situation_mode, self.roomy() and fit["chart"], fit["figures_per_row"], fit["funnel"],
               fit["chart"], fit["beside"])  # fmt: skip
        if key == self._arrangement:
            return
        self._arrangement = key
        situation_mode, roomy, per_row, funnel, chart, beside = key
        self._place_figures(per_row, beside)
        body = self.body
        panels: tuple[QWidget, ...] = (
            self.funnel, self.situation, self.hourly, self.districts, self.arrivals)
        for w in panels:
            body.removeWidget(w)
        self.figures.removeWidget(self.situation)
        # A declared situation takes the cells the last row of figures leaves free (4 figures,
        # 3 to a row: two thirds of the second row) rather than height under them.
        free = (-len(self.figure_tiles)) % per_row
        if situation_mode and not roomy and free:
            last = (len(self.figure_tiles) - 1) // per_row
            self.figures.addWidget(self.situation, last, per_row - free, 1, free)
        for i in range(4):
            body.setColumnStretch(i, 0)
            body.setRowStretch(i, 0)
        if roomy:
            row = 0
            if situation_mode:
                body.addWidget(self.situation, 0, 0, 1, 4)
                row = 1
            placed: list[tuple[QWidget, int]] = [(self.funnel, 0), (self.hourly, 3), (self.districts, 3),
                                                 (self.arrivals, 2)]
            body.setRowStretch(row, 1)
        elif situation_mode and free:
            placed = [(self.districts, 10)] if chart else []
        elif situation_mode:
            placed = [(self.situation, 22)] + ([(self.districts, 10)] if chart else [])
        else:
            placed = ([(self.funnel, 0)] if funnel else []) + ([(self.hourly, 1)] if chart else [])
        row = 1 if roomy and situation_mode else 0
        for col, (w, stretch) in enumerate(placed):
            body.addWidget(w, row, col)
            body.setColumnStretch(col, stretch)
        shown = {w for w, _ in placed} | ({self.situation} if situation_mode else set())
        for w in panels:
            w.setVisible(w in shown)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._arrange()
        QTimer.singleShot(0, self, self._trim)

    def _optional(self) -> list[QWidget]:
        """What gives way when the height cannot show everything whole, least important first;
        the key figures' captions and values and the escalation flag never do."""
        sit = self.situation
        # The BMKG panel gives way after the funnel (the map shows the warnings too); the flag's
        # second line (the oldest alert, also in the console) last.
        # The median's state word (✓ DALAM TARGET) gives way to its mark on the value (_show).
        return [sit.more, sit.people, sit.reports, sit.where, self.oldest_tile.detail,
                self.arrival_tile.detail, self.funnel, self.hazards, sit, self.arrival_state,
                self.escalation.oldest]  # fmt: skip

    def _state_fits(self) -> bool:
        """Whether the median's state word fits on one line of its tile: the caption shares its
        column in both arrangements of the tile, so its width is the room (the word's own width
        is stale while it is hidden)."""
        label = self.arrival_state
        label.ensurePolished()  # its colour is a style sheet: the font it resolves to is measured
        room = self.arrival_tile.caption.width()
        if room <= 0:
            return True
        if label.isHidden():
            # Hidden, its mark is on the value; shown, the value loses the mark and the tile (whose
            # width the value may set) narrows by as much. The word must fit the narrower tile too,
            # or the two arrangements would take turns at every refresh.
            value = self.arrival_tile.value
            value.ensurePolished()
            bare = self._arrival_bare()
            metrics = value.fontMetrics()
            room -= max(0, metrics.horizontalAdvance(value.text()) - metrics.horizontalAdvance(bare))
        return label.fontMetrics().horizontalAdvance(label.text()) <= room

    def _show(self, w: QWidget, on: bool) -> None:
        if w is self.hazards:
            self.hazards.set_room(on)  # it shows only while it has something to show
        elif w is self.arrival_state:
            w.setVisible(on and self._state_fits())
        else:
            w.setVisible(on)
        if w is self.arrival_state:
            self._show_arrival_value()

    def _arrival_bare(self) -> str:
        """The median as the value shows it without the state word's mark."""
        arrival = self.kpis.arrival if self.kpis is not None else None
        return self.strings.minutes(arrival.median_s if arrival is not None else None)

    def _show_arrival_value(self) -> None:
        """The median, with the state word's mark (✓ within the target, ▲ over it) while the
        word itself has given way for want of height: its colour is never alone."""
        tr = self.strings
        arrival = self.kpis.arrival if self.kpis is not None else None
        text = self._arrival_bare()
        if arrival is not None and arrival.median_s is not None and self.arrival_state.isHidden():
            key = "leader.arrival_within" if arrival.median_within_target else "leader.arrival_over"
            text = tr.t(key, value=text)
        self.arrival_tile.value.setText(text)

    def _squeezed(self) -> bool:
        """Some visible text has less height than it needs (it would be drawn cut), or the
        panels together need more height than the view has (they would overlap)."""
        layout = self.layout()
        if layout is not None and layout.totalMinimumSize().height() > self.height():
            return True
        everything: tuple[QWidget, ...] = (self.escalation, *self.figure_tiles, self.funnel, self.situation,
                                           self.hourly, self.districts, self.arrivals, self.hazards)
        blocks = tuple(w for w in everything if w.isVisibleTo(self))
        inside = self.rect()
        for i, a in enumerate(blocks):
            if not inside.contains(a.geometry()):
                return True  # reaches past the view's edge: cut
            if any(a.geometry().intersects(b.geometry()) for b in blocks[i + 1 :]):
                return True
        for label in self.findChildren(QLabel):
            if not label.isVisibleTo(self) or not label.text():
                continue
            need = label.minimumSizeHint().height()
            if label.wordWrap():
                need = label.heightForWidth(label.width())
            if need > label.height() + 1:
                return True
        return False

    def _trim(self) -> None:
        """Hide what the height left cannot show whole (see _optional): nothing is drawn cut.
        What was hidden for want of room is tried again first."""
        if not self.isVisible():
            return  # not laid out at its real size yet: nothing to measure
        layout = self.layout()
        if layout is None:  # not laid out yet
            return

        def settle() -> None:
            # A grid does not ask its wrapped labels how tall they are at the width they got:
            # each figure tile is told, so its row is as tall as its lines.
            layout.activate()
            # Never more than the view's share per row of figures: a minimum must not make the
            # window grow past its screen (the rest is trimmed).
            rows = -(-len(self.figure_tiles) // max(1, self.figures.columnCount()))
            cap = self.height() // max(1, rows)
            for tile in self.figure_tiles:
                tile.setMinimumHeight(min(cap, tile.heightForWidth(tile.width())) if tile.width() > 0 else 0)
            layout.activate()

        settle()
        state = self.arrival_state
        if state not in self._trimmed and state.isHidden() == self._state_fits():
            self._show(state, True)  # the width decides: shown when it fits on one line
            settle()
        if not self._trimmed and not self._squeezed():
            return
        for w in self._trimmed:
            self._show(w, True)
        self._trimmed = []
        settle()
        for w in self._optional():
            if not self._squeezed():
                break
            if w.isVisibleTo(self):
                self._show(w, False)
                self._trimmed.append(w)
                settle()
        if not state.isHidden() and not self._state_fits():
            self._show(state, False)  # the trimming left its tile narrower than the word
            settle()

    # --- alerts --------------------------------------------------------------------

    def set_alerts(self, controller: EscalationSource) -> None:
        """Flag the escalated alerts of this wall's alert service (through its
        Qt adapter; the rules stay in the engine, this only shows what it says)."""
        self.alerts = controller
        controller.alerts_changed.connect(self.refresh_escalation)
        self.refresh_escalation()

    def escalation_threshold_s(self) -> float:
        """The shortest escalation time of the rules: every flagged alert has
        waited at least this long."""
        cfg = self.config.alerts
        times = [cfg.escalate_after_s] + [r.escalate_after_s for r in cfg.rules
                                          if r.enabled and r.escalate_after_s]
        return float(min(times))

    def refresh_escalation(self) -> None:
        if self.alerts is None:
            return
        engine = self.alerts.engine
        shown = not self.escalation.isHidden()
        count, oldest = engine.escalated_summary()
        self.escalation.update_from(count, oldest, self.escalation_threshold_s(), engine.clock())
        if shown != (not self.escalation.isHidden()):
            # The flag came or went: the figures are arranged for the height it leaves.
            self._arrange()
            QTimer.singleShot(0, self, self._trim)

    # --- refresh -------------------------------------------------------------------

    def refresh_figures(self) -> Kpis:
        tr = self.strings
        k = self.store.kpis()
        self.kpis = k
        self.active_tile.value.setText(tr.number(k.active_total))
        self.active_tile.detail.setVisible(False)
        unacked = k.unacked_high
        self.unacked_tile.value.setText(tr.number(unacked))
        # Red is for alarms: only an unacknowledged high-priority incident is one.
        self.unacked_tile.set_value_color(theme.ALARM_RED if unacked else theme.OK)
        self.unacked_tile.detail.setVisible(False)

        self.oldest_tile.value.setText(tr.age_tile(k.oldest_unhandled_age_s))
        oldest = self.store.incidents.get(k.oldest_unhandled_id) if k.oldest_unhandled_id else None
        self.oldest_tile.detail.setText(self._oldest_where(oldest))

        arrival = k.arrival
        target_min = k.response_target_s / 60
        self._show_arrival_value()
        if arrival.median_s is None:
            self.arrival_state.setText(tr.t("leader.no_arrivals"))
            self._arrival_state_color.set(theme.TEXT_DIM)
            self.arrival_tile.set_value_color(theme.TEXT)
            self.arrival_tile.detail.setText(tr.t("kpi.target", minutes=tr.number(target_min, None)))
        else:
            # Colour, and a word with a mark, or the mark on the value when the word gave way
            # (_show_arrival_value): never colour alone.
            within = bool(arrival.median_within_target)
            color = theme.OK if within else theme.WARN
            self.arrival_state.setText(tr.t("leader.within_target" if within else "leader.over_target"))
            self._arrival_state_color.set(color)
            self.arrival_tile.set_value_color(color)
            self.arrival_tile.detail.setText(tr.t(
                "leader.arrival_detail", p90=tr.minutes(arrival.p90_s),
                pct=tr.percent(arrival.within_target_share), target=tr.number(target_min, None),
            ))
        self.funnel.update_from(k)
        QTimer.singleShot(0, self, self._trim)  # a longer text may need a line more
        return k

    def _oldest_where(self, inc: Incident | None) -> str:
        t = self.strings.t
        if inc is None:
            return t("leader.none_unhandled")
        return t("leader.oldest_where", ticket=inc.ticket,
                 kecamatan=isolate(inc.location.kecamatan) or t("leader.unknown_district"))

    def refresh_situations(self) -> None:
        self._situations_dirty = False
        sits = self.store.active_situations()
        if sits:
            self.situation.update_from(self.store, self.config, sits, self.store.clock())
        self.situation_mode = bool(sits)
        self._arrange()

    def refresh_charts(self) -> None:
        self._charts_dirty = False
        k = self.kpis if self.kpis is not None else self.store.kpis()
        self._hour_start = k.hour_start
        self.hourly.update_from(k)
        self.districts.update_from(k.active_by_kecamatan)
        self.arrivals.update_from(self.store.arrival_histogram(HIST_BIN_MIN * 60, HIST_MAX_MIN * 60))

    # --- slots ---------------------------------------------------------------------

    def _on_bridge_changed(self, changes: ChangeSet) -> None:
        self.refresh_figures()
        incidents_changed = bool(
            changes.incidents_added or changes.incidents_updated or changes.incidents_removed)
        if changes.reset or changes.situations_added or changes.situations_updated:
            self.refresh_situations()  # a declared or ended situation shows at once
        elif incidents_changed:
            self._situations_dirty = True  # counts per status: once a second is enough
        if changes.reset or changes.kpis_changed or incidents_changed:
            self._charts_dirty = True

    def _on_bridge_tick(self) -> None:
        self.refresh_escalation()  # the oldest one's age moves on
        k = self.refresh_figures()  # ages move on
        if self.situation_mode or self._situations_dirty:
            self.refresh_situations()
        if self._charts_dirty or k.hour_start != self._hour_start:
            self.refresh_charts()
