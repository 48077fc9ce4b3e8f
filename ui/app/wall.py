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
from typing import Any

from ui.support.chromium import chromium_environment

log = logging.getLogger(__name__)

VIEW_ORDER = ("map", "operations", "leader", "console")


def offscreen_layout(names: Sequence[str]) -> dict[str, Any]:
    """A layout for Qt's offscreen platform (its configfile): one 1080p panel
    per name, side by side."""
    return {
        "windowFrameMargins": False,
        "screens": [
            {"name": name, "x": 1920 * i, "y": 0, "width": 1920, "height": 1080,
             "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
            for i, name in enumerate(names)
        ],
    }  # fmt: skip


#: The screen layout the headless demo uses when none is given: four 1080p
#: panels side by side, named after what they show.
DEMO_SCREENS = offscreen_layout([f"S{i + 1}-{view}" for i, view in enumerate(VIEW_ORDER)])


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


@dataclass
class WindowPlan:
    screen: ScreenInfo
    #: (view, interactive, viewing distance override, diagonal override)
    views: list[tuple[str, bool, float | None, float | None]] = field(default_factory=list)


def plan_windows(screen_configs: list[Any], screens: list[ScreenInfo]) -> list[WindowPlan]:
    """Which views go on which screen.

    A configured screen is found by its Qt name, else by index. Views whose
    screen is missing join the first (primary) screen's window as tabs, so no
    view is ever lost when a monitor is unplugged.
    """
    if not screens:
        return []
    plans: dict[int, WindowPlan] = {}
    leftovers: list[tuple[str, bool, float | None, float | None]] = []
    by_name = {s.name: s for s in screens if s.name}
    for sc in screen_configs:
        entry = (sc.view, sc.interactive, sc.viewing_distance_m, sc.diagonal_in)
        target = by_name.get(sc.name) if sc.name else None
        if target is None and (not sc.name or sc.name not in by_name):
            target = screens[sc.index] if sc.index < len(screens) else None
        if target is None:
            leftovers.append(entry)
            continue
        plans.setdefault(target.index, WindowPlan(target)).views.append(entry)
    if leftovers:
        primary = screens[0]
        plans.setdefault(primary.index, WindowPlan(primary)).views.extend(leftovers)
    return [plans[i] for i in sorted(plans)]


# --- the windows ------------------------------------------------------------------------


def _make_view(view: str, bridge: Any, metrics: Any, interactive: bool, alerts: Any = None) -> Any:
    """Build one view widget, handed what it needs (the alert adapter's
    signals and banner); a view that fails to build shows why instead of
    taking the whole wall down."""
    from PySide6.QtWidgets import QLabel

    try:
        if view == "map":
            from ui.views.map.view import MapView

            map_view = MapView(bridge, interactive=interactive)
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

                queue = OperationsView(bridge, metrics, interactive=True)
                if alerts is not None:
                    queue.acknowledge_requested.connect(alerts.acknowledge_incident)
            banner = None
            if alerts is not None:
                from ui.alerts.banner import AlertBanner

                banner = AlertBanner(alerts, metrics, interactive=True)
            return ConsoleView(bridge, metrics, queue_widget=queue, banner=banner)
    except Exception:
        log.exception("view %s could not be built", view)
    label = QLabel(f"{view}: not available")
    label.setObjectName("heading")
    return label


class WallWindow:
    """A frameless full-screen window on one screen: header, banner, views."""

    def __init__(self, plan: WindowPlan, qscreen: Any, bridge: Any, config: Any, alerts: Any = None) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

        from ui.support import theme
        from ui.views.header import ScreenHeader

        t = bridge.strings.t

        self.plan = plan
        first = plan.views[0]
        distance = first[2] or config.display.viewing_distance_m
        diagonal = first[3] or config.display.panel_diagonal_in
        geo = qscreen.geometry()
        self.metrics = theme.metrics_for(geo.width(), geo.height(), diagonal, distance)
        self.widget = QWidget()
        self.widget.setObjectName(f"wall-{plan.screen.name or plan.screen.index}")
        self.widget.setWindowTitle(t("app.title"))
        self.widget.setStyleSheet(theme.stylesheet(self.metrics))
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        titles = " · ".join(t(f"view.{v[0]}") for v in plan.views)
        self.header = ScreenHeader(bridge, self.metrics, titles, self.widget)
        layout.addWidget(self.header)
        #: (no audio, muted) marks in the header; None without alerts.
        self.alert_marks: tuple[Any, Any] | None = None
        #: The Konfirmasi banner under the header of a single interactive view
        #: (the console has its own, in the view).
        self.alert_banner: Any = None
        if alerts is not None:
            from ui.alerts.banner import make_marks

            audio_mark, mute_mark = make_marks(alerts, self.metrics)
            self.header.add_mark(mute_mark)
            self.header.add_mark(audio_mark)
            # Reparenting hides a widget: decide visibility again now that they are in place.
            audio_mark.refresh()
            mute_mark.refresh()
            self.alert_marks = (audio_mark, mute_mark)
        #: Burn-in protection and night dimming (ui.app.burnin), installed by
        #: the controller once the banners are in place.
        self.burn_in: Any = None
        self.views: dict[str, Any] = {}
        if len(plan.views) == 1:
            view, interactive, _, _ = first
            if alerts is not None and interactive and view != "console":
                from ui.alerts.banner import AlertBanner

                self.alert_banner = AlertBanner(alerts, self.metrics, interactive=True)
                layout.addWidget(self.alert_banner)
            w = _make_view(view, bridge, self.metrics, interactive, alerts)
            self.views[view] = w
            layout.addWidget(w, 1)
            self.tabs = None
        else:
            self.tabs = QTabWidget(self.widget)
            for view, interactive, _, _ in plan.views:
                w = _make_view(view, bridge, self.metrics, interactive, alerts)
                self.views[view] = w
                self.tabs.addTab(w, t(f"view.{view}"))
            layout.addWidget(self.tabs, 1)
        self.widget.setWindowFlag(Qt.WindowType.FramelessWindowHint, True)
        self.widget.setScreen(qscreen)
        # Exactly the screen: a view with a large minimum size must shrink or
        # clip inside it, never stretch the window onto the next panel.
        self.widget.setFixedSize(geo.size())
        self.widget.setGeometry(geo)
        self.widget.showFullScreen()

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


def screen_infos(app: Any) -> tuple[list[ScreenInfo], list[Any]]:
    """The screens as the wall plans them (also for `commandcenter doctor`)."""
    screens = list(app.screens())
    primary = app.primaryScreen()
    # The primary screen first: leftover views land there.
    if primary in screens:
        screens.remove(primary)
        screens.insert(0, primary)
    infos = [
        ScreenInfo(s.name(), i, s.geometry().width(), s.geometry().height()) for i, s in enumerate(screens)
    ]
    return infos, screens


class WallController:
    """Builds the windows from the screen plan and follows screen changes."""

    def __init__(self, app: Any, bridge: Any, config: Any, alerts: Any = None, clock: Any = None) -> None:
        from PySide6.QtCore import QTimer

        self.app = app
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

    def screen_infos(self) -> tuple[list[ScreenInfo], list[Any]]:
        return screen_infos(self.app)

    def build(self) -> None:
        for w in self.windows:
            w.close()
        self.windows = []
        infos, qscreens = self.screen_infos()
        for plan in plan_windows(list(self.config.screens), infos):
            window = WallWindow(plan, qscreens[plan.screen.index], self.bridge, self.config, self.alerts)
            from ui.app.burnin import install_burn_in

            # After the banners: the night overlay must know them to leave them bright.
            window.burn_in = install_burn_in(window, self.config, clock=self.clock)
            self.windows.append(window)
        self.rebuilds += 1
        log.info(
            "wall windows: %s", [(w.plan.screen.name, [v[0] for v in w.plan.views]) for w in self.windows]
        )

    def screenshots(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        out = []
        for i, w in enumerate(self.windows):
            name = w.plan.screen.name or f"screen-{i + 1}"
            path = directory / f"{_safe(name)}.png"
            w.widget.grab().save(str(path))
            out.append(path)
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
                    "views": [v[0] for v in w.plan.views],
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


def _frameless_flag() -> Any:
    from PySide6.QtCore import Qt

    return Qt.WindowType.FramelessWindowHint


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "screen"


# --- running -----------------------------------------------------------------------------


class DemoServer:
    """The reference server with the simulator, as a child process."""

    def __init__(
        self, data_dir: Path, speed: float, rate: float, seed: int, scenario: str, origin: Any = None
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
    app: Any, args: argparse.Namespace, *, demo: bool, on_ready: Callable[[Any], None] | None = None
) -> int:
    """The wall: one engine session (journal, store, feed, alerts), the bridge
    and alert adapter over it, the windows, the watchdog; until stopped."""
    from commandcenter.config import ConfigError, load_config
    from commandcenter.core.i18n import strings_for

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"config error: {exc}\n")
        return 2
    # The wall's one language (--lang, else display.language): every view
    # takes its texts and number formats from these Strings, via the bridge.
    strings = strings_for(args.lang or config.display.language)
    data_dir = _data_dir(args)
    # Everything set up is torn down in reverse order, also when set-up fails
    # half-way (a journal left open keeps its SQLite thread and the process alive).
    async with contextlib.AsyncExitStack() as stack:
        return await _run(app, args, config, data_dir, stack, demo=demo, on_ready=on_ready, strings=strings)
    raise AssertionError("unreachable")  # pragma: no cover - mypy: the stack does not swallow


async def _run(
    app: Any,
    args: argparse.Namespace,
    config: Any,
    data_dir: Path,
    stack: contextlib.AsyncExitStack[Any],
    *,
    demo: bool,
    on_ready: Callable[[Any], None] | None,
    strings: Any,
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
    if demo:
        server = await loop.run_in_executor(
            None, lambda: DemoServer(data_dir, args.speed, args.rate, args.seed, args.scenario, origin)
        )
        stack.callback(server.stop)
        url, token = server.url, "demo-console"
    watchdog: list[Any] = []
    stack.callback(lambda: [w.stop() for w in watchdog])
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
    controller = WallController(app, bridge, config, alerts=alerts)
    stack.callback(controller.close)
    stack.callback(alerts.shutdown)
    controller.build()
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
    if args.run_for is not None:
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
    if args.screenshot_dir:
        bridge.flush()
        paths = controller.screenshots(Path(args.screenshot_dir))
        sys.stdout.write("screenshots:\n" + "".join(f"  {p}\n" for p in paths))
    return code


def _data_dir(args: argparse.Namespace) -> Path:
    import platformdirs

    from commandcenter.config import APP_NAME

    data_dir = Path(args.data_dir) if args.data_dir else Path(platformdirs.user_data_dir(APP_NAME))
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


def _demo_clock(data_dir: Path, args: argparse.Namespace) -> tuple[Any, Any]:
    """The demo's simulated clock and its origin (None, None at real speed)."""
    if args.speed == 1.0:
        return None, None
    from commandcenter.core.timeutil import WarpClock

    origin = _demo_origin(data_dir, args.speed)
    return WarpClock(origin, args.speed), origin


def _start_watchdog(
    config: Any, args: argparse.Namespace, client: Any, loop: Any, reasons: list[str], stop: asyncio.Event
) -> Any:
    """The GUI-thread watchdog (ui.app.watchdog); a restart it asks for (from its
    own thread) ends the event loop cleanly, and the wall exits with 75."""
    from ui.app.watchdog import start_watchdog

    def restart(reason: str) -> None:
        reasons.append(reason)
        stop.set()

    return start_watchdog(
        config,
        getattr(args, "stats_file", None),
        lambda: str(client.status.state.value),
        lambda reason: loop.call_soon_threadsafe(restart, reason),
    )


async def _operator(args: argparse.Namespace, config: Any, strings: Any) -> str:
    """Who sits at this wall's console: --operator, else asked at start on a
    wall with a console screen (the first configured operator when headless)."""
    from ui.alerts.banner import ask_operator

    operator = getattr(args, "operator", None) or ""
    has_console = any(sc.view == "console" for sc in config.screens)
    if not operator and has_console and not args.headless:
        operator = await ask_operator(config, strings=strings)
    if not operator and has_console:
        operator = config.display.operators[0] if config.display.operators else "operator"
    return str(operator)


def _demo_origin(data_dir: Path, speed: float) -> Any:
    """Origin of the demo's simulated clock, kept in the data dir so a demo run
    again on the same journals continues forward in simulated time instead of
    starting "now" behind incidents it already showed."""
    import datetime as dt

    from commandcenter.core.timeutil import utcnow

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
        tmp = Path(tempfile.mkdtemp(prefix="oki112-screens-"))
        screens_file = str(tmp / "screens.json")
        Path(screens_file).write_text(json.dumps(DEMO_SCREENS))
    args.headless = headless
    prepare_environment(headless, screens_file)
    from ui.app.qtlog import start_wall_logging

    stop_logging = start_wall_logging(args)

    import PySide6.QtWebEngineWidgets  # noqa: F401  - must come before the QApplication
    import qasync
    from PySide6.QtWidgets import QApplication

    from commandcenter.ops.runtime import tune_gc

    tune_gc()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("oki-siaga-112-wall")
    app.setQuitOnLastWindowClosed(False)  # screens may all vanish for a moment
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with loop:
            code = loop.run_until_complete(run_wall(app, args, demo=demo))
        log.info("wall exits with code %s", code)
    finally:
        stop_logging()
    return int(code)


def add_wall_arguments(p: argparse.ArgumentParser, *, demo: bool) -> None:
    p.add_argument("--config", default=None, help="configuration file")
    p.add_argument("--headless", action="store_true", help="no display: Qt's offscreen platform")
    p.add_argument("--screens", default=None, help="offscreen screen layout (JSON) to run on")
    p.add_argument("--run-for", type=float, default=None, help="exit 0 after SECONDS")
    p.add_argument("--screenshot-dir", default=None, help="save one PNG per screen at the end")
    p.add_argument("--data-dir", default=None, help="journal and logs (default: the platform data dir)")
    p.add_argument("--lang", choices=["id", "en"], default=None, help="override display.language")
    p.add_argument("--operator", default=None, help="operator at this console (else asked at start)")
    p.add_argument("--server", default=None, help="server URL (overrides the config)")
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
    # Internal: set by the supervisor on the wall it starts.
    p.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    if demo:
        p.add_argument("--speed", type=float, default=10.0, help="simulated time runs X times faster")
        p.add_argument("--rate", type=float, default=2.0, help="incidents a minute in normal times")
        p.add_argument("--seed", type=int, default=112)
        p.add_argument("--scenario", default="mixed", choices=["normal", "flood", "karhutla", "mixed"])
