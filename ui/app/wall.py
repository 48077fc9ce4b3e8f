"""The wall program: `commandcenter wall` and `commandcenter demo`.

One process drives every screen. asyncio runs inside the Qt event loop
(qasync); the engine session (commandcenter.wall.session) journals and
applies events and evaluates the alerts on it, and the views render the store
through the EngineBridge and the alerts through the AlertAdapter. Each configured screen gets a
frameless full-screen window on the Qt screen with that name (or at that
index); views without a screen join the primary window as tabs, so a
single-screen laptop gets everything in one window. Screens that come and go
while running are followed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ui.support.chromium import chromium_environment

if TYPE_CHECKING:  # only for annotations: Qt and the views load once the wall starts
    import datetime as dt

    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QGuiApplication, QResizeEvent, QScreen
    from PySide6.QtWidgets import QApplication, QTabWidget, QVBoxLayout, QWidget

    from commandcenter.config import Config
    from commandcenter.core.i18n import Strings
    from commandcenter.core.timeutil import Clock
    from commandcenter.wall.feed import FeedClient
    from commandcenter.wall.layout import Layout, Region, ScreenLayout
    from ui.alerts.adapter import AlertAdapter
    from ui.alerts.banner import AlertBanner, AudioStatusMark, MuteMark
    from ui.app.burnin import BurnInGuard
    from ui.app.watchdog import GuiWatchdog
    from ui.support.bridge import EngineBridge
    from ui.support.theme import ScreenMetrics

log = logging.getLogger(__name__)

def offscreen_screens(layout: Layout) -> dict[str, Any]:
    """Qt's offscreen platform configuration (its configfile) for a room layout: each layout
    screen at its designed pixels, side by side; a video wall shown as several Qt screens gets
    one screen per panel, named as in ``qt_screens``, forming its rectangle. Unnamed screens
    are named S1-VIEWS, S2-VIEWS, ... in index order (Qt orders screens, and picks the primary,
    by name)."""
    out, x = [], 0
    for i, screen in enumerate(sorted(layout.screens, key=lambda s: s.index)):
        if screen.qt_screens:
            cols, rows = screen.panels
            pw, ph = screen.width_px // cols, screen.height_px // rows
            for k, name in enumerate(screen.qt_screens):
                out.append(_offscreen(name, x + (k % cols) * pw, (k // cols) * ph, pw, ph))
        else:
            name = screen.name or f"S{i + 1}-{'-'.join(r.view for r in screen.regions)}"
            out.append(_offscreen(name, x, 0, screen.width_px, screen.height_px))
        x += screen.width_px
    return {"windowFrameMargins": False, "screens": out}


def _offscreen(name: str, x: int, y: int, w: int, h: int) -> dict[str, Any]:
    return {"name": name, "x": x, "y": y, "width": w, "height": h, "logicalDpi": 96, "logicalBaseDpi": 96,
            "dpr": 1}  # fmt: skip


def offscreen_layout(names: Sequence[str]) -> dict[str, Any]:
    """One 1080p panel per name, side by side (tests of screens found by name)."""
    return {"windowFrameMargins": False, "screens": [_offscreen(n, 1920 * i, 0, 1920, 1080)
                                                     for i, n in enumerate(names)]}  # fmt: skip


#: Four 1080p panels side by side (tests and doctor checks written before room layouts; the
#: headless wall now shapes its screens after its layout: offscreen_screens).
DEMO_SCREENS = offscreen_layout(["S1-map", "S2-operations", "S3-leader", "S4-console"])


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in (
        "win32",
        "darwin",
    )


def prepare_environment(headless: bool, screens_file: str | None) -> None:
    """Set what Qt reads at start-up; must run before any Qt import."""
    if headless or screens_file:
        platform = "offscreen"
        if screens_file:
            platform += f":configfile={Path(screens_file).resolve()}"
        os.environ["QT_QPA_PLATFORM"] = platform
    os.environ.update(chromium_environment(os.environ))


# --- screen planning (pure; tested without windows) ------------------------------------


@dataclass(frozen=True)
class ScreenInfo:
    name: str
    index: int
    width: int
    height: int
    x: int = 0
    y: int = 0


@dataclass
class WindowPlan:
    """One window: on ``screen`` (the top-left Qt screen of a video wall), covering
    ``geometry`` (x, y, width, height), showing ``pages``: the layout screen planned for it,
    then those whose screens are missing (shown as tabs)."""

    screen: ScreenInfo
    geometry: tuple[int, int, int, int]
    pages: list[ScreenLayout] = field(default_factory=list)
    #: Qt screens this window spans (one, or a video wall's panels).
    qt_screens: list[str] = field(default_factory=list)
    #: Layout screens shown here because their own Qt screen is missing.
    missing: list[ScreenLayout] = field(default_factory=list)

    @property
    def views(self) -> list[str]:
        return [r.view for page in self.pages for r in page.regions]

    @property
    def spans_screens(self) -> bool:
        return len(self.qt_screens) > 1


def _bounding(screens: list[ScreenInfo]) -> tuple[int, int, int, int]:
    x0, y0 = min(s.x for s in screens), min(s.y for s in screens)
    x1, y1 = max(s.x + s.width for s in screens), max(s.y + s.height for s in screens)
    return x0, y0, x1 - x0, y1 - y0


def plan_windows(layout: Layout, screens: list[ScreenInfo]) -> list[WindowPlan]:
    """Which layout screen goes on which Qt screen(s).

    A layout screen is found by its Qt name, else by index; a video wall by every name in
    ``qt_screens`` (the window covers their bounding rectangle). A layout screen whose Qt
    screen is missing joins the first (primary) screen's window as a tab, so no view is ever
    lost when a monitor is unplugged; two layout screens never share one Qt screen.
    """
    if not screens:
        return []
    by_name = {s.name: s for s in screens if s.name}
    plans: dict[int, WindowPlan] = {}
    leftovers: list[ScreenLayout] = []
    for ls in layout.screens:
        if ls.qt_screens:
            found = [by_name[n] for n in ls.qt_screens if n in by_name]
            if len(found) != len(ls.qt_screens) or any(f.index in plans for f in found):
                leftovers.append(ls)
                continue
            top_left = min(found, key=lambda f: (f.y, f.x))
            plans[top_left.index] = WindowPlan(top_left, _bounding(found), [ls], [f.name for f in found])
            for f in found:  # the other panels are taken too
                plans.setdefault(f.index, plans[top_left.index])
            continue
        target = by_name.get(ls.name) if ls.name else None
        if target is None and (not ls.name or ls.name not in by_name):
            target = screens[ls.index] if ls.index < len(screens) else None
        if target is None or target.index in plans:
            leftovers.append(ls)
            continue
        plans[target.index] = WindowPlan(target, _bounding([target]), [ls], [target.name])
    if leftovers:
        primary = screens[0]
        if primary.index not in plans:
            plans[primary.index] = WindowPlan(primary, _bounding([primary]), [], [primary.name])
        plans[primary.index].pages.extend(leftovers)
        plans[primary.index].missing.extend(leftovers)
    unique: dict[int, WindowPlan] = {}
    for plan in plans.values():
        unique.setdefault(id(plan), plan)
    return sorted(unique.values(), key=lambda p: p.screen.index)


# --- the windows ------------------------------------------------------------------------


def _make_view(
    view: str,
    bridge: EngineBridge,
    metrics: ScreenMetrics,
    interactive: bool,
    alerts: AlertAdapter | None = None,
) -> QWidget:
    """Build one view widget, handed what it needs (the alert adapter's
    signals and banner); a view that fails to build shows why instead of
    taking the whole wall down."""
    from PySide6.QtWidgets import QLabel

    try:
        if view == "map":
            from ui.views.map.view import MapView

            # The window's text sizes (its screen, distance and diagonal), not the map's guess
            # from config.display: a laptop or a 4K wall would get a legend sized for 55" at 6 m.
            map_view = MapView(bridge, interactive=interactive, metrics=metrics)
            if alerts is not None:
                from ui.alerts.banner import sync_map_alert_states

                sync_map_alert_states(map_view, alerts)
                if interactive:
                    # The popup's Konfirmasi button.
                    map_view.ack_requested.connect(alerts.acknowledge_incident)
            return map_view
        if view == "operations":
            from ui.views.operations import OperationsView

            ops = OperationsView(bridge, metrics, interactive=interactive)
            if alerts is not None and interactive:
                ops.acknowledge_requested.connect(alerts.acknowledge_incident)
            return ops
        if view == "queue":
            from ui.views.queue_view import QueueView

            queue_view = QueueView(bridge, metrics, interactive=interactive)
            if alerts is not None and interactive:
                queue_view.acknowledge_requested.connect(alerts.acknowledge_incident)
            return queue_view
        if view == "agencies":
            # The tiles alone: compact two-line tiles on a wall, told their region's height so
            # all eight fit (a bare AgencyBoardWidget drew three lines and a sparkline each).
            from ui.views.agency_view import AgenciesView

            return AgenciesView(bridge, metrics)
        if view == "leader":
            from ui.views.leader import LeaderView

            leader = LeaderView(bridge, metrics)
            if alerts is not None:
                leader.set_alerts(alerts)
            return leader
        if view == "console":
            from ui.views.console import ConsoleView

            queue = None
            with contextlib.suppress(ImportError):
                from ui.views.operations import OperationsView

                # The tiles go beside the queue, under the incident (ConsoleView).
                queue = OperationsView(bridge, metrics, interactive=True, tiles=False)
                if alerts is not None:
                    queue.acknowledge_requested.connect(alerts.acknowledge_incident)
            banner = None
            if alerts is not None:
                from ui.alerts.banner import AlertBanner

                banner = AlertBanner(alerts, metrics, interactive=True)
            return ConsoleView(bridge, metrics, queue_widget=queue, banner=banner, tiles=True)
    except Exception:
        log.exception("view %s could not be built", view)
    label = QLabel(f"{view}: not available")
    label.setObjectName("heading")
    return label


def show_pages(
    window: QWidget,
    layout: QVBoxLayout,
    plan: WindowPlan,
    qscreen: QScreen,
    build_for: Callable[[ScreenLayout], Callable[[Region], QWidget]],
    tab_title: Callable[[ScreenLayout], str],
) -> QTabWidget | None:
    """The plan's layout screens into ``layout`` (one: its regions; several: a tab each,
    returned) and ``window`` shown frameless on exactly its screen or video wall."""
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtWidgets import QTabWidget

    tabs = None
    if len(plan.pages) == 1:
        layout.addWidget(_region_grid(plan.pages[0], window, build_for(plan.pages[0])), 1)
    else:
        tabs = QTabWidget(window)
        for page in plan.pages:
            tabs.addTab(_region_grid(page, window, build_for(page)), tab_title(page))
        layout.addWidget(tabs, 1)
    x, y, w, h = plan.geometry
    window.setWindowFlag(Qt.WindowType.FramelessWindowHint, True)
    window.setScreen(qscreen)
    # Exactly the screen (or the video wall's rectangle): a view with a large minimum size
    # must shrink or clip inside it, never stretch the window onto the next panel.
    window.setFixedSize(w, h)
    window.setGeometry(QRect(x, y, w, h))
    if plan.spans_screens:
        # Full screen would confine the window to one of the wall's screens.
        window.show()
    else:
        window.showFullScreen()
    return tabs


def _region_grid(page: ScreenLayout, window: QWidget, build: Callable[[Region], QWidget]) -> QWidget:
    """The regions of one layout screen: each view in a cell at its grid rectangle (span by
    span). The cells are placed by hand, not by a QGridLayout: a grid layout lets one view's
    minimum size push the rows off their rectangles (and a text view across a bezel)."""
    from PySide6.QtWidgets import QLayout, QVBoxLayout, QWidget

    from commandcenter.wall.layout import region_rects

    cells: list[QWidget] = []

    class RegionGrid(QWidget):
        def resizeEvent(self, event: QResizeEvent) -> None:
            super().resizeEvent(event)
            self.place()

        def place(self) -> None:
            offset = max(0, window.height() - self.height())
            # The engine's rule, which the layout check plans with (planned_rects).
            rects = region_rects(page, self.width(), self.height(), offset)
            for cell, rect in zip(cells, rects, strict=True):
                cell.setGeometry(*rect)

    grid_widget = RegionGrid()
    grid_widget.setObjectName(f"regions-{page.name or page.index}")
    for region in page.regions:
        widget = build(region)
        # The view fits itself to its cell (it chooses its density from it), never the other
        # way round: no size constraint goes up from the view.
        cell = QWidget(grid_widget)
        cell.setObjectName(f"region-{region.view}")
        inner = QVBoxLayout(cell)
        inner.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(widget)
        cells.append(cell)
    return grid_widget


class WallWindow:
    """A frameless window covering one screen (or a video wall's screens): the header (one
    line, with the stale banner spanning the window under it) on top, then the layout
    screen's regions; layout screens whose Qt screen is missing join as tabs."""

    def __init__(
        self,
        plan: WindowPlan,
        qscreen: QScreen,
        bridge: EngineBridge,
        config: Config,
        alerts: AlertAdapter | None = None,
    ) -> None:
        from PySide6.QtWidgets import QVBoxLayout, QWidget

        from ui.support import theme
        from ui.views.header import ScreenHeader

        t = bridge.strings.t

        self.plan = plan
        first = plan.pages[0]
        _, _, w, h = plan.geometry
        # The engine's legibility numbers for the pixels Qt reports (a video wall: the whole
        # wall's pixels and diagonal) at the layout screen's reading distance.
        self.metrics = theme.metrics_for(w, h, first.diagonal_in, first.distance_m)
        self.widget = QWidget()
        self.widget.setObjectName(f"wall-{plan.screen.name or plan.screen.index}")
        self.widget.setWindowTitle(t("app.title"))
        self.widget.setStyleSheet(theme.stylesheet(self.metrics))
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        titles = " · ".join(t(f"view.{v}") for v in plan.views)
        self.header = ScreenHeader(bridge, self.metrics, titles, self.widget, panel_columns=first.panels[0])
        layout.addWidget(self.header)
        #: (no audio, muted) marks in the header; None without alerts.
        self.alert_marks: tuple[AudioStatusMark, MuteMark] | None = None
        #: The Konfirmasi banner under the header of an interactive screen without a console
        #: (the console has its own, in the view).
        self.alert_banner: AlertBanner | None = None
        if alerts is not None:
            from ui.alerts.banner import make_marks

            audio_mark, mute_mark = make_marks(alerts, self.metrics)
            self.header.add_mark(mute_mark)
            self.header.add_mark(audio_mark)
            # Reparenting hides a widget: decide visibility again now that they are in place.
            audio_mark.refresh()
            mute_mark.refresh()
            self.alert_marks = (audio_mark, mute_mark)
        from ui.alerts.banner import RefusedMark

        #: Events the feed refused and stepped over: said on every screen (hidden while none).
        self.refused_mark = RefusedMark(bridge, self.metrics)
        self.header.add_mark(self.refused_mark)
        self.refused_mark.refresh()
        #: Burn-in protection and night dimming (ui.app.burnin), installed by
        #: the controller once the banners are in place.
        self.burn_in: BurnInGuard | None = None
        self.views: dict[str, QWidget] = {}
        #: (view, widget, layout screen) per region, in layout order (screenshots, reports).
        self.regions: list[tuple[str, QWidget, ScreenLayout]] = []
        interactive_page = any(pg.interactive for pg in plan.pages)
        if alerts is not None and interactive_page and "console" not in plan.views:
            from ui.alerts.banner import AlertBanner

            self.alert_banner = AlertBanner(alerts, self.metrics, interactive=True)
            layout.addWidget(self.alert_banner)

        def build_for(page: ScreenLayout) -> Callable[[Region], QWidget]:
            def build(region: Region) -> QWidget:
                widget = _make_view(region.view, bridge, self.metrics, page.interactive, alerts)
                key = region.view if region.view not in self.views else f"{region.view}-{len(self.views)}"
                self.views[key] = widget
                self.regions.append((region.view, widget, page))
                return widget

            return build

        self.tabs = show_pages(
            self.widget, layout, plan, qscreen, build_for,
            lambda page: " · ".join(t(f"view.{r.view}") for r in page.regions),
        )  # fmt: skip

    def close(self) -> None:
        if self.burn_in is not None:
            self.burn_in.stop()
        for w in self.views.values():
            close = getattr(w, "shutdown", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
        self.widget.close()
        self.widget.deleteLater()


def screen_infos(app: QGuiApplication) -> tuple[list[ScreenInfo], list[QScreen]]:
    """The screens as the wall plans them (also for `commandcenter doctor`)."""
    screens = list(app.screens())
    primary = app.primaryScreen()
    # The primary screen first: leftover views land there.
    if primary in screens:
        screens.remove(primary)
        screens.insert(0, primary)
    infos = [
        ScreenInfo(s.name(), i, g.width(), g.height(), g.x(), g.y())
        for i, s in enumerate(screens)
        for g in (s.geometry(),)
    ]
    return infos, screens


class WallController:
    """Builds the windows from the screen plan and follows screen changes."""

    def __init__(
        self,
        app: QApplication,
        bridge: EngineBridge,
        config: Config,
        alerts: AlertAdapter | None = None,
        clock: Clock | None = None,
        layout: Layout | None = None,
    ) -> None:
        from PySide6.QtCore import QTimer

        from commandcenter.wall.layout import resolve_layout

        self.app = app
        #: The room layout (commandcenter.wall.layout); the configuration's when none is given.
        self.layout = layout if layout is not None else resolve_layout(config)[1]
        self.alerts = alerts
        #: Time for burn-in and night dimming (commandcenter.core.timeutil); tests set it.
        self.clock = clock
        self.bridge = bridge
        self.config = config
        self.windows: list[WallWindow] = []
        self._rebuild_timer = QTimer()
        self._rebuild_timer.setSingleShot(True)
        self._rebuild_timer.setInterval(300)  # screens often change in bursts
        self._rebuild_timer.timeout.connect(self.build)
        app.screenAdded.connect(lambda *_: self._rebuild_timer.start())
        app.screenRemoved.connect(lambda *_: self._rebuild_timer.start())
        self.rebuilds = 0

    def screen_infos(self) -> tuple[list[ScreenInfo], list[QScreen]]:
        return screen_infos(self.app)

    def build(self) -> None:
        for w in self.windows:
            w.close()
        self.windows = []
        infos, qscreens = self.screen_infos()
        for plan in plan_windows(self.layout, infos):
            window = WallWindow(plan, qscreens[plan.screen.index], self.bridge, self.config, self.alerts)
            from ui.app.burnin import install_burn_in

            # After the banners: the night overlay must know them to leave them bright.
            window.burn_in = install_burn_in(window, self.config, clock=self.clock)
            self.windows.append(window)
        self.rebuilds += 1
        log.info("wall windows: %s", [(w.plan.screen.name, w.plan.views) for w in self.windows])

    def screenshots(self, directory: Path, *, regions: bool = False) -> list[Path]:
        """One PNG per window (named after its screen), and with ``regions`` one per region
        cropped from the same grab (VIEW.png, the header and banner left out)."""
        directory.mkdir(parents=True, exist_ok=True)
        out = []
        for i, w in enumerate(self.windows):
            name = w.plan.screen.name or f"screen-{i + 1}"
            path = directory / f"{_safe(name)}.png"
            shot = w.widget.grab()
            shot.save(str(path))
            out.append(path)
            if not regions:
                continue
            for view, widget, _page in w.regions:
                if not widget.isVisible():
                    continue  # on a tab not shown
                rect = _rect_in(widget.parentWidget() or widget, w.widget)  # the region's cell
                region_path = directory / f"{_safe(view)}.png"
                n = 2
                while region_path in out:  # the same view twice in a layout
                    region_path = directory / f"{_safe(view)}-{n}.png"
                    n += 1
                shot.copy(rect).save(str(region_path))
                out.append(region_path)
        return out

    def placement(self) -> list[dict[str, Any]]:
        """Where each window is: for tests, `--placement-report` and doctor."""
        out = []
        for w in self.windows:
            screen = w.widget.screen()
            g, sg = w.widget.geometry(), screen.geometry()
            out.append(
                {
                    "screen": screen.name(),
                    "planned_screen": w.plan.screen.name,
                    "views": w.plan.views,
                    "qt_screens": w.plan.qt_screens,
                    "regions": [
                        {"view": v, "rect": _xywh(_rect_in(widget.parentWidget() or widget, w.widget)),
                         "visible": widget.isVisible()}
                        for v, widget, _page in w.regions
                    ],
                    "body_px": w.metrics.body_px,
                    "window": [g.x(), g.y(), g.width(), g.height()],
                    "screen_geometry": [sg.x(), sg.y(), sg.width(), sg.height()],
                    "fullscreen": w.widget.isFullScreen(),
                    "frameless": bool(w.widget.windowFlags() & _frameless_flag()),
                    "banner": w.header.is_banner_shown(),
                }
            )
        return out

    def close(self) -> None:
        self._rebuild_timer.stop()
        for w in self.windows:
            w.close()
        self.windows = []


def _rect_in(widget: QWidget, window: QWidget) -> QRect:
    from PySide6.QtCore import QPoint, QRect

    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def _xywh(rect: QRect) -> list[int]:
    return [rect.x(), rect.y(), rect.width(), rect.height()]


def _frameless_flag() -> Qt.WindowType:
    from PySide6.QtCore import Qt

    return Qt.WindowType.FramelessWindowHint


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "screen"


# --- running -----------------------------------------------------------------------------


class DemoServer:
    """The reference server with the simulator, as a child process."""

    def __init__(
        self,
        data_dir: Path,
        speed: float,
        rate: float,
        seed: int,
        scenario: str,
        origin: dt.datetime | None = None,
    ) -> None:
        from commandcenter.ops.selfexec import self_command

        self.proc = subprocess.Popen(
            # Not `python -m ...`: a frozen bundle runs its own executable.
            self_command(
                "serve",
                "--db",
                str(data_dir / "server.sqlite3"),
                "--port",
                "0",
                "--scenario",
                scenario,
                "--speed",
                str(speed),
                "--rate",
                str(rate),
                "--seed",
                str(seed),
                # The wall's WarpClock uses the same origin: both agree on "now".
                *(("--sim-origin", origin.isoformat()) if origin is not None else ()),
            ),
            stdout=subprocess.PIPE,
            stderr=open(data_dir / "server.log", "a"),  # noqa: SIM115 - the child keeps it
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise RuntimeError(f"demo server did not start (see {data_dir / 'server.log'})")
        self.url = line.split()[1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc.stdout:
            self.proc.stdout.close()


async def run_wall(
    app: QApplication,
    args: argparse.Namespace,
    *,
    demo: bool,
    on_ready: Callable[[WallController], None] | None = None,
) -> int:
    """The wall: one engine session (journal, store, feed, alerts), the bridge
    and alert adapter over it, the windows, the watchdog; until stopped."""
    from commandcenter.config import ConfigError, load_config
    from commandcenter.core.i18n import strings_for
    from commandcenter.wall.layout import LayoutError

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"config error: {exc}\n")
        return 2
    if getattr(args, "province", False):  # the provincial wall (ui.app.province)
        from ui.app.province import run_province

        return await run_province(app, args, config, strings_for(args.lang or config.display.language),
                                  on_ready=on_ready)  # fmt: skip
    try:
        layout_name, layout = wall_layout(args, config)
    except LayoutError as exc:
        sys.stderr.write(f"layout error: {exc}\n")
        return 2
    args.layout_name, args.room_layout = layout_name, layout
    # The wall's one language (--lang, else display.language): every view
    # takes its texts and number formats from these Strings, via the bridge.
    strings = strings_for(args.lang or config.display.language)
    if getattr(args, "replay", None):  # a journal's past instead of the server (ui.app.replay)
        from ui.app.replay import run_replay

        return await run_replay(app, args, config, strings, on_ready=on_ready)
    data_dir = _data_dir(args)
    # Everything set up is torn down in reverse order, also when set-up fails
    # half-way (a journal left open keeps its SQLite thread and the process alive).
    async with contextlib.AsyncExitStack() as stack:
        return await _run(app, args, config, data_dir, stack, demo=demo, on_ready=on_ready, strings=strings)
    raise AssertionError("unreachable")  # pragma: no cover - mypy: the stack does not swallow


async def _run(
    app: QApplication,
    args: argparse.Namespace,
    config: Config,
    data_dir: Path,
    stack: contextlib.AsyncExitStack[Any],
    *,
    demo: bool,
    on_ready: Callable[[WallController], None] | None,
    strings: Strings,
) -> int:
    from commandcenter.ops.runtime import freeze_heap
    from commandcenter.ops.supervisor import feed_exit
    from commandcenter.wall.session import JOURNAL_FILE, WallSession, feed_settings, journal_path
    from ui.alerts.adapter import AlertAdapter
    from ui.alerts.sound import SoundOutput
    from ui.support.bridge import EngineBridge

    loop = asyncio.get_running_loop()
    url = getattr(args, "server", None)
    token = getattr(args, "token", None)
    clock, origin = _demo_clock(data_dir, args) if demo else (None, None)
    frozen = bool(getattr(args, "frozen_clock", None))
    if frozen:
        # The gallery's pictures: every age, the header's clock and burn-in's shift at one
        # fixed moment, and the wall grabbed once it is still (ui.app.still).
        clock = _FrozenClock(args.frozen_clock)
    if demo:
        server = await loop.run_in_executor(
            None, lambda: DemoServer(data_dir, args.speed, args.rate, args.seed, args.scenario, origin)
        )
        stack.callback(server.stop)
        url, token = server.url, "demo-console"
        # External feeds on recorded samples (commandcenter.ingest.demo): a BMKG quake and a
        # warning over OKI in the first minutes, on the demo's clock.
        from commandcenter.ingest.demo import DemoIngest

        stack.push_async_callback(DemoIngest(server.url, clock).start().close)
    watchdog: list[GuiWatchdog] = []

    def stop_watchdogs() -> None:
        for w in watchdog:
            w.stop()

    stack.callback(stop_watchdogs)
    operator = await _operator(args, config, strings)
    session = await WallSession.open(
        config,
        data_dir / JOURNAL_FILE if demo else journal_path(config, data_dir),
        feed_settings(config, url=url, token=token),
        clock=clock,
        operator=operator,
        speech=True,
        on_restored=freeze_heap,
    )
    stack.push_async_callback(session.close)
    bridge = EngineBridge(config, session.store, session.feed, strings=strings)
    stack.callback(bridge.shutdown)
    alerts = AlertAdapter(session.alerts, bridge, audio=SoundOutput())
    # Burn-in and night dimming follow the real clock (the demo's too), a frozen one only when
    # frozen: the shift moves the whole window by a pixel a minute.
    controller = WallController(app, bridge, config, alerts=alerts, layout=args.room_layout,
                                clock=clock if frozen else None)
    stack.callback(controller.close)
    stack.callback(alerts.shutdown)
    controller.build()
    from ui.app.replay import ReplayLauncher

    # The console's "Putar ulang": this wall's own journal, read-only, in a window of its own.
    launcher = ReplayLauncher(app, bridge, config, args.room_layout, session.journal.path)
    stack.push_async_callback(launcher.close)
    feed_task = session.start()
    stop = asyncio.Event()
    app.aboutToQuit.connect(stop.set)
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    feed_task.add_done_callback(lambda t: None if t.cancelled() or t.exception() is None else stop.set())
    log.info(
        "wall up (pid %d): %d incidents from the journal at seq %d, feed %s, stale banner %s",
        os.getpid(),
        len(session.store.incidents),
        session.store.seq,
        session.feed.status.state.value,
        "shown" if any(w.header.is_banner_shown() for w in controller.windows) else "hidden",
    )
    restart_reasons: list[str] = []
    watchdog.append(_start_watchdog(config, args, session.feed, loop, restart_reasons, stop))
    if on_ready is not None:
        on_ready(controller)
    not_still = ""
    if frozen and args.screenshot_dir:
        # No wait for a time: the pictures are taken once nothing in them moves (--run-for
        # is the limit), and a wall that does not come to rest fails rather than differs.
        from ui.app.still import NotStill, hold_still

        try:
            await hold_still(controller, session.feed, bridge,
                             timeout=args.run_for if args.run_for is not None else 120.0)
        except NotStill as exc:
            not_still = f"the wall did not come to rest for its pictures: {exc}"
    elif args.run_for is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.run_for)
    else:
        await stop.wait()
    # A feed that ended by itself (a refused token, a journal that cannot be
    # written, any exception) is never exit 0: the supervisor and systemd
    # restart only what fails.
    code, line = feed_exit(feed_task, "wall")
    if line:
        # The stack only for the unexpected (a full disk or a refused token says it all).
        unexpected = "the feed failed" in line
        log.error("%s", line, exc_info=feed_task.exception() if unexpected else None)
        sys.stderr.write(line + "\n")
    elif restart_reasons:
        from commandcenter.ops.watchdog import EXIT_RESTART

        code = EXIT_RESTART
    if getattr(args, "placement_report", None):
        Path(args.placement_report).write_text(  # noqa: ASYNC240 - a few bytes at exit
            json.dumps(controller.placement(), indent=2)
        )
    if not_still:
        log.error("%s", not_still)
        sys.stderr.write(not_still + "\n")
        code = code or 1
    elif args.screenshot_dir:
        bridge.flush(whole=True)
        if frozen:
            from ui.app.still import light_banners

            light_banners(controller)
        # Grabbing every window (web views included) blocks the GUI thread for a while on
        # purpose: not a stall for the watchdog to report.
        with contextlib.ExitStack() as paused:
            for w in watchdog:
                paused.enter_context(w.paused())
            paths = controller.screenshots(Path(args.screenshot_dir), regions=args.screenshot_regions)
        args.screenshots_written = paths
        log.info("screenshots: %s", ", ".join(str(p) for p in paths))
    args.windows_shown = len(controller.windows)
    return code


def wall_layout(args: argparse.Namespace, config: Config) -> tuple[str, Layout]:
    """The room layout: --layout FILE / --preset NAME, else the configuration's
    (commandcenter.wall.layout.resolve_layout). Raises LayoutError."""
    from commandcenter.wall.layout import resolve_layout

    config_dir = Path(args.config).resolve().parent if getattr(args, "config", None) else None
    return resolve_layout(
        config, getattr(args, "preset", None) or "", getattr(args, "layout", None) or "", config_dir
    )


def _data_dir(args: argparse.Namespace) -> Path:
    import platformdirs

    from commandcenter.config import APP_NAME

    data_dir = Path(args.data_dir) if args.data_dir else Path(platformdirs.user_data_dir(APP_NAME))
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


class _FrozenClock:
    """A "now" that does not move (``--frozen-clock``): two runs give the same pictures."""

    def __init__(self, iso: str) -> None:
        import datetime as dt

        at = dt.datetime.fromisoformat(iso)
        self.at = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.at


def _demo_clock(data_dir: Path, args: argparse.Namespace) -> tuple[Clock | None, dt.datetime | None]:
    """The demo's simulated clock and its origin (None, None at real speed)."""
    if args.speed == 1.0:
        return None, None
    from commandcenter.core.timeutil import WarpClock

    origin = _demo_origin(data_dir, args.speed, getattr(args, "sim_origin", None))
    return WarpClock(origin, args.speed), origin


def _start_watchdog(
    config: Config,
    args: argparse.Namespace,
    client: FeedClient,
    loop: asyncio.AbstractEventLoop,
    reasons: list[str],
    stop: asyncio.Event,
) -> GuiWatchdog:
    """The GUI-thread watchdog (ui.app.watchdog); a restart it asks for (from its
    own thread) ends the event loop cleanly, and the wall exits with 75."""
    from ui.app.watchdog import start_watchdog

    def restart(reason: str) -> None:
        reasons.append(reason)
        stop.set()

    def restart_soon(reason: str) -> None:  # on the watchdog's thread
        loop.call_soon_threadsafe(restart, reason)

    return start_watchdog(
        config,
        getattr(args, "stats_file", None),
        lambda: str(client.status.state.value),
        restart_soon,
    )


async def _operator(args: argparse.Namespace, config: Config, strings: Strings) -> str:
    """Who sits at this wall's console: --operator, else asked at start on a
    wall with a console screen (the first configured operator when headless)."""
    from ui.alerts.banner import ask_operator

    operator = getattr(args, "operator", None) or ""
    has_console = any(r.view == "console" for screen in args.room_layout.screens for r in screen.regions)
    if not operator and has_console and not args.headless:
        operator = await ask_operator(config, strings=strings)
    if not operator and has_console:
        operator = config.display.operators[0] if config.display.operators else "operator"
    return str(operator)


def _demo_origin(data_dir: Path, speed: float, given: str | None = None) -> dt.datetime:
    """Origin of the demo's simulated clock (--sim-origin, else kept in the data dir so a demo
    run again on the same journals continues forward in simulated time instead of
    starting "now" behind incidents it already showed)."""
    import datetime as dt

    from commandcenter.core.timeutil import utcnow

    if given:
        at = dt.datetime.fromisoformat(given)
        return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)

    path = data_dir / "demo-clock.json"
    try:
        saved = json.loads(path.read_text())
        if float(saved["speed"]) == speed:
            origin = dt.datetime.fromisoformat(saved["origin"])
            if origin.tzinfo is not None:
                return origin
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none yet, or unreadable: start a new simulated clock
    origin = utcnow()
    path.write_text(json.dumps({"origin": origin.isoformat(), "speed": speed}))
    return origin


def wall_main(args: argparse.Namespace, *, demo: bool = False) -> int:
    headless = bool(args.headless)
    screens_file = args.screens
    if demo and not has_display() and not headless:
        headless = True
        if args.run_for is None:
            args.run_for = 60.0
        if not args.screenshot_dir:
            args.screenshot_dir = str(Path.cwd() / "demo-screenshots")
        sys.stdout.write(
            f"no display: running headless for {args.run_for:.0f} s; screenshots go to "
            f"{args.screenshot_dir}\n"
        )
    if headless and not screens_file:
        # Headless screens shaped like the room layout's (a 4K panel, a video wall's screens).
        tmp = Path(tempfile.mkdtemp(prefix="oki112-screens-"))
        screens_file = str(tmp / "screens.json")
        Path(screens_file).write_text(json.dumps(offscreen_screens(_layout_or_default(args))))
    args.headless = headless
    prepare_environment(headless, screens_file)
    from ui.app.qtlog import start_wall_logging

    stop_logging = start_wall_logging(args)

    import PySide6.QtWebEngineWidgets  # noqa: F401  - must come before the QApplication
    from PySide6.QtWidgets import QApplication

    from commandcenter.ops.errors import UNCAUGHT
    from commandcenter.ops.runtime import tune_gc
    from ui.app.eventloop import run_in_qt_loop

    tune_gc()
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("oki-siaga-112-wall")
    app.setQuitOnLastWindowClosed(False)  # screens may all vanish for a moment
    try:
        # Uncaught exceptions of slots, tasks and threads are logged and
        # counted by hooks installed for the run, and the wall carries on.
        code = run_in_qt_loop(app, run_wall(app, args, demo=demo))
        log.info("wall exits with code %s (%d uncaught errors)", code, UNCAUGHT.total)
    finally:
        stop_logging()
    if demo and args.run_for is not None:
        # What ran and where to look, as the run's last line (the rest is in the log file).
        shots = getattr(args, "screenshots_written", None)
        where = f"; screenshots in {Path(shots[0]).parent}" if shots else ""
        sys.stdout.write(
            f"demo done: {args.scenario} scenario for {args.run_for:g} s on the "
            f"{getattr(args, 'layout_name', '?')} layout ({getattr(args, 'windows_shown', 0)} windows), "
            f"exit {code}{where}; log in {_log_hint(args)}\n"
        )
        sys.stdout.flush()
    return int(code)


def _layout_or_default(args: argparse.Namespace) -> Layout:
    """The layout for the headless screens, before Qt starts; a bad configuration or layout
    gets the default here (run_wall reports the error and exits 2)."""
    from commandcenter.config import ConfigError, load_config
    from commandcenter.wall.layout import LayoutError, load_layout

    try:
        if getattr(args, "province", False):
            from ui.app.province import province_wall_layout

            return province_wall_layout(args, load_config(args.config))[1]
        return wall_layout(args, load_config(args.config))[1]
    except (ConfigError, LayoutError):
        return load_layout()[1]


def _log_hint(args: argparse.Namespace) -> str:
    from commandcenter.config import ConfigError, load_config
    from commandcenter.ops.logsetup import log_dir

    try:
        return str(log_dir(load_config(args.config).logging, getattr(args, "data_dir", None)) / "wall.log")
    except ConfigError:
        return "none"


def add_wall_arguments(p: argparse.ArgumentParser, *, demo: bool) -> None:
    from commandcenter.config.schema import server_argument

    p.add_argument("--config", default=None, help="configuration file")
    p.add_argument("--headless", action="store_true", help="no display: Qt's offscreen platform")
    p.add_argument("--screens", default=None, help="offscreen screen layout (JSON) to run on")
    p.add_argument("--run-for", type=float, default=None, help="exit 0 after SECONDS")
    p.add_argument("--screenshot-dir", default=None, help="save one PNG per screen at the end")
    p.add_argument("--screenshot-regions", action="store_true",
                   help="with --screenshot-dir: also one PNG per region (VIEW.png)")
    p.add_argument("--preset", default=None,
                   help="room layout: four-panels, videowall-2x2, single-4k or laptop (config/layouts.toml)")
    p.add_argument("--layout", default=None, help="room layout file (TOML; see docs/operations.md)")
    p.add_argument("--data-dir", default=None, help="journal and logs (default: the platform data dir)")
    p.add_argument("--lang", choices=["id", "en"], default=None, help="override display.language")
    p.add_argument("--operator", default=None, help="operator at this console (else asked at start)")
    p.add_argument("--server", default=None, type=server_argument,
                   help="server URL, or several comma-separated to fail over between (overrides the config)")
    p.add_argument("--token", default=None, help="access token (overrides the config)")
    p.add_argument("--placement-report", default=None, help="write where each window went (JSON) at the end")
    p.add_argument(
        "--stats-file",
        default=None,
        help="append a JSON line of health figures (memory, GUI stalls, feed) each watchdog.check_interval_s",
    )
    p.add_argument(
        "--no-supervisor",
        action="store_true",
        help="run the wall in this process: no restart after a crash, freeze or memory limit (debugging)",
    )
    if not demo:
        p.add_argument("--province", action="store_true",
                       help="the provincial wall: follow every [[province.feeds]] regency (presets province, "
                       "province-laptop)")  # fmt: skip
        p.add_argument("--regency", default=None, metavar="CODE",
                       help="with --province: the regency whose own boards show (default: the first feed)")
    # Internal: the gallery (tools/screenshots.py) fixes the wall's "now" for reproducible pictures.
    p.add_argument("--frozen-clock", default=None, help=argparse.SUPPRESS)
    # Internal: set by the supervisor on the wall it starts.
    p.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    if demo:
        p.add_argument("--speed", type=float, default=10.0, help="simulated time runs X times faster")
        p.add_argument("--rate", type=float, default=2.0, help="incidents a minute in normal times")
        p.add_argument("--seed", type=int, default=112)
        p.add_argument("--sim-origin", default=None,
                       help="start of simulated time (ISO 8601; default: now, kept in the data dir)")
        p.add_argument("--scenario", default="mixed", choices=["normal", "flood", "karhutla", "mixed"])
