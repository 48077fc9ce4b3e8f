"""The provincial wall: `commandcenter wall --province` (issue 13 item 3).

It follows every regency of ``[[province.feeds]]`` (commandcenter.wall.province:
one engine session and journal per regency) and shows, on the provincial
layouts of commandcenter.wall.province_layout, the province map (a choropleth
per regency, the incidents), the province board (a tile per regency) and the
existing boards of one chosen regency (``--regency CODE``, or a click on its
tile) through an EngineBridge over that regency's session. Every window has the
province's header: the regencies live out of those followed and, under it, a
banner naming each regency whose data is old with its age.

The single-regency wall (ui.app.wall) is untouched by this: it runs only when
``--province`` is not given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6.QtGui import QScreen
    from PySide6.QtWidgets import QApplication, QWidget

    from commandcenter.config import Config
    from commandcenter.core.i18n import Strings
    from commandcenter.core.timeutil import Clock
    from commandcenter.wall.layout import Layout, Region, ScreenLayout
    from commandcenter.wall.province import ProvinceSession
    from ui.app.burnin import BurnInGuard
    from ui.app.wall import WindowPlan
    from ui.support.bridge import EngineBridge
    from ui.views.province import ProvinceHeader, ProvinceModel

log = logging.getLogger(__name__)

PROVINCE_VIEWS = ("province_map", "province_board")


def province_wall_layout(args: argparse.Namespace, config: Config) -> tuple[str, Layout]:
    """--preset province (default) or province-laptop."""
    from commandcenter.wall.province_layout import PRESETS, province_layout

    name = getattr(args, "preset", None) or "province"
    if name not in PRESETS:
        from commandcenter.wall.layout import LayoutError

        raise LayoutError(f"no provincial layout {name!r}; there are {', '.join(PRESETS)}")
    return name, province_layout(name, config.display)


class ProvinceWindow:
    """A frameless window over one screen: the province header, then the regions."""

    def __init__(self, plan: WindowPlan, qscreen: QScreen, controller: ProvinceController) -> None:
        from PySide6.QtWidgets import QVBoxLayout, QWidget

        from ui.app.wall import show_pages
        from ui.support import theme
        from ui.views.province import ProvinceHeader

        model = controller.model
        t = model.strings.t
        self.plan = plan
        first = plan.pages[0]
        _, _, w, h = plan.geometry
        self.metrics = theme.metrics_for(w, h, first.diagonal_in, first.distance_m)
        self.widget = QWidget()
        self.widget.setObjectName(f"province-{plan.screen.name or plan.screen.index}")
        self.widget.setWindowTitle(t("province.title", name=model.config.province.name))
        self.widget.setStyleSheet(theme.stylesheet(self.metrics))
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.header: ProvinceHeader = ProvinceHeader(model, self.metrics, self._title(plan.pages, controller),
                                                     self.widget)  # fmt: skip
        layout.addWidget(self.header)
        self.views: dict[str, QWidget] = {}
        self.regions: list[tuple[str, QWidget]] = []
        #: Burn-in protection and night dimming (ui.app.burnin), installed by the controller once
        #: the window is built, as on the regency's wall: the layout check plans these regions
        #: inside the shift's margins (province_layout.check_board).
        self.burn_in: BurnInGuard | None = None

        def build_for(page: ScreenLayout) -> Callable[[Region], QWidget]:
            def build(region: Region) -> QWidget:
                widget = controller.make_view(region.view, self.metrics)
                key = region.view if region.view not in self.views else f"{region.view}-{len(self.views)}"
                self.views[key] = widget
                self.regions.append((region.view, widget))
                return widget

            return build

        show_pages(self.widget, layout, plan, qscreen, build_for,
                   lambda page: self._title([page], controller))  # fmt: skip

    @staticmethod
    def _title(pages: list[ScreenLayout], controller: ProvinceController) -> str:
        model = controller.model
        t = model.strings.t
        parts = []
        for page in pages:
            for region in page.regions:
                if region.view in PROVINCE_VIEWS:
                    parts.append(t(f"view.{region.view}"))
                else:
                    from commandcenter.core.province import short_name

                    name = short_name(model.selected, model.session.by_code[model.selected].name)
                    parts.append(t("province.detail", view=t(f"view.{region.view}"), name=name))
        return " · ".join(dict.fromkeys(parts))

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


class ProvinceController:
    """Builds the windows from the layout and the screens; rebuilds them when screens come
    and go or another regency is chosen."""

    def __init__(self, app: QApplication, model: ProvinceModel, layout: Layout, config: Config,
                 *, page_dir: Path | None = None) -> None:  # fmt: skip
        from PySide6.QtCore import QTimer

        self.app = app
        self.model = model
        self.layout = layout
        self.config = config
        self.page_dir = page_dir
        self.windows: list[ProvinceWindow] = []
        #: Time for burn-in and night dimming (commandcenter.core.timeutil); tests set it.
        self.clock: Clock | None = None
        self._bridges: dict[str, EngineBridge] = {}
        self._rebuild = QTimer()
        self._rebuild.setSingleShot(True)
        self._rebuild.setInterval(300)
        self._rebuild.timeout.connect(self.build)
        app.screenAdded.connect(lambda *_: self._rebuild.start())
        app.screenRemoved.connect(lambda *_: self._rebuild.start())
        model.selected_changed.connect(lambda _code: self._rebuild.start())

    def bridge(self, code: str) -> EngineBridge:
        """The existing views' bridge over one regency's session (made when first shown)."""
        from ui.support.bridge import EngineBridge

        bridge = self._bridges.get(code)
        if bridge is None:
            feed = self.model.session.by_code[code]
            bridge = EngineBridge(self.config, feed.store, feed.feed, strings=self.model.strings)
            self._bridges[code] = bridge
        return bridge

    def make_view(self, view: str, metrics: Any) -> QWidget:
        from PySide6.QtWidgets import QLabel

        try:
            if view == "province_map":
                from ui.views.map.province import ProvinceMapView

                return ProvinceMapView(self.model, metrics, page_dir=self.page_dir)
            if view == "province_board":
                from ui.views.province import ProvinceBoard

                return ProvinceBoard(self.model, metrics)
            from ui.app.wall import _make_view

            # One regency's own boards, read-only (the province watches; its centers act).
            return _make_view(view, self.bridge(self.model.selected), metrics, False)
        except Exception:
            log.exception("province view %s could not be built", view)
        label = QLabel(f"{view}: not available")
        return label

    def build(self) -> None:
        from ui.app.wall import plan_windows, screen_infos

        for w in self.windows:
            w.close()
        self.windows = []
        from ui.app.burnin import install_burn_in

        infos, qscreens = screen_infos(self.app)
        for plan in plan_windows(self.layout, infos):
            window = ProvinceWindow(plan, qscreens[plan.screen.index], self)
            # After the header: the night overlay must know its banner to leave it bright.
            window.burn_in = install_burn_in(window, self.config, clock=self.clock)
            self.windows.append(window)

    def screenshots(self, directory: Path) -> list[Path]:
        from ui.app.wall import _safe

        directory.mkdir(parents=True, exist_ok=True)
        out = []
        for i, w in enumerate(self.windows):
            path = directory / f"{_safe(w.plan.screen.name or f'screen-{i + 1}')}.png"
            w.widget.grab().save(str(path))
            out.append(path)
        return out

    def close(self) -> None:
        self._rebuild.stop()
        for w in self.windows:
            w.close()
        self.windows = []
        for bridge in self._bridges.values():
            with contextlib.suppress(Exception):
                bridge.shutdown()
        self._bridges.clear()


async def open_province(config: Config, data_dir: Path, *, clock: Any = None) -> ProvinceSession:
    from commandcenter.wall.province import ProvinceSession, journal_dir

    return await ProvinceSession.open(config, journal_dir(config, data_dir), clock=clock)


async def run_province(
    app: QApplication,
    args: argparse.Namespace,
    config: Config,
    strings: Strings,
    *,
    on_ready: Callable[[Any], None] | None = None,
) -> int:
    """The provincial wall until stopped (or --run-for)."""
    import sys

    from commandcenter.wall.layout import LayoutError
    from ui.app.wall import _data_dir
    from ui.views.province import ProvinceModel

    if not config.province.feeds:
        sys.stderr.write("config error: province.feeds: the provincial wall needs at least one "
                         "[[province.feeds]] entry (code, name, servers, token)\n")  # fmt: skip
        return 2
    try:
        layout_name, layout = province_wall_layout(args, config)
    except LayoutError as exc:
        sys.stderr.write(f"layout error: {exc}\n")
        return 2
    args.layout_name = layout_name
    regency = getattr(args, "regency", None) or ""
    codes = [f.code for f in config.province.feeds]
    if regency and regency not in codes:
        sys.stderr.write(f"--regency {regency}: not one of the followed regencies ({', '.join(codes)})\n")
        return 2
    session = await open_province(config, _data_dir(args))
    model = ProvinceModel(session, strings, selected=regency)
    controller = ProvinceController(app, model, layout, config)
    try:
        controller.build()
        session.start()
        stop = asyncio.Event()
        app.aboutToQuit.connect(stop.set)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        log.info("provincial wall up: %d regencies (%s), layout %s", len(codes), ", ".join(codes),
                 layout_name)  # fmt: skip
        if on_ready is not None:
            on_ready(controller)
        if args.run_for is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.run_for)
        else:
            await stop.wait()
        if args.screenshot_dir:
            model.refresh()
            args.screenshots_written = controller.screenshots(Path(args.screenshot_dir))
        args.windows_shown = len(controller.windows)
    finally:
        controller.close()
        model.shutdown()
        await session.close()
    return 0


__all__ = ["ProvinceController", "ProvinceWindow", "province_wall_layout", "run_province"]
