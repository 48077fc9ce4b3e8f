"""Burn-in protection and night dimming on each wall window.

- The shift: the window's top-level layout gets contents margins of
  ``shift_px ± offset`` on each side, so everything inside (header, banners,
  tiles, the QtWebEngine map) moves together by whole pixels while keeping its
  size: a move, never a resize, so the map page does not re-layout. The
  schedule (commandcenter.wall.burnin) moves one pixel per step.
- The dimming: a translucent black overlay above everything in the window,
  transparent to the mouse. It dims text with its background, so the engine
  caps its level (commandcenter.wall.burnin.lowest_brightness over the
  palette's text pairs): no text drops below 7:1 at night. It leaves out the stale banner and the alert
  banner, which keep full brightness: they are what the room must see at
  night. An overlay keeps text crisp (a QGraphicsOpacityEffect would render
  every view through an offscreen pixmap) and costs nothing by day, when it is
  hidden.

Time comes from a clock (commandcenter.core.timeutil), so tests move it without
waiting. A timer re-reads it; :meth:`BurnInGuard.update_now` applies it at once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QRegion
from PySide6.QtWidgets import QLayout, QWidget

from commandcenter.config import Config
from commandcenter.core.timeutil import Clock, utcnow
from commandcenter.wall.burnin import BurnInSchedule, NightSchedule, Offset, step_toward
from ui.support import theme

if TYPE_CHECKING:  # the walls import this module
    from ui.app.province import ProvinceWindow
    from ui.app.wall import WallWindow

log = logging.getLogger(__name__)

#: Object names of the widgets that are never dimmed (safety-relevant):
#: ui.views.header.StaleBanner, ui.alerts.banner.AlertBanner and the province header's banner
#: (ui.views.province.ProvinceHeader: the regencies whose data is old).
BRIGHT_WIDGETS = frozenset({"staleBanner", "alertBanner", "provinceStaleBanner"})
#: The (text, background) colours the overlay dims together: the palette's, less the stale
#: banner's (white on red), which stays at full brightness.
DIMMED_TEXT_PAIRS: tuple[tuple[str, str], ...] = tuple(
    p for p in theme.TEXT_PAIRS if p != (theme.ALARM_TEXT, theme.ALARM_BG)
)
#: The timer never waits longer than this, so the night ramp moves in small steps.
MAX_TICK_S = 30.0


class DimOverlay(QWidget):
    """Translucent black over the whole window except the bright widgets."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        #: The window it covers (parentWidget() is typed Optional; this never changes).
        self.host = parent
        self.setObjectName("nightDimOverlay")
        # Clicks, touches and the wheel go to the widget beneath.
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.alpha = 0.0
        self.setGeometry(parent.rect())
        self.hide()
        parent.installEventFilter(self)

    def set_brightness(self, brightness: float) -> None:
        alpha = max(0.0, min(1.0, 1.0 - brightness))
        if alpha == self.alpha and self.isVisible() == (alpha > 0):
            return
        self.alpha = alpha
        if alpha <= 0.0:
            self.hide()
            return
        self.setGeometry(self.host.rect())
        self.raise_()
        self.show()
        self.update()

    def bright_widgets(self) -> list[QWidget]:
        parent = self.host
        return [
            w
            for w in parent.findChildren(QWidget)
            if w.objectName() in BRIGHT_WIDGETS and w.isVisibleTo(parent)
        ]

    def bright_region(self) -> QRegion:
        """Where the overlay does not paint, in its own coordinates (which are
        its parent's: it covers the parent from (0, 0))."""
        parent = self.host
        region = QRegion()
        for w in self.bright_widgets():
            region = region.united(QRect(w.mapTo(parent, QPoint(0, 0)), w.size()))
        return region

    def track(self) -> None:
        """Repaint when a bright widget shows, hides, moves or resizes."""
        for w in self.bright_widgets() + [
            w for w in self.host.findChildren(QWidget) if w.objectName() in BRIGHT_WIDGETS
        ]:
            w.installEventFilter(self)  # installing twice keeps one filter

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if watched is self.host:
            if kind == QEvent.Type.Resize:
                self.setGeometry(self.host.rect())
            elif kind == QEvent.Type.ChildAdded and self.isVisible():
                # A widget added later (a banner) would stack above the overlay.
                QTimer.singleShot(0, self, self.raise_)
        elif self.isVisible() and kind in (
            QEvent.Type.Show,
            QEvent.Type.Hide,
            QEvent.Type.Move,
            QEvent.Type.Resize,
        ):
            self.update()
        return False

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setClipRegion(QRegion(self.rect()).subtracted(self.bright_region()))
        painter.fillRect(self.rect(), QColor(0, 0, 0, round(self.alpha * 255)))
        painter.end()


class BurnInGuard(QObject):
    """Moves one window's content and dims it at night, from the clock."""

    def __init__(
        self,
        window: QWidget,
        config: Config,
        *,
        clock: Clock | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent or window)
        self.window = window
        self._layout: QLayout | None = window.layout()
        self.clock: Clock = clock or utcnow
        self.shift = BurnInSchedule.from_config(config.display.burn_in)
        self.night = NightSchedule.from_config(config.display.night, text_pairs=DIMMED_TEXT_PAIRS)
        self.offset: Offset = (0, 0)
        self.brightness = 1.0
        self.overlay = DimOverlay(window)
        self.overlay.track()
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.CoarseTimer)
        self._timer.setInterval(round(1000 * min(self.shift.step_interval_s, MAX_TICK_S)))
        self._timer.timeout.connect(self.update_now)
        if self.shift.enabled or self.night.enabled:
            self._timer.start()
        # The first position is taken at once: nobody sees a window appear
        # a few pixels off, and a restart resumes where the path was.
        self._apply_offset(self.shift.target(self.clock()))
        self.update_now()

    def update_now(self) -> None:
        """Read the clock and apply the offset (one pixel at most) and the
        brightness."""
        try:
            now = self.clock()
            self._apply_offset(step_toward(self.offset, self.shift.target(now)))
            self.brightness = self.night.brightness(now)
            self.overlay.track()
            self.overlay.set_brightness(self.brightness)
        except Exception:
            # Cosmetic: a failure here must never take the wall down.
            log.exception("burn-in update failed")

    def _apply_offset(self, offset: Offset) -> None:
        if self._layout is None:
            return
        self.offset = offset
        # The engine's rule (BurnInSchedule.margins): the layout check plans the regions with it.
        margins = self.shift.margins(offset)
        current = self._layout.contentsMargins()
        if (current.left(), current.top(), current.right(), current.bottom()) == margins:
            return
        self._layout.setContentsMargins(*margins)
        # Lay out now, not on the next event: the move is one step, in one frame.
        self._layout.activate()
        if self.overlay.isVisible():
            self.overlay.update()

    def stop(self) -> None:
        self._timer.stop()


def install_burn_in(
    window: WallWindow | ProvinceWindow, config: Config, *, clock: Clock | None = None
) -> BurnInGuard:
    """Guard a wall's window (its ``widget``: ui.app.wall.WallWindow, or the provincial wall's
    ui.app.province.ProvinceWindow); call after the banners are in."""
    guard = BurnInGuard(window.widget, config, clock=clock)
    log.debug(
        "burn-in on %s: shift %s px every %s s, night %s",
        window.widget.objectName(),
        guard.shift.shift_px if guard.shift.enabled else 0,
        guard.shift.step_interval_s,
        "on" if guard.night.enabled else "off",
    )
    if guard.night.enabled and guard.night.capped:
        log.info("night dimming at %.2f, not the configured %.2f: text keeps 7:1 against its background",
                 guard.night.level, guard.night.configured_level)  # fmt: skip
    return guard


__all__ = ["BRIGHT_WIDGETS", "DIMMED_TEXT_PAIRS", "BurnInGuard", "DimOverlay", "install_burn_in"]
