"""Burn-in shift and night dimming on a real wall window (header, stale
banner, alert banner and the QtWebEngine map), driven by a FakeClock."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any

import msgspec

# QtWebEngineWidgets must be imported before the QApplication is created.
import PySide6.QtWebEngineWidgets  # noqa: F401
import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel, QWidget

from commandcenter.config import Config, NightDimmingConfig
from commandcenter.core.timeutil import WIB, FakeClock
from commandcenter.wall.alerting import AlertService
from commandcenter.wall.burnin import contrast_of, lowest_brightness, shift_path
from commandcenter.wall.layout import Region, ScreenLayout
from ui.alerts.adapter import AlertAdapter
from ui.app.burnin import DIMMED_TEXT_PAIRS, BurnInGuard, install_burn_in
from ui.app.wall import ScreenInfo, WallWindow, WindowPlan
from ui.support import theme
from ui.support.bridge import EngineBridge

pytestmark = [pytest.mark.qt]

NIGHT = dt.datetime(2026, 11, 27, 23, 30, tzinfo=WIB)
DAY = dt.datetime(2026, 11, 28, 11, 0, tzinfo=WIB)


def night_config(config: Config, **night: Any) -> Config:
    night = {"enabled": True, "start": "22:00", "end": "06:00", "level": 0.7, **night}
    display = msgspec.structs.replace(
        config.display, night=msgspec.structs.replace(config.display.night, **night)
    )
    return msgspec.structs.replace(config, display=display)


class Wall:
    def __init__(self, qapp: Any, bridge: EngineBridge, config: Config, clock: FakeClock,
                 page: ScreenLayout | None = None) -> None:
        screen = qapp.primaryScreen()
        g = screen.geometry()
        # One interactive map screen: header, stale banner, the Konfirmasi
        # banner under the header (WallWindow builds it for an interactive screen), the map.
        page = page or ScreenLayout(diagonal_in=55, distance_m=6, interactive=True,
                                    regions=[Region(view="map")])  # fmt: skip
        rect = (g.x(), g.y(), g.width(), g.height())
        plan = WindowPlan(ScreenInfo(screen.name(), 0, g.width(), g.height()), rect, [page], [screen.name()])
        service = AlertService(config, bridge.store, operator="Sari", console="meja-1")
        self.alerts = AlertAdapter(service, bridge)
        self.window = WallWindow(plan, screen, bridge, config, self.alerts)
        self.guard: BurnInGuard = install_burn_in(self.window, config, clock=clock)
        self.window.burn_in = self.guard

    @property
    def widget(self) -> QWidget:
        return self.window.widget

    def pos_of(self, w: QWidget) -> tuple[int, int]:
        p = w.mapTo(self.widget, QPoint(0, 0))
        return p.x(), p.y()

    def grab(self) -> QImage:
        return self.widget.grab().toImage()


@pytest.fixture
def make_wall(qapp: Any, bridge: EngineBridge) -> Iterator[Any]:
    walls: list[Wall] = []

    def make(config: Config, clock: FakeClock, page: ScreenLayout | None = None) -> Wall:
        wall = Wall(qapp, bridge, config, clock, page)
        walls.append(wall)
        return wall

    yield make
    for wall in walls:
        wall.alerts.shutdown()
        wall.window.close()
    # Delete the windows (web views included) now, not in a later test.
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def test_the_whole_window_moves_one_pixel_per_step(make_wall: Any, config: Config) -> None:
    clock = FakeClock(DAY)
    wall = make_wall(config, clock)
    header, map_view = wall.window.header, wall.window.views["map"]
    s = config.display.burn_in.shift_px
    before = {"header": wall.pos_of(header), "map": wall.pos_of(map_view)}
    # Home position plus the offset: the header's top-left is (s + dx, s + dy).
    assert before["header"] == (s + wall.guard.offset[0], s + wall.guard.offset[1])
    size = (map_view.width(), map_view.height())
    seen = {wall.guard.offset}
    for _ in range(len(shift_path(s))):
        clock.advance(config.display.burn_in.step_interval_s)
        wall.guard.update_now()
        after = {"header": wall.pos_of(header), "map": wall.pos_of(map_view)}
        dx = after["header"][0] - before["header"][0]
        dy = after["header"][1] - before["header"][1]
        assert (abs(dx), abs(dy)) in ((1, 0), (0, 1)), (before, after)
        # The map (QtWebEngine) moves with the rest, by the same pixel, unresized.
        assert (after["map"][0] - before["map"][0], after["map"][1] - before["map"][1]) == (dx, dy)
        assert (map_view.width(), map_view.height()) == size
        x, y = after["header"]
        assert 0 <= x <= 2 * s and 0 <= y <= 2 * s
        seen.add(wall.guard.offset)
        before = after
    assert len(seen) == (2 * s + 1) ** 2, "a full cycle visits every offset"


def test_a_clock_jump_is_walked_one_pixel_at_a_time(make_wall: Any, config: Config) -> None:
    clock = FakeClock(DAY)
    wall = make_wall(config, clock)
    start = wall.guard.offset
    # Half a cycle later the target is far away; each update moves one pixel.
    clock.advance(len(shift_path(4)) / 2 * config.display.burn_in.step_interval_s)
    target = wall.guard.shift.target(clock())
    assert max(abs(target[0] - start[0]), abs(target[1] - start[1])) > 1
    previous = start
    while wall.guard.offset != target:
        wall.guard.update_now()
        now = wall.guard.offset
        assert max(abs(now[0] - previous[0]), abs(now[1] - previous[1])) == 1
        previous = now


def test_overlay_dims_at_night_and_is_gone_by_day(make_wall: Any, config: Config) -> None:
    clock = FakeClock(dt.datetime(2026, 11, 27, 21, 0, tzinfo=WIB))
    wall = make_wall(night_config(config), clock)
    overlay = wall.guard.overlay
    # The configured 0.7 would take text below 7:1: the engine's floor for the palette's text.
    level = wall.guard.night.level
    assert level == max(0.7, lowest_brightness(DIMMED_TEXT_PAIRS)) and 0.7 < level < 1.0
    assert not overlay.isVisible()
    clock.now = dt.datetime(2026, 11, 27, 22, 10, tzinfo=WIB)  # half way down the ramp
    wall.guard.update_now()
    assert overlay.isVisible() and overlay.alpha == pytest.approx((1 - level) / 2)
    clock.now = NIGHT
    wall.guard.update_now()
    assert overlay.isVisible() and overlay.alpha == pytest.approx(1 - level)
    assert overlay.geometry() == wall.widget.rect()
    clock.now = DAY
    wall.guard.update_now()
    assert not overlay.isVisible() and wall.guard.brightness == 1.0


def _rgb(img: QImage, x: int, y: int) -> tuple[int, int, int]:
    c = img.pixelColor(x, y)
    return c.red(), c.green(), c.blue()


def _close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 6) -> bool:
    return all(abs(p - q) <= tol for p, q in zip(a, b, strict=True))


def test_banners_stay_bright_and_clicks_pass_through(make_wall: Any, config: Config, qtbot: Any) -> None:
    clock = FakeClock(NIGHT)
    wall = make_wall(night_config(config), clock)
    header = wall.window.header
    stale = header.banner
    alert = wall.window.alert_banner
    # No feed here: the stale banner shows; the simulated store has alerts
    # (the controller raises them on the bridge's first tick).
    assert header.is_banner_shown()
    qtbot.waitUntil(alert.isVisible, timeout=10_000)
    assert {w.objectName() for w in wall.guard.overlay.bright_widgets()} == {"staleBanner", "alertBanner"}
    img = wall.grab()

    def inside(w: QWidget, fx: float, fy: float) -> tuple[int, int]:
        x, y = wall.pos_of(w)
        return x + int(w.width() * fx), y + int(w.height() * fy)

    # The stale banner's red: exactly the theme's, not dimmed.
    alarm = QColor(theme.ALARM_BG)
    # Inside its red padding: below the white top border, above the text.
    pad = wall.window.metrics.pad_px
    x, y = wall.pos_of(stale)
    red_at = (x + stale.width() // 2, y + pad + pad // 2)
    assert _close(_rgb(img, *red_at), (alarm.red(), alarm.green(), alarm.blue())), _rgb(img, *red_at)
    # The header bar (whatever its background): by night at the night's level of what it is by day.
    bar = header.findChild(QWidget, "headerBar")
    bar_night = _rgb(img, *inside(bar, 0.5, 0.04))
    # The alert banner by night looks as it does by day (its flashing border
    # aside: compare a point inside its padding).
    night_px = _rgb(img, *inside(alert, 0.5, 0.5))
    clock.now = DAY
    wall.guard.update_now()
    day_img = wall.grab()
    assert _close(_rgb(day_img, *inside(alert, 0.5, 0.5)), night_px)
    bar_day = _rgb(day_img, *inside(bar, 0.5, 0.04))
    dimmed = tuple(round(c * wall.guard.night.level) for c in bar_day)
    assert _close(bar_night, dimmed, tol=2) and bar_night != bar_day, (bar_night, bar_day)

    # Back to night: a click on the map, under the overlay, reaches the map
    # (the overlay is transparent to the mouse), through the window as a real
    # click would come.
    clock.now = NIGHT
    wall.guard.update_now()
    assert wall.guard.overlay.isVisible()
    map_view = wall.window.views["map"]
    at = QPoint(*inside(map_view, 0.5, 0.5))
    under = wall.widget.childAt(at)
    assert under is not None and under is not wall.guard.overlay
    assert under is map_view or map_view.isAncestorOf(under)
    presses: list[QPoint] = []

    class Spy(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent):
                presses.append(event.position().toPoint())
            return False

    spy = Spy()
    under.installEventFilter(spy)
    QTest.mouseClick(
        wall.widget.windowHandle(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at
    )
    under.removeEventFilter(spy)
    assert presses, "the click did not reach the map"


# --- text contrast at night, on the rendered pixels ---------------------------------------


def _darkest_level() -> float:
    """The lowest display.night.level the configuration accepts: dimming at its maximum."""
    info = msgspec.inspect.type_info(NightDimmingConfig)
    assert isinstance(info, msgspec.inspect.StructType)
    kind = next(f for f in info.fields if f.name == "level").type
    kind = kind.type if isinstance(kind, msgspec.inspect.Metadata) else kind
    assert isinstance(kind, msgspec.inspect.FloatType) and kind.ge is not None
    return float(kind.ge)


def _text_contrasts(wall: Wall, img: QImage) -> dict[str, float]:
    """Each visible text label outside the bright banners: the WCAG contrast of its text's
    colour (the pixel farthest from the background: a glyph's fully covered core; wall text is
    tens of pixels high) against its background (the label's most common pixel)."""
    bright = wall.guard.overlay.bright_widgets()
    out: dict[str, float] = {}
    for label in wall.widget.findChildren(QLabel):
        if not label.isVisibleTo(wall.widget) or not label.text().strip() or label.width() < 4:
            continue
        if any(b is label or b.isAncestorOf(label) for b in bright):
            continue
        x0, y0 = wall.pos_of(label)
        r = label.contentsRect()
        pixels = [_rgb(img, x, y) for y in range(y0 + r.top(), y0 + r.bottom() + 1)
                  for x in range(x0 + r.left(), x0 + r.right() + 1)
                  if 0 <= x < img.width() and 0 <= y < img.height()]  # fmt: skip
        if not pixels:
            continue
        bg = Counter(pixels).most_common(1)[0][0]
        out[f"{label.objectName() or type(label.parent()).__name__}: {label.text()[:30]!r}"] = max(
            contrast_of(px, bg) for px in set(pixels))
    return out


def test_text_keeps_7_to_1_at_the_darkest_night_level(make_wall: Any, config: Config, qtbot: Any) -> None:
    """Night dimming covers text and its background alike (a translucent black), which lowers
    their contrast: the engine caps the level so that no text on the grabbed window drops
    below 7:1, at the darkest level the configuration accepts."""
    level = _darkest_level()
    # A wall screen with text on every background the palette has: the header (the stale
    # banner stays bright) over the leader's figures, funnel and charts.
    page = ScreenLayout(diagonal_in=55, distance_m=6, regions=[Region(view="leader")])
    clock = FakeClock(NIGHT)
    wall = make_wall(night_config(config, level=level), clock, page)
    qtbot.waitUntil(lambda: wall.window.views["leader"].isVisible(), timeout=10_000)
    overlay = wall.guard.overlay
    assert overlay.isVisible() and overlay.alpha > 0, "dimmed at night"
    night = _text_contrasts(wall, wall.grab())
    clock.now = DAY
    wall.guard.update_now()
    assert not overlay.isVisible()
    day = _text_contrasts(wall, wall.grab())
    # The labels with ink by day (a label can be empty of it: a space, clipped away).
    inked = {k for k, v in day.items() if v > 1.5}
    assert len(inked) >= 8 and inked <= night.keys(), (sorted(night), sorted(day))
    # It is dimmed: the text is darker than by day (contrast lower), yet never below 7:1.
    assert any(night[k] < day[k] - 0.05 for k in inked)
    low = {k: round(night[k], 2) for k in inked if night[k] < 7.0}
    assert not low, f"below 7:1 at night level {level} (brightness {wall.guard.night.level}): {low}"
