"""The provincial wall's board and header, and the Qt side of the province model.

:class:`ProvinceModel` turns the engine's ProvinceSession (its regencies'
change sets and link states) into one coalesced ``updated`` signal and a
once-a-second ``tick``; the figures and the incident points come from the
engine (commandcenter.core.province), the views only draw them.

:class:`ProvinceBoard` draws one tile per regency (and the province's own
first): two lines of body text, the short name, then its active incidents,
its unacknowledged high-priority incidents (red) and today's arrivals past
the response target (amber). A regency whose link is not live has its name
on the alarm colour and the age of its data instead of figures: nothing
stale looks live. The tiles are laid out by the engine's rule
(commandcenter.wall.province_layout.board_fit).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from commandcenter.core.i18n import Strings
from commandcenter.core.province import IncidentPoint, ProvinceFigures, RegencyFigures
from commandcenter.wall import layout as room
from commandcenter.wall.province_layout import board_fit
from ui.support import theme

if TYPE_CHECKING:
    from commandcenter.core.store import ChangeSet
    from commandcenter.wall.feed import FeedStatus
    from commandcenter.wall.province import ProvinceSession

log = logging.getLogger(__name__)

#: Changes of any regency are gathered for this long before the figures are computed again.
COALESCE_MS = 250


class ProvinceModel(QObject):
    """The province's figures and points for the views, recomputed on change (coalesced)
    and every second (ages). ``selected`` is the regency whose own boards are shown."""

    updated = Signal()
    selected_changed = Signal(str)

    def __init__(self, session: ProvinceSession, strings: Strings, parent: QObject | None = None,
                 selected: str = "") -> None:  # fmt: skip
        super().__init__(parent)
        self.session = session
        self.strings = strings
        self.config = session.config
        codes = [f.code for f in session.feeds]
        self.selected = selected if selected in codes else codes[0]
        self.figures: ProvinceFigures = session.figures()
        self.points: list[IncidentPoint] = session.points()
        self.points_version = 0
        self._points_dirty = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(COALESCE_MS)
        self._timer.timeout.connect(self.refresh)
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self.refresh)
        self._tick.start()
        session.change_listeners.append(self._on_change)
        session.status_listeners.append(self._on_status)
        #: Seconds the last recomputation took (the figures are cheap: maintained aggregates).
        self.last_refresh_s = 0.0

    def _on_change(self, code: str, changes: ChangeSet) -> None:
        if (changes.reset or changes.incidents_added or changes.incidents_updated or changes.incidents_removed
                or changes.incident_acks):
            self._points_dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def _on_status(self, code: str, status: FeedStatus) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def refresh(self) -> None:
        start = time.perf_counter()
        self.figures = self.session.figures()
        if self._points_dirty:
            self._points_dirty = False
            self.points = self.session.points()
            self.points_version += 1
        self.last_refresh_s = time.perf_counter() - start
        self.updated.emit()

    def select(self, code: str) -> None:
        if code and code != self.selected and code in self.session.by_code:
            self.selected = code
            self.selected_changed.emit(code)

    def shutdown(self) -> None:
        self._timer.stop()
        self._tick.stop()
        if self._on_change in self.session.change_listeners:
            self.session.change_listeners.remove(self._on_change)
        if self._on_status in self.session.status_listeners:
            self.session.status_listeners.remove(self._on_status)


def state_text(row: RegencyFigures, strings: Strings) -> str:
    """What a regency that is not live shows instead of its figures: the age of its data."""
    if row.state == "connecting" and row.age_s is None:
        return strings.t("province.tile_connecting")
    if row.age_s is None:
        return strings.t("province.tile_offline")
    return strings.t("province.tile_stale", age=strings.age_tile(row.age_s))


class ProvinceBoard(QWidget):
    """A tile per regency (the province's own first); a click chooses the regency whose
    own boards the wall shows."""

    def __init__(
        self, model: ProvinceModel, metrics: theme.ScreenMetrics, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("provinceBoard")
        self.model = model
        self.metrics = metrics
        self.strings = model.strings
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self._body = QFont(self.font())
        self._body.setPixelSize(metrics.body_px)
        self._bold = QFont(self._body)
        self._bold.setWeight(QFont.Weight.Bold)
        #: (code, rectangle) of each tile as last drawn (clicks, tests).
        self.tile_rects: list[tuple[str, QRectF]] = []
        model.updated.connect(self.update)
        model.selected_changed.connect(lambda _c: self.update())

    def rows(self) -> list[RegencyFigures]:
        f = self.model.figures
        return [f.total, *f.regencies]

    def legend(self) -> str:
        s = self.strings
        minutes = s.number(self.model.figures.total.response_target_s // 60)
        return s.t("province.legend", target=s.t("age.minutes_short", n=minutes))

    def fit(self) -> tuple[int, int]:
        fit = board_fit(self.metrics.sizes, self.width(), self.height(), len(self.rows()))
        return fit.per_row, fit.rows

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(theme.BG))
        line = self.metrics.row_px
        pad = self.metrics.pad_px
        p.setFont(self._body)
        fm = QFontMetrics(self._body)
        p.setPen(QColor(theme.TEXT_DIM))
        legend = fm.elidedText(self.legend(), Qt.TextElideMode.ElideRight, self.width() - 2 * pad)
        p.drawText(QRectF(pad, 0, self.width() - 2 * pad, line), Qt.AlignmentFlag.AlignVCenter, legend)
        per_row, _ = self.fit()
        rows = self.rows()
        tile_w = self.width() / per_row
        self.tile_rects = []
        for i, row in enumerate(rows):
            r, c = divmod(i, per_row)
            rect = QRectF(c * tile_w, line + r * 2 * line, tile_w, 2 * line)
            self.tile_rects.append((row.code, rect))
            self._tile(p, rect.adjusted(pad / 2, pad / 4, -pad / 2, -pad / 4), row)
        p.end()

    def _tile(self, p: QPainter, rect: QRectF, row: RegencyFigures) -> None:
        s = self.strings
        pad = self.metrics.pad_px
        half = rect.height() / 2
        top = QRectF(rect.left(), rect.top(), rect.width(), half)
        bottom = QRectF(rect.left(), rect.top() + half, rect.width(), half)
        is_total = row.code == ""
        live = row.live or (is_total and row.state == "live")
        stale = not row.live and not is_total
        p.fillRect(rect, QColor(theme.BG_RAISED if is_total else theme.BG_PANEL))
        if stale:
            p.fillRect(top, QColor(theme.ALARM_BG))
        else:
            # A live link: a bar in the state's colour along the tile's left edge.
            p.fillRect(QRectF(rect.left(), rect.top(), max(4, pad / 2), rect.height()),
                       QColor(theme.FEED_STATE_COLOR["live" if live else "stale"]))  # fmt: skip
        if row.code == self.model.selected:
            p.setPen(QPen(QColor(theme.ACCENT), max(3, pad / 3)))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(rect)
        fm = QFontMetrics(self._bold)
        inner = rect.width() - 2 * pad
        p.setFont(self._bold)
        p.setPen(QColor(theme.ALARM_TEXT if stale else theme.TEXT))
        name = s.t("province.total") if is_total else row.short
        p.drawText(top.adjusted(pad, 0, -pad, 0), Qt.AlignmentFlag.AlignVCenter,
                   fm.elidedText(name, Qt.TextElideMode.ElideRight, int(inner)))  # fmt: skip
        if stale:
            p.setPen(QColor(theme.ALARM_RED))
            text = fm.elidedText(state_text(row, s), Qt.TextElideMode.ElideRight, int(inner))
            p.drawText(bottom.adjusted(pad, 0, -pad, 0), Qt.AlignmentFlag.AlignVCenter, text)
            return
        # Three figures in three columns of the tile: active, high unconfirmed, late arrivals.
        col = inner / 3
        values = (
            (row.active_total, theme.TEXT),
            (row.unacked_high, theme.ALARM_RED if row.unacked_high else theme.TEXT_DIM),
            (row.breaches, theme.WARN if row.breaches else theme.TEXT_DIM),
        )
        for k, (value, color) in enumerate(values):
            p.setPen(QColor(color))
            cell = QRectF(bottom.left() + pad + k * col, bottom.top(), col, bottom.height())
            p.drawText(cell, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, s.number(value))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        for code, rect in self.tile_rects:
            if code and rect.contains(pos):
                self.model.select(code)
                return
        super().mousePressEvent(event)

    def shutdown(self) -> None:
        pass


class ProvinceHeader(QWidget):
    """One line: the province, how many regencies are live, the clock; under it the stale
    banner naming every regency whose data is old, with its age."""

    def __init__(self, model: ProvinceModel, metrics: theme.ScreenMetrics, title: str,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.model = model
        self.strings = model.strings
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        bar = QWidget(self)
        bar.setObjectName("headerBar")
        bar.setStyleSheet(f"QWidget#headerBar {{ background: {theme.BG_PANEL}; }}")
        body = QFont(self.font())
        body.setPixelSize(metrics.body_px)
        bar.setFixedHeight(max(room.header_px(metrics.sizes), QFontMetrics(body).height() + 8))
        row = QHBoxLayout(bar)
        row.setContentsMargins(metrics.pad_px * 2, 0, metrics.pad_px * 2, 0)
        self.title = QLabel(title, bar)
        self.title.setStyleSheet(f"font-size: {metrics.body_px}px; font-weight: 600;")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.live_label = QLabel(bar)
        self.live_label.setTextFormat(Qt.TextFormat.PlainText)
        self.clock = QLabel(bar)
        self.clock.setStyleSheet(f"font-size: {metrics.body_px}px; font-weight: 700;")
        row.addWidget(self.title, 1)
        row.addWidget(self.live_label, 0)
        row.addSpacing(metrics.pad_px * 4)
        row.addWidget(self.clock, 0)
        outer.addWidget(bar)
        self.banner = QLabel(self)
        self.banner.setObjectName("provinceStaleBanner")
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(
            f"background: {theme.ALARM_BG}; color: {theme.ALARM_TEXT}; font-size: {metrics.body_px}px;"
            f" font-weight: 700; padding: {metrics.pad_px}px {metrics.pad_px * 2}px;"
        )
        self.banner.hide()
        outer.addWidget(self.banner)
        model.updated.connect(self.refresh)
        self.refresh()

    def banner_text(self) -> str:
        s = self.strings
        stale = [r for r in self.model.figures.regencies if not r.live]
        if not stale:
            return ""
        items = [
            s.t("province.stale_item", name=r.short,
                age=s.age(r.age_s) if r.age_s is not None else s.t("province.never"))
            for r in stale
        ]  # fmt: skip
        return s.t("province.stale_banner", regencies=", ".join(items))

    def is_banner_shown(self) -> bool:
        return not self.banner.isHidden()

    def refresh(self) -> None:
        s = self.strings
        f = self.model.figures
        total = len(f.regencies)
        live = s.t("province.live_count", live=s.number(f.live_count), total=s.number(total))
        self.live_label.setText(live)
        color = theme.OK if f.live_count == total else theme.ALARM_RED
        self.live_label.setStyleSheet(f"color: {color}; font-weight: 700;")
        self.clock.setText(f"{s.clock(f.at)} {s.t('clock.zone')}")
        text = self.banner_text()
        self.banner.setText(text)
        self.banner.setVisible(bool(text))


__all__ = ["ProvinceBoard", "ProvinceHeader", "ProvinceModel", "state_text"]
